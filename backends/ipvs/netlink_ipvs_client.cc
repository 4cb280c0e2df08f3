#include "backends/ipvs/netlink_ipvs_client.h"

#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs {
namespace {

std::string ServerName(const VirtualServerKey& key) { return key.ToString(); }
std::string DestName(const VirtualServer& server, const RealServer& rs) {
  return absl::StrCat(server.key.ToString(), " -> ", rs.key.ToString());
}

}  // namespace

absl::Status ErrnoToStatus(int err, absl::string_view what) {
  const char* name = strerrorname_np(err);
  std::string msg = absl::StrCat(what, ": ", name != nullptr ? name : absl::StrCat("errno ", err));
  switch (err) {
    case EEXIST: return absl::AlreadyExistsError(msg);
    case ENOENT:
    case ESRCH: return absl::NotFoundError(msg);
    case EPERM:
    case EACCES: return absl::PermissionDeniedError(msg);
    case EINVAL: return absl::InvalidArgumentError(msg);
    default: return absl::InternalError(msg);
  }
}

void NetlinkIpvsClient::SocketDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

absl::StatusOr<std::unique_ptr<NetlinkIpvsClient>> NetlinkIpvsClient::Create() {
  SocketPtr sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  if (int rc = genl_connect(sock.get()); rc < 0) {
    return absl::UnavailableError(absl::StrCat("genl_connect: ", nl_geterror(rc)));
  }
  nl_socket_enable_msg_peek(sock.get());
  int family = genl_ctrl_resolve(sock.get(), IPVS_GENL_NAME);
  if (family < 0) {
    return absl::UnavailableError(absl::StrCat("generic netlink family \"", IPVS_GENL_NAME,
                                               "\" not found (is the ip_vs module loaded?): ", nl_geterror(family)));
  }
  return std::unique_ptr<NetlinkIpvsClient>(new NetlinkIpvsClient(std::move(sock), static_cast<uint16_t>(family)));
}

absl::Status NetlinkIpvsClient::RoundTrip(GenlMessage msg, absl::string_view object,
                                          const std::function<absl::Status(absl::Span<const uint8_t>)>& on_reply) {
  const std::string what = absl::StrCat(IpvsCommandName(msg.command()), object.empty() ? "" : " ", object);
  std::vector<uint8_t>& bytes = msg.mutable_bytes();
  nlmsghdr hdr;
  std::memcpy(&hdr, bytes.data(), sizeof(hdr));
  hdr.nlmsg_seq = nl_socket_use_seq(sock_.get());
  hdr.nlmsg_pid = nl_socket_get_local_port(sock_.get());
  std::memcpy(bytes.data(), &hdr, sizeof(hdr));
  if (int rc = nl_sendto(sock_.get(), bytes.data(), bytes.size()); rc < 0) {
    return absl::UnavailableError(absl::StrCat(what, ": send: ", nl_geterror(rc)));
  }
  absl::Status reply_status;
  while (true) {
    sockaddr_nl peer{};
    unsigned char* buf = nullptr;
    int n = nl_recv(sock_.get(), &peer, &buf, nullptr);
    if (n <= 0) {
      free(buf);
      return absl::UnavailableError(absl::StrCat(what, ": receive: ", n < 0 ? nl_geterror(n) : "connection closed"));
    }
    std::unique_ptr<unsigned char, decltype(&free)> owned(buf, &free);
    int len = n;
    // NLMSG_OK, without its signed/unsigned comparison.
    auto message_fits = [](const nlmsghdr* h, int left) {
      return left >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) &&
             h->nlmsg_len <= static_cast<uint32_t>(left);
    };
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); message_fits(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != hdr.nlmsg_seq) continue;  // a stale reply of an earlier request
      if (h->nlmsg_type == NLMSG_DONE) return reply_status;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
          return absl::DataLossError(absl::StrCat(what, ": truncated NLMSG_ERROR"));
        }
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) return reply_status;  // ACK
        return ErrnoToStatus(-err->error, what);
      }
      if (h->nlmsg_type == NLMSG_NOOP || h->nlmsg_type == NLMSG_OVERRUN) continue;
      const size_t payload = h->nlmsg_len - NLMSG_HDRLEN;
      if (payload < GENL_HDRLEN) continue;
      auto* data = static_cast<const uint8_t*>(NLMSG_DATA(h)) + GENL_HDRLEN;
      if (absl::Status s = on_reply(absl::MakeConstSpan(data, payload - GENL_HDRLEN)); !s.ok() && reply_status.ok()) {
        reply_status = s;
      }
    }
  }
}

