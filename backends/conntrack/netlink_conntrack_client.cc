#include "backends/conntrack/netlink_conntrack_client.h"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/conntrack/conntrack_messages.h"
#include "logging/log.h"

namespace kproxy::backends::conntrack {
namespace {

constexpr size_t kReceiveBufferSize = 64 * 1024;

absl::Status Errno(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

std::string Describe(const ConntrackEntry& e) {
  return absl::StrCat(proxier::ProtocolName(e.protocol), " ", e.orig_source.JoinPort(e.orig_source_port), " -> ",
                      e.orig_destination.JoinPort(e.orig_destination_port));
}

struct DumpState {
  proxier::Protocol protocol;
  proxier::IpFamily family;
  std::vector<ConntrackEntry>* out;
};

}  // namespace

void NetlinkConntrackClient::SocketCloser::operator()(mnl_socket* s) const {
  if (s != nullptr) mnl_socket_close(s);
}

absl::StatusOr<std::unique_ptr<NetlinkConntrackClient>> NetlinkConntrackClient::Create(proxier::IpFamily family) {
  std::unique_ptr<mnl_socket, SocketCloser> sock(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!sock) return Errno("conntrack: open NETLINK_NETFILTER socket", errno);
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) return Errno("conntrack: bind netlink socket", errno);
  unsigned int port_id = mnl_socket_get_portid(sock.get());
  return std::unique_ptr<NetlinkConntrackClient>(new NetlinkConntrackClient(family, std::move(sock), port_id));
}

absl::StatusOr<std::vector<ConntrackEntry>> NetlinkConntrackClient::List(proxier::Protocol protocol) {
  absl::MutexLock lock(&mu_);
  const uint32_t seq = seq_++;
  std::vector<uint8_t> req = BuildDumpRequest(family_, seq);
  if (mnl_socket_sendto(socket_.get(), req.data(), req.size()) < 0) return Errno("conntrack dump: send", errno);
  std::vector<ConntrackEntry> entries;
  DumpState state{protocol, family_, &entries};
  std::vector<char> buf(kReceiveBufferSize);
  while (true) {
    ssize_t n = mnl_socket_recvfrom(socket_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(absl::StrCat("conntrack dump (", proxier::IpFamilyName(family_), "): receive"), errno);
    }
    int rc = mnl_cb_run(
        buf.data(), static_cast<size_t>(n), seq, port_id_,
        [](const nlmsghdr* nlh, void* data) -> int {
          auto* st = static_cast<DumpState*>(data);
          absl::StatusOr<ConntrackEntry> e = ParseEntryMessage(nlh);
          // The kernel filters the dump by nfgen_family; the family check guards older kernels.
          if (e.ok() && e->protocol == st->protocol && e->orig_source.family() == st->family) {
            st->out->push_back(*std::move(e));
          }
          return MNL_CB_OK;
        },
        &state);
    if (rc == MNL_CB_STOP) break;
    if (rc < 0) {
      if (errno == EINTR) {
        // NLM_F_DUMP_INTR: the table changed under the dump. What was read is still useful; the next
        // sync's cleanup catches the rest (upstream does the same).
        KLOG_V(2) << "conntrack dump interrupted; using " << entries.size() << " entries read";
        // Drain the remainder of the dump so the socket is clean for the next request.
        while (true) {
          ssize_t m = mnl_socket_recvfrom(socket_.get(), buf.data(), buf.size());
          if (m <= 0) break;
          int r2 = mnl_cb_run(buf.data(), static_cast<size_t>(m), seq, port_id_, nullptr, nullptr);
          if (r2 == MNL_CB_STOP || (r2 < 0 && errno != EINTR)) break;
        }
        break;
      }
      // nfnetlink answers EINVAL for a subsystem nobody registered: nf_conntrack_netlink is not
      // loaded (it autoloads on most nodes, not in a minimal VM or a locked-down host).
      const std::string hint = errno == EINVAL ? " (is the nf_conntrack_netlink module loaded?)" : "";
      return Errno(absl::StrCat("conntrack dump (", proxier::IpFamilyName(family_), ")", hint), errno);
    }
  }
  return entries;
}

absl::StatusOr<size_t> NetlinkConntrackClient::Delete(const std::vector<ConntrackEntry>& entries) {
  absl::MutexLock lock(&mu_);
  size_t deleted = 0;
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  for (const ConntrackEntry& e : entries) {
    const uint32_t seq = seq_++;
    std::vector<uint8_t> req = BuildDeleteRequest(e, seq);
    if (mnl_socket_sendto(socket_.get(), req.data(), req.size()) < 0) {
      return Errno(absl::StrCat("conntrack delete ", Describe(e), ": send"), errno);
    }
    ssize_t n;
    do {
      n = mnl_socket_recvfrom(socket_.get(), buf.data(), buf.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Errno(absl::StrCat("conntrack delete ", Describe(e), ": receive"), errno);
    int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, port_id_, nullptr, nullptr);
    if (rc < 0) {
      if (errno == ENOENT) continue;  // already gone (expired, or deleted by someone else)
      return Errno(absl::StrCat("IPCTNL_MSG_CT_DELETE ", Describe(e)), errno);
    }
    ++deleted;
  }
  return deleted;
}

}  // namespace kproxy::backends::conntrack
