// IptablesPlanner: turns a ProxySnapshot and the node's context into the desired filter and nat
// tables of one IP family, rule for rule as upstream kube-proxy's iptables mode writes them. Pure.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "proxier/iptables/iptables_plan.h"
#include "proxier/local_traffic_detector.h"
#include "proxier/node_port_addresses.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"
#include "proxier/shared_rules.h"

namespace kproxy::proxier::iptables {

// --detect-local-mode (shared with IPVS mode).
using LocalDetectMode = ::kproxy::proxier::LocalDetectMode;

struct IptablesPlannerConfig {
  IpFamily family = IpFamily::kIPv4;
  int masquerade_bit = 14;
  bool masquerade_all = false;
  // --iptables-localhost-nodeports; only ever effective for IPv4, and only when the NodePort
  // addresses' CIDRs cover 127.0.0.0 (or select every address).
  bool localhost_node_ports = true;
  // --nodeport-addresses of this family. Unless it matches every address, each plan selects the
  // NodePort addresses from NodeContext::local_addresses; when none is selected, NodePorts of this
  // family get no entry point (KUBE-SERVICES has no jump to KUBE-NODEPORTS).
  NodePortAddresses node_port_addresses;
  LocalDetectMode local_detect_mode = LocalDetectMode::kNone;
  std::vector<Cidr> cluster_cidrs;  // kClusterCidr: of this family; the first one is used
  std::string bridge_interface;     // kBridgeInterface
  std::string interface_name_prefix;  // kInterfaceNamePrefix
  // nf_conntrack_tcp_be_liberal is set: no INVALID drop in KUBE-FORWARD.
  bool conntrack_tcp_be_liberal = false;
  // Above this many endpoints in total, SVC/SEP rules carry no comments (upstream: 1000).
  size_t large_cluster_endpoints_threshold = 1000;
  // The iptables binary supports MASQUERADE --random-fully.
  bool masquerade_random_fully = false;
  // The nfacct counters ct_state_invalid_dropped_pkts / localhost_nps_accepted_pkts exist.
  bool nfacct_counters = false;
};

class IptablesPlanner {
 public:
  explicit IptablesPlanner(IptablesPlannerConfig config);

  // The complete desired tables. With `previous` (the plan of the previous sync, same planner),
  // only the fragments of `changed` Services are rebuilt; the rest are shared with `previous`.
  // Without it, or when the node context or large-cluster mode differs, everything is rebuilt.
  std::shared_ptr<const IptablesPlan> Plan(const ProxySnapshot& snapshot, const NodeContext& node,
                                           const ChangedServices& changed,
                                           const IptablesPlan* previous) const;

  const IptablesPlannerConfig& config() const { return config_; }
  // "0x00004000" for bit 14 (see SharedRules::mark()).
  const std::string& masquerade_mark() const { return shared_rules_.mark(); }

 private:
  using LocalDetector = LocalTrafficDetector;
  LocalDetector MakeLocalDetector(const NodeContext& node) const;
  std::shared_ptr<const ServicePortFragment> BuildFragment(
      const ServicePort& service, const EndpointList& endpoints, const NodeContext& node,
      const LocalDetector& detector, bool large_cluster_mode,
      const ServicePortFragment* previous) const;
  // Lines of the top-level chains a fragment contributes, one index per chain (see the .cc).
  static constexpr size_t kTopLevelMemberCount = 6;
  // With `base` (same planner), its chains are shared wherever `member_changed` says no fragment's
  // lines in that chain changed; static chains are always shared.
  void BuildTopLevelChains(IptablesPlan& plan, const IptablesPlan* base,
                           const std::array<bool, kTopLevelMemberCount>& member_changed) const;

  IptablesPlannerConfig config_;
  // KUBE-MARK-MASQ, KUBE-POSTROUTING and KUBE-FORWARD, as IPVS mode writes them too.
  SharedRules shared_rules_;
  bool localhost_node_ports_ = false;  // effective value
  // 1/n formatted "%0.10f" for small n, computed once.
  std::vector<std::string> probabilities_;
};

}  // namespace kproxy::proxier::iptables
