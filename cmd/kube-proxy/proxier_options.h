// ProxierOptions: the parts of a proxier's configuration derived from KubeProxyConfiguration alone
// (no kernel, no Node), kept apart from ProxyServer so they can be tested.
#pragma once

#include <string>
#include <vector>

#include "backends/ipvs/ipvs_proxier.h"
#include "cmd/kube-proxy/options.h"
#include "proxier/ip_address.h"

namespace kproxy::daemon {

// --cluster-cidr's CIDRs ("10.0.0.0/8,fd00::/48"), invalid entries skipped (validation rejected
// them already).
std::vector<proxier::Cidr> ClusterCidrs(const std::string& cluster_cidr);

// The IPVS proxier's options. The planner config is shared by both families, so it gets every
// family's cluster CIDRs (the planner uses the first of the family it plans).
backends::ipvs::IpvsProxierOptions IpvsProxierOptionsFrom(const KubeProxyConfiguration& config);

}  // namespace kproxy::daemon
