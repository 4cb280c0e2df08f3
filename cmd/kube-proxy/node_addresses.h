// Node addressing for the daemon: the NodeContext of each IP family built from the Node object and
// --bind-address, the primary IP family, and the host's interface addresses.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proxier/api_types.h"
#include "proxier/ip_address.h"
#include "proxier/node_context.h"

namespace kproxy::daemon {

inline constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";

// The NodeContext of `family`: the node's InternalIPs then ExternalIPs of that family (with
// --bind-address first when it is of that family and not 0.0.0.0/::), the zone label, labels and
// podCIDRs of that family. `node` may be null (not found yet).
proxier::NodeContext BuildNodeContext(const std::string& node_name, proxier::IpFamily family,
                                      const proxier::Node* node,
                                      const std::optional<proxier::IpAddress>& bind_address);

// The primary family, as upstream decides it: --bind-address when set (not unspecified), else the
// family of the Node's first InternalIP (first address otherwise), else IPv4.
proxier::IpFamily PrimaryFamily(const proxier::Node* node, const std::optional<proxier::IpAddress>& bind_address);

// Whether the planners' view of the node changed (addresses, zone, labels, podCIDRs): such a
// change forces a full sync.
bool NodeContextChanged(const proxier::NodeContext& a, const proxier::NodeContext& b);

// IPVS mode's NodePort addresses for one family, as upstream's IPVS proxier picks them:
// `local_addresses` are the node's addresses not on kube-ipvs0. When --nodeport-addresses matches
// everything of this family (see proxier::NodePortAddresses): every local address but loopback and
// IPv6 link-local. Else the local addresses it selects, loopback left out (IPVS cannot serve it);
// none selected: no NodePort virtual server of this family.
absl::StatusOr<std::vector<proxier::IpAddress>> IpvsNodePortAddresses(
    const std::vector<std::string>& node_port_addresses, const proxier::NodeContext& node,
    const std::vector<proxier::IpAddress>& local_addresses);

// The addresses configured on this host's interfaces, every family (getifaddrs).
absl::StatusOr<std::vector<proxier::IpAddress>> LocalInterfaceAddresses();

// The host name as upstream's node name default: lower-cased, trimmed.
std::string DefaultNodeName();

}  // namespace kproxy::daemon
