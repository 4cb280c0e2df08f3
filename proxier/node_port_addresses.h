// NodePortAddresses: --nodeport-addresses for one IP family (upstream's
// pkg/proxy/util.NodePortAddresses), and which of the node's current addresses it selects. Every
// mode resolves it again at each sync, since addresses come and go.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proxier/ip_address.h"

namespace kproxy::proxier {

// The flag's special value: the node's primary IP of each family.
inline constexpr char kNodePortAddressesPrimary[] = "primary";

class NodePortAddresses {
 public:
  // Every address of `family` (the flag unset).
  explicit NodePortAddresses(IpFamily family = IpFamily::kIPv4) : family_(family) {}

  // `values` as the flag and config take them: CIDRs of either family, or the single word
  // "primary", which stands for `node_ips[0]` (the node's primary IP of this family) and, as
  // upstream, for every address when there is none or it is a loopback one. CIDRs of the other
  // family are ignored; no CIDR of this family, or a /0, selects every address. Fails as Validate.
  static absl::StatusOr<NodePortAddresses> Create(IpFamily family, const std::vector<std::string>& values,
                                                  absl::Span<const IpAddress> node_ips);
  // Fails, naming the entry, on one that is neither a CIDR nor the lone "primary".
  static absl::Status Validate(const std::vector<std::string>& values);

  IpFamily family() const { return family_; }
  // Every local address of the family takes NodePort connections (no restricting CIDR).
  bool MatchAll() const { return cidrs_.empty(); }
  // Some CIDR covers 127.0.0.0 (or every IPv4 address is selected): localhost NodePorts, and so
  // route_localnet, are wanted.
  bool ContainsIPv4Loopback() const;
  // The addresses of `local_addresses` that take NodePort connections: those of the family inside
  // a CIDR (every one of the family when MatchAll()), sorted and unique. Empty when nothing
  // matches: then NodePorts of this family are reachable on no address.
  std::vector<IpAddress> Select(absl::Span<const IpAddress> local_addresses) const;
  // The restricting CIDRs of the family; empty when MatchAll().
  const std::vector<Cidr>& cidrs() const { return cidrs_; }
  // "[10.99.0.0/24]", or "[0.0.0.0/0]" when MatchAll(), as upstream logs it.
  std::string ToString() const;
  // The log line for a new selection `selected` (from Select): which addresses take NodePorts, or,
  // when none does, that NodePorts of the family are reachable nowhere (a warning).
  std::string DescribeSelection(absl::Span<const IpAddress> selected) const;

  friend bool operator==(const NodePortAddresses&, const NodePortAddresses&) = default;

 private:
  IpFamily family_;
  std::vector<Cidr> cidrs_;
};

}  // namespace kproxy::proxier
