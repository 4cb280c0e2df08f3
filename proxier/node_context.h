// NodeContext: what planners need to know about the node they program, for one IP family.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proxier/ip_address.h"

namespace kproxy::proxier {

struct NodeContext {
  std::string node_name;
  IpFamily family = IpFamily::kIPv4;
  // The node's own addresses of this family (Node status InternalIP/ExternalIP, or --bind-address);
  // the first is the primary one.
  std::vector<IpAddress> node_ips;
  // Label topology.kubernetes.io/zone of the Node, empty if unknown.
  std::string zone;
  absl::flat_hash_map<std::string, std::string> labels;
  std::vector<Cidr> pod_cidrs;  // spec.podCIDRs of this family (detectLocalMode: NodeCIDR)
  // The addresses of this family on the node's interfaces, read again at each sync (they come and
  // go); --nodeport-addresses selects the NodePort addresses among them. Not part of the node's
  // identity: only what is selected from them matters to a plan.
  std::vector<IpAddress> local_addresses;
};

}  // namespace kproxy::proxier
