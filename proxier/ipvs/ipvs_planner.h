// PlanIpvs: the pure IPVS-mode planner — turns a snapshot into the virtual servers, kube-ipvs0
// addresses, ipsets and companion iptables rules one IP family should have.
#pragma once

#include <string>
#include <vector>

#include "proxier/ip_address.h"
#include "proxier/ipvs/ipvs_state.h"
#include "proxier/local_traffic_detector.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier::ipvs {

inline constexpr char kDummyDevice[] = "kube-ipvs0";

struct IpvsPlannerConfig {
  std::string scheduler = "rr";  // --ipvs-scheduler; empty means rr
  bool masquerade_all = false;   // --masquerade-all
  int masquerade_bit = 14;       // --iptables-masquerade-bit
  // --detect-local-mode and what it matches on, as in iptables mode: traffic to a ClusterIP that
  // the detector does not call local is masqueraded. Not implemented (e.g. ClusterCIDR without a
  // --cluster-cidr of the family): upstream's fallback (masquerade node-originated traffic whose
  // source is a VIP).
  LocalDetectMode local_detect_mode = LocalDetectMode::kClusterCidr;
  std::vector<Cidr> cluster_cidrs;  // --cluster-cidr, either family; the first of the planned family is used
  std::string bridge_interface;       // kBridgeInterface
  std::string interface_name_prefix;  // kInterfaceNamePrefix
  // The iptables binary supports MASQUERADE --random-fully (decided as for iptables mode).
  bool masquerade_random_fully = false;
};

// The node's own addresses as read from its interfaces at this sync (upstream reads them on every
// sync, since they change).
struct IpvsHostAddresses {
  // Where NodePort virtual servers go: every local address not on kube-ipvs0, filtered by
  // --nodeport-addresses. Loopback addresses are skipped. Empty: no NodePort virtual server.
  std::vector<IpAddress> node_port_addresses;
  // Every local address not on kube-ipvs0: an external IP or LB VIP that is one of them is not
  // bound to kube-ipvs0 (the node already has it).
  std::vector<IpAddress> local_addresses;
};

// Upstream's ipset names; the IPv6 variants are "KUBE-6-" + the name without "KUBE-".
inline constexpr char kLoopBackSet[] = "KUBE-LOOP-BACK";
inline constexpr char kClusterIpSet[] = "KUBE-CLUSTER-IP";
inline constexpr char kExternalIpSet[] = "KUBE-EXTERNAL-IP";
inline constexpr char kExternalIpLocalSet[] = "KUBE-EXTERNAL-IP-LOCAL";
inline constexpr char kLoadBalancerSet[] = "KUBE-LOAD-BALANCER";
inline constexpr char kLoadBalancerFwSet[] = "KUBE-LOAD-BALANCER-FW";
inline constexpr char kLoadBalancerLocalSet[] = "KUBE-LOAD-BALANCER-LOCAL";
inline constexpr char kLoadBalancerSourceIpSet[] = "KUBE-LOAD-BALANCER-SOURCE-IP";
inline constexpr char kLoadBalancerSourceCidrSet[] = "KUBE-LOAD-BALANCER-SOURCE-CIDR";
inline constexpr char kNodePortTcpSet[] = "KUBE-NODE-PORT-TCP";
inline constexpr char kNodePortLocalTcpSet[] = "KUBE-NODE-PORT-LOCAL-TCP";
inline constexpr char kNodePortUdpSet[] = "KUBE-NODE-PORT-UDP";
inline constexpr char kNodePortLocalUdpSet[] = "KUBE-NODE-PORT-LOCAL-UDP";
inline constexpr char kNodePortSctpSet[] = "KUBE-NODE-PORT-SCTP-HASH";
inline constexpr char kNodePortLocalSctpSet[] = "KUBE-NODE-PORT-LOCAL-SCTP-HASH";
inline constexpr char kHealthCheckNodePortSet[] = "KUBE-HEALTH-CHECK-NODE-PORT";
inline constexpr char kIpvsIpsSet[] = "KUBE-IPVS-IPS";

// The family's name of an ipset: "KUBE-CLUSTER-IP" / "KUBE-6-CLUSTER-IP", cut to ipset's 31
// characters as upstream does.
std::string IpsetName(absl::string_view base, IpFamily family);

// A rule that must exist in a built-in chain to reach kproxy's chains (iptables -C, then -I).
struct JumpRule {
  std::string table;  // "nat" / "filter"
  std::string chain;  // built-in chain, e.g. "PREROUTING"
  std::vector<std::string> rule;  // e.g. {"-m","comment","--comment","kubernetes service portals","-j","KUBE-SERVICES"}
};
// Upstream's jump rules for IPVS mode, in order.
std::vector<JumpRule> IpvsJumpRules();

// Plans from EnforceElbConsistency(snapshot.services): pass-through LB IPs get no virtual server,
// no ipset entry and no address; conflicts are reported in the result. Pure: same input, same output.
DesiredIpvsState PlanIpvs(const ProxySnapshot& snapshot, const NodeContext& node,
                          const IpvsPlannerConfig& config, const IpvsHostAddresses& host);
// For callers that read no interfaces: the node's IPs (node.node_ips) serve as both address lists.
DesiredIpvsState PlanIpvs(const ProxySnapshot& snapshot, const NodeContext& node,
                          const IpvsPlannerConfig& config);

}  // namespace kproxy::proxier::ipvs
