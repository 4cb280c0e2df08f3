#include "cmd/kube-proxy/proxier_options.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace kproxy::daemon {

std::vector<proxier::Cidr> ClusterCidrs(const std::string& cluster_cidr) {
  std::vector<proxier::Cidr> out;
  for (absl::string_view c : absl::StrSplit(cluster_cidr, ',', absl::SkipEmpty())) {
    if (auto cidr = proxier::Cidr::Parse(absl::StripAsciiWhitespace(c)); cidr.ok())
      out.push_back(*cidr);
  }
  return out;
}

proxier::LocalDetectMode LocalDetectModeFrom(const std::string& detect_local_mode) {
  if (detect_local_mode == "ClusterCIDR") return proxier::LocalDetectMode::kClusterCidr;
  if (detect_local_mode == "NodeCIDR") return proxier::LocalDetectMode::kNodeCidr;
  if (detect_local_mode == "BridgeInterface") return proxier::LocalDetectMode::kBridgeInterface;
  if (detect_local_mode == "InterfaceNamePrefix") return proxier::LocalDetectMode::kInterfaceNamePrefix;
  return proxier::LocalDetectMode::kNone;
}

bool MasqueradeRandomFully() { return true; }

backends::ipvs::IpvsProxierOptions IpvsProxierOptionsFrom(const KubeProxyConfiguration& config) {
  backends::ipvs::IpvsProxierOptions opts;
  opts.planner.scheduler = config.ipvs.scheduler.empty() ? "rr" : config.ipvs.scheduler;
  opts.planner.masquerade_all = config.iptables.masquerade_all;
  opts.planner.masquerade_bit = config.iptables.masquerade_bit;
  opts.planner.cluster_cidrs = ClusterCidrs(config.cluster_cidr);
  // The same local-traffic detection and --random-fully as iptables mode.
  opts.planner.local_detect_mode = LocalDetectModeFrom(config.detect_local_mode);
  opts.planner.bridge_interface = config.detect_local.bridge_interface;
  opts.planner.interface_name_prefix = config.detect_local.interface_name_prefix;
  opts.planner.masquerade_random_fully = MasqueradeRandomFully();
  opts.strict_arp = config.ipvs.strict_arp;
  for (const std::string& c : config.ipvs.exclude_cidrs) {
    if (auto cidr = proxier::Cidr::Parse(c); cidr.ok()) opts.exclude_cidrs.push_back(*cidr);
  }
  // Whole seconds, as the kernel takes them (validation rejects negative durations).
  auto seconds = [](absl::Duration d) { return static_cast<uint32_t>(absl::ToInt64Seconds(d)); };
  opts.timeouts.tcp_seconds = seconds(config.ipvs.tcp_timeout);
  opts.timeouts.tcp_fin_seconds = seconds(config.ipvs.tcp_fin_timeout);
  opts.timeouts.udp_seconds = seconds(config.ipvs.udp_timeout);
  return opts;
}

}  // namespace kproxy::daemon