absl::StatusOr<std::vector<IpvsService>> NetlinkIpvsClient::ListServices() {
  std::vector<IpvsService> services;
  absl::Status st = RoundTrip(BuildGetServicesDump(family_id_), "", [&](absl::Span<const uint8_t> attrs) {
    auto vs = ParseServiceReply(attrs);
    if (absl::IsNotFound(vs.status())) return absl::OkStatus();  // fwmark services are not ours
    if (!vs.ok()) return vs.status();
    IpvsService svc;
    svc.server = *vs;
    services.push_back(std::move(svc));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  for (IpvsService& svc : services) {
    st = RoundTrip(BuildGetDestinationsDump(family_id_, svc.server), ServerName(svc.server.key),
                   [&](absl::Span<const uint8_t> attrs) {
                     auto rs = ParseDestinationReply(attrs);
                     if (!rs.ok()) return rs.status();
                     svc.destinations[rs->key] = *rs;
                     return absl::OkStatus();
                   });
    // The service can vanish between the two dumps (another writer); it then has no destinations.
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  return services;
}

namespace {
absl::Status Ignore(absl::Span<const uint8_t>) { return absl::OkStatus(); }
}  // namespace

absl::Status NetlinkIpvsClient::AddService(const VirtualServer& server) {
  return RoundTrip(BuildServiceMessage(family_id_, IPVS_CMD_NEW_SERVICE, server, true), ServerName(server.key), Ignore);
}
absl::Status NetlinkIpvsClient::EditService(const VirtualServer& server) {
  return RoundTrip(BuildServiceMessage(family_id_, IPVS_CMD_SET_SERVICE, server, true), ServerName(server.key), Ignore);
}
absl::Status NetlinkIpvsClient::DeleteService(const VirtualServerKey& key) {
  VirtualServer server;
  server.key = key;
  return RoundTrip(BuildServiceMessage(family_id_, IPVS_CMD_DEL_SERVICE, server, false), ServerName(key), Ignore);
}
absl::Status NetlinkIpvsClient::AddDestination(const VirtualServer& server, const RealServer& destination) {
  return RoundTrip(BuildDestinationMessage(family_id_, IPVS_CMD_NEW_DEST, server, destination, true),
                   DestName(server, destination), Ignore);
}
absl::Status NetlinkIpvsClient::EditDestination(const VirtualServer& server, const RealServer& destination) {
  return RoundTrip(BuildDestinationMessage(family_id_, IPVS_CMD_SET_DEST, server, destination, true),
                   DestName(server, destination), Ignore);
}
absl::Status NetlinkIpvsClient::SetTimeouts(const proxier::ipvs::IpvsTimeouts& timeouts) {
  return RoundTrip(BuildSetTimeoutsMessage(family_id_, timeouts), "timeouts", Ignore);
}
absl::StatusOr<proxier::ipvs::IpvsTimeouts> NetlinkIpvsClient::GetTimeouts() {
  absl::StatusOr<proxier::ipvs::IpvsTimeouts> result = absl::DataLossError("IPVS_CMD_GET_CONFIG: no reply");
  absl::Status s = RoundTrip(BuildGetConfigMessage(family_id_), "", [&](absl::Span<const uint8_t> attributes) {
    result = ParseConfigReply(attributes);
    return result.status();
  });
  if (!s.ok()) return s;
  return result;
}
std::vector<absl::Status> NetlinkIpvsClient::WriteBatch(absl::Span<const proxier::ipvs::IpvsOperation> writes) {
  std::vector<absl::Status> statuses(writes.size());
  const uint32_t port = nl_socket_get_local_port(sock_.get());
  for (size_t start = 0; start < writes.size(); start += kWritesPerRoundTrip) {
    const size_t count = std::min(kWritesPerRoundTrip, writes.size() - start);
    std::vector<GenlMessage> messages;
    std::vector<size_t> sent;  // index into `writes` of each message
    messages.reserve(count);
    for (size_t i = start; i < start + count; ++i) {
      absl::StatusOr<GenlMessage> message = BuildWriteMessage(family_id_, writes[i]);
      if (!message.ok()) {
        statuses[i] = message.status();
        continue;
      }
      messages.push_back(*std::move(message));
      sent.push_back(i);
    }
    if (messages.empty()) continue;
    // Sequence numbers first_sequence .. first_sequence + n - 1, taken from libnl's counter so
    // single requests on this socket never reuse them.
    const uint32_t first_sequence = nl_socket_use_seq(sock_.get());
    for (size_t k = 1; k < messages.size(); ++k) nl_socket_use_seq(sock_.get());
    const std::vector<uint8_t> buffer = ConcatenateRequests(messages, first_sequence, port);
    // Named as the single-write methods name their errors: "IPVS_CMD_NEW_DEST <vip> -> <real server>".
    auto what = [&](size_t k) {
      const proxier::ipvs::IpvsOperation& write = writes[sent[k]];
      const bool destination = write.kind == proxier::ipvs::IpvsOperation::Kind::kAddDestination ||
                               write.kind == proxier::ipvs::IpvsOperation::Kind::kEditDestination ||
                               write.kind == proxier::ipvs::IpvsOperation::Kind::kDeleteDestination;
      return absl::StrCat(IpvsCommandName(messages[k].command()), " ",
                          destination ? DestName(write.server, write.destination) : ServerName(write.server.key));
    };
    auto fail_unanswered = [&](const std::vector<bool>& answered, const absl::Status& cause) {
      for (size_t k = 0; k < sent.size(); ++k) {
        if (!answered[k]) statuses[sent[k]] = absl::Status(cause.code(), absl::StrCat(what(k), ": ", cause.message()));
      }
    };
    std::vector<bool> answered(sent.size(), false);
    if (int rc = nl_sendto(sock_.get(), const_cast<uint8_t*>(buffer.data()), buffer.size()); rc < 0) {
      fail_unanswered(answered, absl::UnavailableError(absl::StrCat("send: ", nl_geterror(rc))));
      continue;
    }
    size_t pending = sent.size();
    while (pending > 0) {
      sockaddr_nl peer{};
      unsigned char* raw = nullptr;
      int n = nl_recv(sock_.get(), &peer, &raw, nullptr);
      if (n <= 0) {
        free(raw);
        fail_unanswered(answered, absl::UnavailableError(
                                      absl::StrCat("receive: ", n < 0 ? nl_geterror(n) : "connection closed")));
        break;
      }
      std::unique_ptr<unsigned char, decltype(&free)> owned(raw, &free);
      int left = n;
      for (auto* h = reinterpret_cast<nlmsghdr*>(raw);
           left >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) &&
           h->nlmsg_len <= static_cast<uint32_t>(left);
           h = NLMSG_NEXT(h, left)) {
        const uint32_t k = h->nlmsg_seq - first_sequence;  // wraps for foreign sequences
        if (h->nlmsg_type != NLMSG_ERROR || k >= sent.size() || answered[k]) continue;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) continue;
        const int error = static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        statuses[sent[k]] = error == 0 ? absl::OkStatus() : ErrnoToStatus(-error, what(k));
        answered[k] = true;
        --pending;
      }
    }
  }
  return statuses;
}

absl::Status NetlinkIpvsClient::DeleteDestination(const VirtualServer& server, const RealServer& destination) {
  return RoundTrip(BuildDestinationMessage(family_id_, IPVS_CMD_DEL_DEST, server, destination, false),
                   DestName(server, destination), Ignore);
}

}  // namespace kproxy::backends::ipvs
