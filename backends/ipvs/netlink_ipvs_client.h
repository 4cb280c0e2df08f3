// NetlinkIpvsClient: the real IpvsClient, speaking generic netlink ("IPVS" family) to the kernel
// of the calling thread's network namespace through libnl-genl-3.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "backends/ipvs/ipvs_client.h"
#include "backends/ipvs/ipvs_messages.h"

struct nl_sock;

namespace kproxy::backends::ipvs {

class NetlinkIpvsClient final : public IpvsClient {
 public:
  // Connects and resolves the "IPVS" family once; Unavailable when the kernel has no IPVS
  // (module ip_vs not loaded).
  static absl::StatusOr<std::unique_ptr<NetlinkIpvsClient>> Create();

  absl::StatusOr<std::vector<IpvsService>> ListServices() override;
  absl::Status AddService(const VirtualServer& server) override;
  absl::Status EditService(const VirtualServer& server) override;
  absl::Status DeleteService(const VirtualServerKey& key) override;
  absl::Status AddDestination(const VirtualServer& server, const RealServer& destination) override;
  absl::Status EditDestination(const VirtualServer& server, const RealServer& destination) override;
  absl::Status DeleteDestination(const VirtualServer& server, const RealServer& destination) override;
  absl::Status SetTimeouts(const proxier::ipvs::IpvsTimeouts& timeouts) override;
  absl::StatusOr<proxier::ipvs::IpvsTimeouts> GetTimeouts() override;
  // Up to kWritesPerRoundTrip requests per send, then their acknowledgements.
  std::vector<absl::Status> WriteBatch(absl::Span<const proxier::ipvs::IpvsOperation> writes) override;

  // Small enough that a round's acknowledgements fit the default socket receive buffer (208 KiB:
  // each acknowledgement is its own socket buffer of about 1.3 KiB of accounted memory; 256 of
  // them overflowed it in the VM, ENOBUFS), large enough that round trips stop mattering.
  static constexpr size_t kWritesPerRoundTrip = 64;

 private:
  struct SocketDeleter {
    void operator()(nl_sock* sock) const;
  };
  using SocketPtr = std::unique_ptr<nl_sock, SocketDeleter>;

  NetlinkIpvsClient(SocketPtr sock, uint16_t family_id) : sock_(std::move(sock)), family_id_(family_id) {}

  // Sends `msg` and reads until the ACK (or NLMSG_DONE for dumps), handing each reply's genl
  // attributes to `on_reply`. A kernel error becomes a Status "<command> <object>: <ERRNO>".
  absl::Status RoundTrip(GenlMessage msg, absl::string_view object,
                         const std::function<absl::Status(absl::Span<const uint8_t>)>& on_reply);

  SocketPtr sock_;
  const uint16_t family_id_;
};

// Maps an errno from the kernel to a Status whose message is "<what>: <ERRNO NAME>".
absl::Status ErrnoToStatus(int err, absl::string_view what);

}  // namespace kproxy::backends::ipvs
