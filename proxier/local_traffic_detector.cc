#include "proxier/local_traffic_detector.h"

#include "absl/strings/str_cat.h"

namespace kproxy::proxier {
namespace {

LocalTrafficDetector FromCidrs(const std::vector<Cidr>& cidrs, IpFamily family) {
  LocalTrafficDetector detector;
  for (const Cidr& cidr : cidrs) {
    if (cidr.family() != family) continue;
    detector.implemented = true;
    detector.if_local = absl::StrCat("-s ", cidr.ToString());
    detector.if_not_local = absl::StrCat("! -s ", cidr.ToString());
    break;
  }
  return detector;
}

LocalTrafficDetector FromInterface(absl::string_view name) {
  LocalTrafficDetector detector;
  if (name.empty()) return detector;
  detector.implemented = true;
  detector.if_local = absl::StrCat("-i ", name);
  detector.if_not_local = absl::StrCat("! -i ", name);
  return detector;
}

}  // namespace

LocalTrafficDetector MakeLocalTrafficDetector(LocalDetectMode mode, IpFamily family,
                                              const std::vector<Cidr>& cluster_cidrs,
                                              absl::string_view bridge_interface,
                                              absl::string_view interface_name_prefix, const NodeContext& node) {
  switch (mode) {
    case LocalDetectMode::kNone:
      return {};
    case LocalDetectMode::kClusterCidr:
      return FromCidrs(cluster_cidrs, family);
    case LocalDetectMode::kNodeCidr:
      return FromCidrs(node.pod_cidrs, family);
    case LocalDetectMode::kBridgeInterface:
      return FromInterface(bridge_interface);
    case LocalDetectMode::kInterfaceNamePrefix:
      return interface_name_prefix.empty() ? LocalTrafficDetector{}
                                           : FromInterface(absl::StrCat(interface_name_prefix, "+"));
  }
  return {};
}

}  // namespace kproxy::proxier
