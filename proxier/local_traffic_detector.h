// LocalTrafficDetector: --detect-local-mode as the iptables match arguments that tell traffic from
// this node's pods apart (upstream's pkg/proxy/util/iptables LocalTrafficDetector), shared by the
// iptables and IPVS planners so both modes masquerade the same traffic.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proxier/ip_address.h"
#include "proxier/node_context.h"

namespace kproxy::proxier {

// --detect-local-mode: how "traffic from a local pod" is recognised.
enum class LocalDetectMode { kNone, kClusterCidr, kNodeCidr, kBridgeInterface, kInterfaceNamePrefix };

struct LocalTrafficDetector {
  bool implemented = false;  // false: no way to tell, callers fall back (upstream's NoOp detector)
  std::string if_local;      // e.g. "-s 10.0.0.0/8"
  std::string if_not_local;  // e.g. "! -s 10.0.0.0/8"
};

// The detector of `family`: kClusterCidr uses the first of `cluster_cidrs` of the family,
// kNodeCidr the node's first podCIDR of the family, the interface modes their name (prefix + "+").
// Not implemented when the mode has nothing to match on. Pure.
LocalTrafficDetector MakeLocalTrafficDetector(LocalDetectMode mode, IpFamily family,
                                              const std::vector<Cidr>& cluster_cidrs,
                                              absl::string_view bridge_interface,
                                              absl::string_view interface_name_prefix, const NodeContext& node);

}  // namespace kproxy::proxier
