// NetlinkConntrackClient: the real ConntrackClient, talking ctnetlink over one libmnl socket in the
// calling process's network namespace.
#pragma once

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "backends/conntrack/conntrack_client.h"

struct mnl_socket;

namespace kproxy::backends::conntrack {

class NetlinkConntrackClient final : public ConntrackClient {
 public:
  // Opens and binds the NETLINK_NETFILTER socket; fails without CAP_NET_ADMIN only at first use.
  static absl::StatusOr<std::unique_ptr<NetlinkConntrackClient>> Create(proxier::IpFamily family);

  proxier::IpFamily family() const override { return family_; }
  absl::StatusOr<std::vector<ConntrackEntry>> List(proxier::Protocol protocol) override;
  absl::StatusOr<size_t> Delete(const std::vector<ConntrackEntry>& entries) override;

 private:
  struct SocketCloser {
    void operator()(mnl_socket* s) const;
  };
  NetlinkConntrackClient(proxier::IpFamily family, std::unique_ptr<mnl_socket, SocketCloser> socket,
                         unsigned int port_id)
      : family_(family), socket_(std::move(socket)), port_id_(port_id) {}

  const proxier::IpFamily family_;
  absl::Mutex mu_;
  std::unique_ptr<mnl_socket, SocketCloser> socket_ ABSL_GUARDED_BY(mu_);
  const unsigned int port_id_;
  uint32_t seq_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace kproxy::backends::conntrack
