// PlanIpvs: the pure IPVS-mode planner — turns a snapshot into the virtual servers, kube-ipvs0
// addresses, ipsets and companion iptables rules one IP family should have.
#pragma once

#include <string>
#include <vector>

#include "proxier/ip_address.h"
#include "proxier/ipvs/ipvs_state.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier::ipvs {

inline constexpr char kDummyDevice[] = "kube-ipvs0";

struct IpvsPlannerConfig {
  std::string scheduler = "rr";  // --ipvs-scheduler; empty means rr
  bool masquerade_all = false;   // --masquerade-all
  int masquerade_bit = 14;       // --iptables-masquerade-bit
  // --cluster-cidr (either family; the first of the planned family is used): traffic from outside
  // it to a ClusterIP is masqueraded. None of the family: upstream's fallback (masquerade
  // node-originated traffic whose source is a VIP).
  std::vector<Cidr> cluster_cidrs;
  bool masquerade_random_fully = true;
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
                          const IpvsPlannerConfig& config);

}  // namespace kproxy::proxier::ipvs
