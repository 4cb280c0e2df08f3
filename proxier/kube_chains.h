// The iptables chains kube-proxy owns, in either mode, under upstream's names: both planners name
// them from here, and --cleanup removes exactly what IsKubeProxyChain() accepts.
#pragma once

#include "absl/strings/string_view.h"

namespace kproxy::proxier {

// Written by both modes (rendered once, in shared_rules.h, where both write the same rules).
inline constexpr char kServicesChain[] = "KUBE-SERVICES";
inline constexpr char kPostroutingChain[] = "KUBE-POSTROUTING";
inline constexpr char kMarkMasqChain[] = "KUBE-MARK-MASQ";
inline constexpr char kForwardChain[] = "KUBE-FORWARD";
inline constexpr char kProxyFirewallChain[] = "KUBE-PROXY-FIREWALL";

// iptables mode only.
inline constexpr char kExternalServicesChain[] = "KUBE-EXTERNAL-SERVICES";
inline constexpr char kNodePortsChain[] = "KUBE-NODEPORTS";
inline constexpr char kProxyCanaryChain[] = "KUBE-PROXY-CANARY";
// A duplicate of kubelet's filter chain with the anti-martian rule for localhost NodePorts; kubelet
// owns the filter one, so cleanup leaves it (old IPVS mode's nat KUBE-FIREWALL it removes).
inline constexpr char kKubeletFirewallChain[] = "KUBE-FIREWALL";

// IPVS mode only.
inline constexpr char kIpvsNodePortChain[] = "KUBE-NODE-PORT";
inline constexpr char kLoadBalancerChain[] = "KUBE-LOAD-BALANCER";
inline constexpr char kSourceRangesFirewallChain[] = "KUBE-SOURCE-RANGES-FIREWALL";
inline constexpr char kIpvsFilterChain[] = "KUBE-IPVS-FILTER";
inline constexpr char kIpvsOutFilterChain[] = "KUBE-IPVS-OUT-FILTER";

// KUBE-SVC-/KUBE-SVL-/KUBE-EXT-/KUBE-FW-/KUBE-SEP-: chains owned by one ServicePort, which a sync
// deletes when no longer wanted.
bool IsServiceChainName(absl::string_view chain);

// Whether `chain` of `table` ("nat", "filter", "mangle") belongs to a kube-proxy, upstream's or
// ours, of either mode (the chains above and the per-ServicePort ones, including the KUBE-XLB- of
// old releases). Kubelet's chains (filter KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT,
// KUBE-MARK-DROP) and other components' KUBE-* chains are not.
bool IsKubeProxyChain(absl::string_view table, absl::string_view chain);

}  // namespace kproxy::proxier
