// Planner configurations for the synthetic cluster of synthetic_cluster.h (its pods are in
// 10.128.0.0/14), shared by the benchmarks and the scale driver so they measure the same rules.
#pragma once

#include "proxier/ip_address.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/ipvs/ipvs_diff.h"
#include "proxier/ipvs/ipvs_planner.h"

namespace kproxy::bench {

inline proxier::iptables::IptablesPlannerConfig SyntheticIptablesConfig() {
  proxier::iptables::IptablesPlannerConfig config;
  config.family = proxier::IpFamily::kIPv4;
  config.local_detect_mode = proxier::iptables::LocalDetectMode::kClusterCidr;
  config.cluster_cidrs.push_back(*proxier::Cidr::Parse("10.128.0.0/14"));
  config.masquerade_random_fully = true;
  return config;
}

inline proxier::ipvs::IpvsPlannerConfig SyntheticIpvsConfig() {
  proxier::ipvs::IpvsPlannerConfig config;
  config.cluster_cidrs.push_back(*proxier::Cidr::Parse("10.128.0.0/14"));
  return config;
}

// The kernel state right after `desired` was applied.
inline proxier::ipvs::ObservedIpvsState AsObserved(const proxier::ipvs::DesiredIpvsState& desired) {
  proxier::ipvs::ObservedIpvsState observed;
  observed.services = desired.services;
  observed.bound_addresses = desired.bound_addresses;
  return observed;
}

}  // namespace kproxy::bench
