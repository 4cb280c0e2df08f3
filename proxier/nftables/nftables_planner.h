// PlanNftables: turns a ProxySnapshot and the node's context into the desired `kube-proxy` table of
// one family, shaped so that endpoint churn changes only data elements (see the .cc). Pure.
#pragma once

#include <string>
#include <vector>

#include "proxier/local_traffic_detector.h"
#include "proxier/nftables/nft_ruleset.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier::nftables {

struct NftablesPlannerOptions {
  int masquerade_bit = 14;      // nftables.masqueradeBit
  bool masquerade_all = false;  // nftables.masqueradeAll
  // NodePorts are on `node_port_addresses` when it is not empty: the node's addresses that
  // --nodeport-addresses selected at this sync (upstream's nftables default is `primary`). When it
  // is empty, on every local address (`fib daddr type local`) if `node_ports_on_all_addresses`
  // (the flag restricts nothing in this family), else on no address at all (it selected none). Loopback addresses are left out either way: nftables
  // mode has no localhost NodePorts.
  bool node_ports_on_all_addresses = true;
  std::vector<IpAddress> node_port_addresses;
  LocalDetectMode local_detect_mode = LocalDetectMode::kNone;
  std::vector<Cidr> cluster_cidrs;    // kClusterCidr: the first one of this family is used
  std::string bridge_interface;       // kBridgeInterface
  std::string interface_name_prefix;  // kInterfaceNamePrefix
  // ServiceCIDRs (networking.k8s.io/v1) of this family: traffic to an address in them that no
  // Service holds is dropped. Taken as a plain list until the API model decodes ServiceCIDRs.
  std::vector<Cidr> service_cidrs;
};

// The complete desired table for `snapshot.family` (chains and sets sorted by name).
NftRuleset PlanNftables(const ProxySnapshot& snapshot, const NodeContext& node,
                        const NftablesPlannerOptions& options);

// "<HASH>-<namespace>/<name>/<protocol>/<port name>": the part of every chain, map and set name a
// ServicePort owns (upstream's servicePortChainNameBase), e.g. "ULMVA6XW-ns1/svc1/tcp/p80".
std::string ServicePortNameBase(const ServicePortName& name);

}  // namespace kproxy::proxier::nftables
