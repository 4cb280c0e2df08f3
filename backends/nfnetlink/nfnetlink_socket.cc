#include "backends/nfnetlink/nfnetlink_socket.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kproxy::backends::nfnetlink {
namespace {

// The kernel's extended-ACK message of an NLMSG_ERROR, if any.
std::string ExtendedAckMessage(const nlmsghdr* header) {
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
  // With NETLINK_CAP_ACK the kernel echoes only the request's header.
  size_t offset = sizeof(nlmsghdr) + sizeof(nlmsgerr);
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += error->msg.nlmsg_len - sizeof(nlmsghdr);
  std::string message;
  const char* base = reinterpret_cast<const char*>(header);
  while (offset + sizeof(nlattr) <= header->nlmsg_len) {
    const auto* attribute = reinterpret_cast<const nlattr*>(base + offset);
    if (attribute->nla_len < sizeof(nlattr) || offset + attribute->nla_len > header->nlmsg_len)
      break;
    if ((attribute->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      message.assign(reinterpret_cast<const char*>(attribute + 1),
                     attribute->nla_len - sizeof(nlattr));
      while (!message.empty() && message.back() == '\0') message.pop_back();
    }
    offset += NLA_ALIGN(attribute->nla_len);
  }
  return message;
}

}  // namespace

std::string ErrnoText(int error) {
  const char* name = strerrorname_np(error);
  return absl::StrCat(strerror(error), " (", name ? name : absl::StrCat("errno ", error), ")");
}

void AppendMessage(std::string& out, uint16_t type, uint8_t nf_family, uint16_t flags,
                   uint32_t sequence, const std::function<void(nlmsghdr*)>& fill,
                   size_t max_bytes) {
  const size_t at = out.size();
  out.resize(at + max_bytes);
  nlmsghdr* header = nftnl_nlmsg_build_hdr(&out[at], type, nf_family, flags, sequence);
  fill(header);
  out.resize(at + NLMSG_ALIGN(header->nlmsg_len));
}

void NfnetlinkSocket::SocketCloser::operator()(mnl_socket* socket) const {
  mnl_socket_close(socket);
}

NfnetlinkSocket::NfnetlinkSocket(std::unique_ptr<mnl_socket, SocketCloser> socket,
                                 uint32_t first_sequence)
    : socket_(std::move(socket)), next_sequence_(first_sequence) {}

NfnetlinkSocket::~NfnetlinkSocket() = default;

absl::StatusOr<std::unique_ptr<NfnetlinkSocket>> NfnetlinkSocket::Open() {
  std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!socket) {
    return absl::UnavailableError(
        absl::StrCat("nf_tables: socket(NETLINK_NETFILTER): ", ErrnoText(errno)));
  }
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: bind: ", ErrnoText(errno)));
  }
  int on = 1;
  // Best effort: the kernel's own words in errors, and ACKs without the echoed request.
  mnl_socket_setsockopt(socket.get(), NETLINK_EXT_ACK, &on, sizeof(on));
  mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &on, sizeof(on));
  // A wedged kernel answer must not hang the sync loop forever.
  timeval timeout{.tv_sec = 60, .tv_usec = 0};
  setsockopt(mnl_socket_get_fd(socket.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return std::unique_ptr<NfnetlinkSocket>(
      new NfnetlinkSocket(std::move(socket), static_cast<uint32_t>(time(nullptr))));
}

uint32_t NfnetlinkSocket::TakeSequences(uint32_t count) {
  const uint32_t first = next_sequence_;
  next_sequence_ += count;
  return first;
}

absl::Status NfnetlinkSocket::EnsureSendBuffer(size_t bytes) {
  // netlink refuses a message larger than the send buffer; root may raise it past rmem_max.
  if (bytes + 65536 <= send_buffer_bytes_) return absl::OkStatus();
  const int size = static_cast<int>(std::min<size_t>(bytes + 65536, 1u << 30));
  const int fd = mnl_socket_get_fd(socket_.get());
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: SO_SNDBUF ", size, ": ", ErrnoText(errno)));
  }
  send_buffer_bytes_ = static_cast<size_t>(size);
  return absl::OkStatus();
}

