// ProxierOptions: the parts of a proxier's configuration derived from KubeProxyConfiguration alone
// (no kernel, no Node), kept apart from ProxyServer so they can be tested.
#pragma once

#include <string>
#include <vector>

#include "backends/ipvs/ipvs_proxier.h"
#include "cmd/kube-proxy/options.h"
#include "proxier/ip_address.h"
#include "proxier/local_traffic_detector.h"

namespace kproxy::daemon {

// --cluster-cidr's CIDRs ("10.0.0.0/8,fd00::/48"), invalid entries skipped (validation rejected
// them already).
std::vector<proxier::Cidr> ClusterCidrs(const std::string& cluster_cidr);

// --detect-local-mode by name ("ClusterCIDR", "NodeCIDR", "BridgeInterface",
// "InterfaceNamePrefix"); anything else (validation rejected it) is kNone. ClusterCIDR without a
// --cluster-cidr is left to the planners, which then find nothing to match (upstream's NoOp).
proxier::LocalDetectMode LocalDetectModeFrom(const std::string& detect_local_mode);

// Whether the masquerade rule gets --random-fully. Upstream asks the iptables binary (version
// 1.6.2 or later); kproxy ships with Debian bookworm's iptables 1.8.9, so always. One answer for
// both modes.
bool MasqueradeRandomFully();

// The IPVS proxier's options. The planner config is shared by both families, so it gets every
// family's cluster CIDRs (the planner uses the first of the family it plans).
backends::ipvs::IpvsProxierOptions IpvsProxierOptionsFrom(const KubeProxyConfiguration& config);

}  // namespace kproxy::daemon
