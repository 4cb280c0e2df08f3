// NetlinkLinkManager: the real LinkManager over rtnetlink (libnl-route-3) in the calling thread's
// network namespace.
#pragma once

#include <functional>
#include <memory>

#include "backends/ipvs/link_manager.h"

struct nl_sock;

namespace kproxy::backends::ipvs {

class NetlinkLinkManager final : public LinkManager {
 public:
  static absl::StatusOr<std::unique_ptr<NetlinkLinkManager>> Create();

  absl::Status EnsureDummyLink(absl::string_view name) override;
  absl::StatusOr<absl::btree_set<proxier::IpAddress>> ListAddresses(absl::string_view name,
                                                                     proxier::IpFamily family) override;
  absl::StatusOr<absl::btree_set<proxier::IpAddress>> ListLocalAddresses(absl::string_view except_link,
                                                                          proxier::IpFamily family) override;
  absl::Status AddAddress(absl::string_view name, const proxier::IpAddress& ip) override;
  absl::Status DeleteAddress(absl::string_view name, const proxier::IpAddress& ip) override;
  absl::Status DeleteLink(absl::string_view name) override;

 private:
  struct SocketDeleter {
    void operator()(nl_sock* sock) const;
  };
  using SocketPtr = std::unique_ptr<nl_sock, SocketDeleter>;
  explicit NetlinkLinkManager(SocketPtr sock) : sock_(std::move(sock)) {}
  absl::StatusOr<int> IfIndex(absl::string_view name);
  // Addresses of the family on the links `keep` accepts (by ifindex).
  absl::StatusOr<absl::btree_set<proxier::IpAddress>> DumpAddresses(proxier::IpFamily family,
                                                                    const std::function<bool(int)>& keep);
  absl::Status ChangeAddress(absl::string_view name, const proxier::IpAddress& ip, bool add);

  SocketPtr sock_;
};

}  // namespace kproxy::backends::ipvs