absl::Status NfnetlinkSocket::RoundTrip(absl::string_view request, uint32_t sequence,
                                        int& errno_out,
                                        const std::function<void(const nlmsghdr*)>& on_reply) {
  errno_out = 0;
  if (mnl_socket_sendto(socket_.get(), request.data(), request.size()) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: send: ", ErrnoText(errno)));
  }
  std::string buffer(32768, '\0');  // dump replies come in up to 32 KiB skbs
  while (true) {
    ssize_t received = mnl_socket_recvfrom(socket_.get(), buffer.data(), buffer.size());
    if (received < 0)
      return absl::InternalError(absl::StrCat("nf_tables: receive: ", ErrnoText(errno)));
    int remaining = static_cast<int>(received);
    for (auto* header = reinterpret_cast<nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(header, remaining);
         header = mnl_nlmsg_next(header, &remaining)) {
      if (header->nlmsg_seq != sequence) continue;  // late answers of an earlier request
      if (header->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
        errno_out = -error->error;
        return absl::OkStatus();
      }
      if (header->nlmsg_type == NLMSG_DONE) return absl::OkStatus();
      if (on_reply) on_reply(header);
    }
  }
}

absl::StatusOr<BatchAnswer> NfnetlinkSocket::SendBatch(absl::Span<const std::string> blocks,
                                                       uint32_t begin_sequence,
                                                       uint32_t end_sequence, size_t messages) {
  size_t batch_bytes = 0;
  for (const std::string& block : blocks) batch_bytes += block.size();
  if (absl::Status status = EnsureSendBuffer(batch_bytes); !status.ok()) return status;
  // Room for every ACK (an skb each) plus the fence's answer.
  const size_t receive_bytes = std::max<size_t>(messages * 1024 + 262144, 262144);
  if (receive_bytes > receive_buffer_bytes_) {
    const int size = static_cast<int>(std::min<size_t>(receive_bytes, 1u << 30));
    if (setsockopt(mnl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_RCVBUFFORCE, &size,
                   sizeof(size)) == 0) {
      receive_buffer_bytes_ = receive_bytes;
    }
  }
  // One sendmsg: nfnetlink only commits a transaction whose BEGIN and END arrive in one message.
  std::vector<iovec> vectors;
  vectors.reserve(blocks.size());
  for (const std::string& block : blocks) {
    vectors.push_back({const_cast<char*>(block.data()), block.size()});
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr message{};
  message.msg_name = &kernel;
  message.msg_namelen = sizeof(kernel);
  message.msg_iov = vectors.data();
  message.msg_iovlen = vectors.size();
  if (sendmsg(mnl_socket_get_fd(socket_.get()), &message, 0) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: send batch of ", messages, " messages (",
                                            batch_bytes, " bytes): ", ErrnoText(errno)));
  }
  // The batch was processed inside sendmsg; every answer to it is queued before the fence's.
  const uint32_t fence_sequence = end_sequence + 1;
  std::string fence;
  AppendMessage(fence, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, fence_sequence, [](nlmsghdr*) {});
  if (mnl_socket_sendto(socket_.get(), fence.data(), fence.size()) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: send: ", ErrnoText(errno)));
  }
  BatchAnswer answer;
  std::string buffer(MNL_SOCKET_BUFFER_SIZE, '\0');
  bool fenced = false;
  while (!fenced) {
    ssize_t received = mnl_socket_recvfrom(socket_.get(), buffer.data(), buffer.size());
    if (received < 0) {
      return absl::InternalError(absl::StrCat("nf_tables: receiving the answers to a batch of ",
                                              messages, " messages: ", ErrnoText(errno),
                                              "; outcome unknown"));
    }
    int remaining = static_cast<int>(received);
    for (auto* header = reinterpret_cast<nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(header, remaining);
         header = mnl_nlmsg_next(header, &remaining)) {
      const uint32_t sequence = header->nlmsg_seq;
      if (sequence == fence_sequence) {
        if (header->nlmsg_type == NLMSG_ERROR) fenced = true;
        continue;
      }
      if (header->nlmsg_type != NLMSG_ERROR || sequence < begin_sequence ||
          sequence > end_sequence) {
        continue;
      }
      const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
      if (error->error == 0) {
        ++answer.acknowledged;
        continue;
      }
      if (answer.first_error) continue;  // later errors are mostly consequences of the first
      answer.first_error = BatchError{sequence, -error->error, ExtendedAckMessage(header)};
    }
  }
  return answer;
}

}  // namespace kproxy::backends::nfnetlink
