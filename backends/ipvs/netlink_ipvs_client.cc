#include "backends/ipvs/netlink_ipvs_client.h"

#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

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
absl::Status NetlinkIpvsClient::DeleteDestination(const VirtualServer& server, const RealServer& destination) {
  return RoundTrip(BuildDestinationMessage(family_id_, IPVS_CMD_DEL_DEST, server, destination, false),
                   DestName(server, destination), Ignore);
}

}  // namespace kproxy::backends::ipvs
