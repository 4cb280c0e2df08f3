#include "proxier/ipvs/ipvs_planner.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proxier/endpoint_selector.h"
#include "proxier/kube_chains.h"
#include "proxier/pass_through_policy.h"
#include "proxier/shared_rules.h"

namespace kproxy::proxier::ipvs {
namespace {

struct IpsetInfo {
  const char* name;
  IpsetType type;
  const char* comment;
};

// Upstream's ipsets, in upstream's order (ipset.go / proxier.go ipsetInfo).
constexpr IpsetInfo kIpsets[] = {
    {kLoopBackSet, IpsetType::kHashIpPortIp,
     "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"},
    {kClusterIpSet, IpsetType::kHashIpPort, "Kubernetes service cluster ip + port for masquerade purpose"},
    {kExternalIpSet, IpsetType::kHashIpPort,
     "Kubernetes service external ip + port for masquerade and filter purpose"},
    {kExternalIpLocalSet, IpsetType::kHashIpPort,
     "Kubernetes service external ip + port with externalTrafficPolicy=local"},
    {kLoadBalancerSet, IpsetType::kHashIpPort, "Kubernetes service lb portal"},
    {kLoadBalancerFwSet, IpsetType::kHashIpPort,
     "Kubernetes service load balancer ip + port for load balancer with sourceRange"},
    {kLoadBalancerLocalSet, IpsetType::kHashIpPort,
     "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"},
    {kLoadBalancerSourceIpSet, IpsetType::kHashIpPortIp,
     "Kubernetes service load balancer ip + port + source IP for packet filter purpose"},
    {kLoadBalancerSourceCidrSet, IpsetType::kHashIpPortNet,
     "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"},
    {kNodePortTcpSet, IpsetType::kBitmapPort, "Kubernetes nodeport TCP port for masquerade purpose"},
    {kNodePortLocalTcpSet, IpsetType::kBitmapPort, "Kubernetes nodeport TCP port with externalTrafficPolicy=local"},
    {kNodePortUdpSet, IpsetType::kBitmapPort, "Kubernetes nodeport UDP port for masquerade purpose"},
    {kNodePortLocalUdpSet, IpsetType::kBitmapPort, "Kubernetes nodeport UDP port with externalTrafficPolicy=local"},
    {kNodePortSctpSet, IpsetType::kHashIpPort,
     "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"},
    {kNodePortLocalSctpSet, IpsetType::kHashIpPort,
     "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"},
    {kHealthCheckNodePortSet, IpsetType::kBitmapPort, "Kubernetes health check node port"},
    {kIpvsIpsSet, IpsetType::kHashIp, "Addresses on the ipvs interface"},
};

const IpsetInfo& InfoOf(absl::string_view base) {
  for (const auto& info : kIpsets) {
    if (base == info.name) return info;
  }
  return kIpsets[0];  // unreachable: callers pass the constants above
}

// Ipset entry texts, as `ipset save` prints them.
std::string IpPortEntry(const IpAddress& ip, Protocol protocol, int port) {
  return absl::StrCat(ip.ToString(), ",", ProtocolLowerName(protocol), ":", port);
}

class Builder {
 public:
  Builder(const ProxySnapshot& snapshot, const NodeContext& node, const IpvsPlannerConfig& config,
          const IpvsHostAddresses& host)
      : snapshot_(snapshot), node_(node), config_(config), host_(host) {
    for (const auto& info : kIpsets) entries_[info.name];
    for (const IpAddress& ip : host_.node_port_addresses) {
      // IPVS cannot serve a NodePort on loopback (upstream skips it too).
      if (ip.family() == snapshot_.family && !ip.IsLoopback()) node_port_ips_.push_back(ip);
    }
    std::sort(node_port_ips_.begin(), node_port_ips_.end());
    node_port_ips_.erase(std::unique(node_port_ips_.begin(), node_port_ips_.end()), node_port_ips_.end());
  }

  DesiredIpvsState Build() {
    ElbConsistencyResult enforced = EnforceElbConsistency(snapshot_.services);
    state_.family = snapshot_.family;
    state_.conflicts = std::move(enforced.conflicts);
    for (const auto& [name, port] : enforced.services) {
      if (port == nullptr || port->family != snapshot_.family) continue;
      PlanServicePort(*port);
      if (!port->pass_through_vips.empty()) state_.pass_through_services.insert(name.service);
      if (port->protocol == Protocol::kUDP) state_.udp_service_ports.emplace_hint(state_.udp_service_ports.end(), name, port);
    }
    SortServices();
    state_.no_local_internal_endpoints = no_local_internal_.size();
    state_.no_local_external_endpoints = no_local_external_.size();
    for (const IpAddress& ip : state_.bound_addresses) entries_[kIpvsIpsSet].push_back(ip.ToString());
    // Rendered while entries_ is intact (it asks which sets are empty): the sets are moved below.
    state_.iptables_restore = RenderIptables();
    for (const auto& info : kIpsets) {
      IpsetSpec spec;
      spec.name = IpsetName(info.name, snapshot_.family);
      spec.type = info.type;
      spec.family = snapshot_.family;
      spec.comment = info.comment;
      std::vector<std::string>& entries = entries_[info.name];
      std::sort(entries.begin(), entries.end());
      entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
      spec.entries = absl::btree_set<std::string>(std::make_move_iterator(entries.begin()),
                                                  std::make_move_iterator(entries.end()));
      state_.ipsets.push_back(std::move(spec));
    }
    return std::move(state_);
  }

 private:
  bool IsLocalAddress(const IpAddress& ip) const {
    return std::find(host_.local_addresses.begin(), host_.local_addresses.end(), ip) != host_.local_addresses.end();
  }

  VirtualServer MakeServer(const ServicePort& port, const IpAddress& ip) const {
    VirtualServer vs;
    vs.key.address = ip;
    vs.key.protocol = port.protocol;
    vs.key.port = static_cast<uint16_t>(port.port);
    vs.scheduler = config_.scheduler.empty() ? "rr" : config_.scheduler;
    if (port.session_affinity_client_ip) {
      vs.flags |= kFlagPersistent;
      vs.timeout_seconds = static_cast<uint32_t>(port.sticky_max_age_seconds);
    }
    if (vs.scheduler == "mh") vs.flags |= kFlagSourceHash;
    return vs;
  }

  void AddServer(VirtualServer vs, const EndpointList& endpoints) {
    // Collected, then sorted into state_.services once (see SortServices): inserting 20k+ services
    // in ServicePort order into the address-ordered map shifted them around node by node.
    IpvsService& svc = pending_services_.emplace_back();
    svc.server = std::move(vs);
    svc.destinations.reserve(endpoints.size());
    for (const auto& ep : endpoints) {
      if (ep == nullptr || ep->ip.family() != svc.server.key.address.family()) continue;
      RealServer rs;
      rs.key.address = ep->ip;
      rs.key.port = static_cast<uint16_t>(ep->port);
      rs.weight = 1;
      // Endpoints come sorted by IP and port, the destinations' order: appending is the common case.
      svc.destinations.insert_or_assign(rs.key, rs);
    }
  }

  // Moves pending_services_ into state_.services in key order. A key planned twice (two Services
  // sharing an address and port) ends as it did with direct map updates: the later server
  // settings, the union of the destinations.
  void SortServices() {
    const std::less<VirtualServerKey> less;
    std::stable_sort(pending_services_.begin(), pending_services_.end(),
                     [&](const IpvsService& a, const IpvsService& b) { return less(a.server.key, b.server.key); });
    auto& services = state_.services;
    for (IpvsService& svc : pending_services_) {
      if (!services.empty()) {
        auto last = std::prev(services.end());
        if (!less(last->first, svc.server.key)) {  // equal: sorted input
          last->second.server = std::move(svc.server);
          for (auto& [key, rs] : svc.destinations) last->second.destinations.insert_or_assign(key, rs);
          continue;
        }
      }
      const VirtualServerKey key = svc.server.key;
      services.emplace_hint(services.end(), key, std::move(svc));
    }
    pending_services_.clear();
  }

  // External IPs and LB VIPs: upstream does not bind an address the node already has on another
  // interface (the IPVS virtual server on it works without).
  void BindUnlessLocal(const IpAddress& ip) {
    if (!IsLocalAddress(ip)) state_.bound_addresses.insert(ip);
  }

  // The destinations of one virtual server. A Local policy with no local endpoint falls back to the
  // cluster endpoints (upstream PR 97081: pods on this node can still reach the Service; external
  // clients' replies carry the pod address and are dropped), which is empty when the ServicePort
  // uses no cluster endpoints at all; the Service is counted for the no-local-endpoints metric.
  const EndpointList& DestinationsFor(const ServicePort& port, const CategorizedEndpoints& cats, bool only_local) {
    if (!only_local) return cats.cluster_endpoints;
    if (!cats.local_endpoints.empty()) return cats.local_endpoints;
    if (cats.has_any_endpoints && port.internal_policy_local) no_local_internal_.insert(port.name.service);
    if (cats.has_any_endpoints && port.external_policy_local) no_local_external_.insert(port.name.service);
    return cats.cluster_endpoints;
  }

  void PlanServicePort(const ServicePort& port) {
    const EndpointList& all = snapshot_.EndpointsOf(port.name);
    CategorizedEndpoints cats = CategorizeEndpoints(all, port, node_);
    const Protocol proto = port.protocol;

    for (const auto& ep : all) {
      if (ep == nullptr || !ep->is_local || ep->port == 0) continue;
      entries_[kLoopBackSet].push_back(
          absl::StrCat(IpPortEntry(ep->ip, proto, ep->port), ",", ep->ip.ToString()));
    }

    if (!port.cluster_ip.IsUnspecified()) {
      entries_[kClusterIpSet].push_back(IpPortEntry(port.cluster_ip, proto, port.port));
      AddServer(MakeServer(port, port.cluster_ip), DestinationsFor(port, cats, port.internal_policy_local));
      // Always bound, as upstream: a ClusterIP is never a node address.
      state_.bound_addresses.insert(port.cluster_ip);
    }

    for (const IpAddress& ip : port.external_ips) {
      entries_[port.external_policy_local ? kExternalIpLocalSet : kExternalIpSet].push_back(
          IpPortEntry(ip, proto, port.port));
      AddServer(MakeServer(port, ip), DestinationsFor(port, cats, port.external_policy_local));
      BindUnlessLocal(ip);
    }

    for (const IpAddress& ip : port.load_balancer_vips) {
      const std::string entry = IpPortEntry(ip, proto, port.port);
      entries_[kLoadBalancerSet].push_back(entry);
      if (port.external_policy_local) entries_[kLoadBalancerLocalSet].push_back(entry);
      if (!port.load_balancer_source_ranges.empty() || port.source_ranges_deny_all) {
        entries_[kLoadBalancerFwSet].push_back(entry);
        bool allow_from_node = false;
        for (const Cidr& cidr : port.load_balancer_source_ranges) {
          if (cidr.family() != ip.family()) continue;
          entries_[kLoadBalancerSourceCidrSet].push_back(absl::StrCat(entry, ",", cidr.ToString()));
          for (const IpAddress& node_ip : node_.node_ips) {
            if (cidr.Contains(node_ip)) allow_from_node = true;
          }
        }
        if (allow_from_node) {
          entries_[kLoadBalancerSourceIpSet].push_back(absl::StrCat(entry, ",", ip.ToString()));
        } else {
          // The node itself may not reach the VIP either: IPVS would answer it locally (the VIP is
          // bound on kube-ipvs0, so source and destination are both the VIP), bypassing the
          // firewall; upstream drops it in KUBE-IPVS-OUT-FILTER.
          const std::string address = ip.ToString();
          lb_no_node_access_.push_back(absl::StrCat("-A ", kIpvsOutFilterChain, " -s ", address, " -m ipvs --vaddr ",
                                                    address, " --vproto ", ProtocolLowerName(proto),
                                                    " --vport ", port.port, " -j DROP"));
        }
      }
      AddServer(MakeServer(port, ip), DestinationsFor(port, cats, port.external_policy_local));
      BindUnlessLocal(ip);
    }

    // Without a NodePort address upstream programs neither the NodePort's ipset entries nor its
    // virtual servers.
    if (port.node_port != 0 && !node_port_ips_.empty()) {
      switch (proto) {
        case Protocol::kTCP:
          entries_[kNodePortTcpSet].push_back(absl::StrCat(port.node_port));
          if (port.external_policy_local) entries_[kNodePortLocalTcpSet].push_back(absl::StrCat(port.node_port));
          break;
        case Protocol::kUDP:
          entries_[kNodePortUdpSet].push_back(absl::StrCat(port.node_port));
          if (port.external_policy_local) entries_[kNodePortLocalUdpSet].push_back(absl::StrCat(port.node_port));
          break;
        case Protocol::kSCTP:
          for (const IpAddress& node_ip : node_port_ips_) {
            entries_[kNodePortSctpSet].push_back(IpPortEntry(node_ip, proto, port.node_port));
            if (port.external_policy_local) {
              entries_[kNodePortLocalSctpSet].push_back(IpPortEntry(node_ip, proto, port.node_port));
            }
          }
          break;
      }
      for (const IpAddress& node_ip : node_port_ips_) {
        VirtualServer vs = MakeServer(port, node_ip);
        vs.key.port = static_cast<uint16_t>(port.node_port);
        AddServer(std::move(vs), DestinationsFor(port, cats, port.external_policy_local));
      }
    }

    if (port.health_check_node_port != 0) {
      entries_[kHealthCheckNodePortSet].push_back(absl::StrCat(port.health_check_node_port));
    }
  }

  std::string Set(absl::string_view base) const { return IpsetName(base, snapshot_.family); }
  bool Empty(absl::string_view base) const { return entries_.at(base).empty(); }
  std::string Comment(absl::string_view base) const { return absl::StrCat("\"", InfoOf(base).comment, "\""); }

  std::string RenderIptables() const {
    const SharedRules shared_rules(SharedRulesConfig{
        .masquerade_bit = config_.masquerade_bit,
        .masquerade_random_fully = config_.masquerade_random_fully,
    });
    std::vector<std::string> filter;
    std::vector<std::string> nat;
    auto add = [](std::vector<std::string>& out, std::initializer_list<absl::string_view> words) {
      out.push_back(absl::StrJoin(words, " "));
    };
    // Shared rules come rendered as "\n"-terminated lines; these lists hold them without.
    auto add_lines = [](std::vector<std::string>& out, absl::string_view lines) {
      for (absl::string_view line : absl::StrSplit(lines, '\n', absl::SkipEmpty())) out.emplace_back(line);
    };

    const bool v6 = snapshot_.family == IpFamily::kIPv6;
    add(nat, {"-A", kServicesChain, "-s", v6 ? "::1/128" : "127.0.0.0/8", "-j RETURN"});

    // Rules that match one ipset each, written only when the set has entries (upstream's
    // ipsetWithIptablesChain).
    struct SetRule {
      const char* set;
      bool nat;
      const char* from;
      const char* to;
      const char* match;
      const char* protocol;
    };
    constexpr SetRule kSetRules[] = {
        {kLoopBackSet, true, kPostroutingChain, "MASQUERADE", "dst,dst,src", ""},
        {kLoadBalancerSet, true, kServicesChain, kLoadBalancerChain, "dst,dst", ""},
        {kLoadBalancerLocalSet, true, kLoadBalancerChain, "RETURN", "dst,dst", ""},
        {kNodePortLocalTcpSet, true, kIpvsNodePortChain, "RETURN", "dst", "tcp"},
        {kNodePortTcpSet, true, kIpvsNodePortChain, kMarkMasqChain, "dst", "tcp"},
        {kNodePortLocalUdpSet, true, kIpvsNodePortChain, "RETURN", "dst", "udp"},
        {kNodePortUdpSet, true, kIpvsNodePortChain, kMarkMasqChain, "dst", "udp"},
        {kNodePortLocalSctpSet, true, kIpvsNodePortChain, "RETURN", "dst,dst", "sctp"},
        {kNodePortSctpSet, true, kIpvsNodePortChain, kMarkMasqChain, "dst,dst", "sctp"},
        {kLoadBalancerFwSet, false, kProxyFirewallChain, kSourceRangesFirewallChain, "dst,dst", ""},
        {kLoadBalancerSourceCidrSet, false, kSourceRangesFirewallChain, "RETURN", "dst,dst,src", ""},
        {kLoadBalancerSourceIpSet, false, kSourceRangesFirewallChain, "RETURN", "dst,dst,src", ""},
    };
    for (const SetRule& r : kSetRules) {
      if (Empty(r.set)) continue;
      std::string line = absl::StrCat("-A ", r.from);
      if (*r.protocol != '\0') absl::StrAppend(&line, " -p ", r.protocol);
      absl::StrAppend(&line, " -m comment --comment ", Comment(r.set), " -m set --match-set ", Set(r.set), " ",
                      r.match, " -j ", r.to);
      (r.nat ? nat : filter).push_back(std::move(line));
    }

    if (!Empty(kClusterIpSet)) {
      const std::string prefix = absl::StrCat("-A ", kServicesChain, " -m comment --comment ", Comment(kClusterIpSet),
                                              " -m set --match-set ", Set(kClusterIpSet));
      if (config_.masquerade_all) {
        nat.push_back(absl::StrCat(prefix, " dst,dst -j ", kMarkMasqChain));
      } else if (const LocalTrafficDetector detector = MakeLocalTrafficDetector(
                     config_.local_detect_mode, snapshot_.family, config_.cluster_cidrs, config_.bridge_interface,
                     config_.interface_name_prefix, node_);
                 detector.implemented) {
        // Off-cluster traffic to a ClusterIP may come back through another node: masquerade it.
        nat.push_back(absl::StrCat(prefix, " dst,dst ", detector.if_not_local, " -j ", kMarkMasqChain));
      } else {
        // The VIPs are local on kube-ipvs0, so node-originated traffic picks a VIP as its source.
        nat.push_back(absl::StrCat(prefix, " src,dst -j ", kMarkMasqChain));
      }
    }

    auto external_ip_rules = [&](const std::string& prefix) {
      nat.push_back(absl::StrCat(prefix, " -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT"));
      nat.push_back(absl::StrCat(prefix, " -m addrtype --dst-type LOCAL -j ACCEPT"));
    };
    if (!Empty(kExternalIpSet)) {
      const std::string prefix = absl::StrCat("-A ", kServicesChain, " -m comment --comment ", Comment(kExternalIpSet),
                                              " -m set --match-set ", Set(kExternalIpSet), " dst,dst");
      nat.push_back(absl::StrCat(prefix, " -j ", kMarkMasqChain));
      external_ip_rules(prefix);
    }
    if (!Empty(kExternalIpLocalSet)) {
      external_ip_rules(absl::StrCat("-A ", kServicesChain, " -m comment --comment ", Comment(kExternalIpLocalSet),
                                     " -m set --match-set ", Set(kExternalIpLocalSet), " dst,dst"));
    }

    add(nat, {"-A", kServicesChain, "-m addrtype --dst-type LOCAL -j", kIpvsNodePortChain});
    add(nat, {"-A", kLoadBalancerChain, "-j", kMarkMasqChain});
    add(filter, {"-A", kSourceRangesFirewallChain, "-j DROP"});
    filter.insert(filter.end(), lb_no_node_access_.begin(), lb_no_node_access_.end());
    for (const char* set : {kClusterIpSet, kLoadBalancerSet}) {
      if (Empty(set)) continue;
      nat.push_back(absl::StrCat("-A ", kServicesChain, " -m set --match-set ", Set(set), " dst,dst -j ACCEPT"));
    }

    add_lines(filter, shared_rules.ForwardRules());
    filter.push_back(absl::StrCat("-A ", kIpvsNodePortChain, " -m comment --comment ", Comment(kHealthCheckNodePortSet),
                                  " -m set --match-set ", Set(kHealthCheckNodePortSet), " dst -j ACCEPT"));

    // Keep NEW connections to a bound VIP on a port that is no Service from reaching host sockets
    // (upstream issue 72236). This is also why a mixed pass-through ELB would break in IPVS mode.
    for (const char* set : {kLoadBalancerSet, kClusterIpSet, kExternalIpSet, kExternalIpLocalSet}) {
      filter.push_back(absl::StrCat("-A ", kIpvsFilterChain, " -m set --match-set ", Set(set), " dst,dst -j RETURN"));
    }
    filter.push_back(absl::StrCat("-A ", kIpvsFilterChain, " -m set --match-set ", Set(kHealthCheckNodePortSet),
                                  " dst -j RETURN"));
    filter.push_back(absl::StrCat("-A ", kIpvsFilterChain, " -m conntrack --ctstate NEW -m set --match-set ",
                                  Set(kIpvsIpsSet), " dst -j REJECT"));

    add_lines(nat, shared_rules.PostroutingRules());
    add_lines(nat, shared_rules.MarkMasqRules());

    std::string out = "*filter\n";
    for (const char* chain : {kForwardChain, kIpvsNodePortChain, kProxyFirewallChain,
                              kSourceRangesFirewallChain, kIpvsFilterChain, kIpvsOutFilterChain}) {
      absl::StrAppend(&out, ":", chain, " - [0:0]\n");
    }
    for (const auto& line : filter) absl::StrAppend(&out, line, "\n");
    absl::StrAppend(&out, "COMMIT\n*nat\n");
    for (const char* chain : {kServicesChain, kPostroutingChain, kIpvsNodePortChain, kLoadBalancerChain,
                              kMarkMasqChain}) {
      absl::StrAppend(&out, ":", chain, " - [0:0]\n");
    }
    for (const auto& line : nat) absl::StrAppend(&out, line, "\n");
    absl::StrAppend(&out, "COMMIT\n");
    return out;
  }

  const ProxySnapshot& snapshot_;
  const NodeContext& node_;
  const IpvsPlannerConfig& config_;
  const IpvsHostAddresses& host_;
  // host_.node_port_addresses of the family, without loopback, sorted and unique.
  std::vector<IpAddress> node_port_ips_;
  DesiredIpvsState state_;
  // Entries per ipset name (the names are constants), collected unsorted and sorted once in Build():
  // inserting 50k strings into sorted sets one by one was a sixth of a plan.
  absl::flat_hash_map<absl::string_view, std::vector<std::string>> entries_;
  // KUBE-IPVS-OUT-FILTER rules for LB VIPs whose source ranges leave out every node address.
  std::vector<std::string> lb_no_node_access_;
  std::set<ServiceName> no_local_internal_;
  std::set<ServiceName> no_local_external_;
  std::vector<IpvsService> pending_services_;
};

}  // namespace

std::string IpsetName(absl::string_view base, IpFamily family) {
  if (family == IpFamily::kIPv4) return std::string(base);
  absl::string_view rest = base;
  if (absl::StartsWith(rest, "KUBE-")) rest.remove_prefix(5);
  // ipset names are at most 31 characters; upstream truncates the longer IPv6 names the same way
  // (KUBE-6-LOAD-BALANCER-SOURCE-CIDR -> KUBE-6-LOAD-BALANCER-SOURCE-CID).
  std::string name = absl::StrCat("KUBE-6-", rest);
  if (name.size() > 31) name.resize(31);
  return name;
}

std::vector<JumpRule> IpvsJumpRules() {
  auto rule = [](const char* table, const char* chain, const char* target, const char* comment) {
    return JumpRule{table, chain, {"-m", "comment", "--comment", comment, "-j", target}};
  };
  return {
      rule("nat", "OUTPUT", kServicesChain, "kubernetes service portals"),
      rule("nat", "PREROUTING", kServicesChain, "kubernetes service portals"),
      rule("nat", "POSTROUTING", kPostroutingChain, "kubernetes postrouting rules"),
      rule("filter", "FORWARD", kForwardChain, "kubernetes forwarding rules"),
      rule("filter", "INPUT", kIpvsNodePortChain, "kubernetes health check rules"),
      rule("filter", "INPUT", kProxyFirewallChain, "kube-proxy firewall rules"),
      rule("filter", "FORWARD", kProxyFirewallChain, "kube-proxy firewall rules"),
      rule("filter", "INPUT", kIpvsFilterChain, "kubernetes ipvs access filter"),
      rule("filter", "OUTPUT", kIpvsOutFilterChain, "kubernetes ipvs access filter"),
  };
}

DesiredIpvsState PlanIpvs(const ProxySnapshot& snapshot, const NodeContext& node, const IpvsPlannerConfig& config,
                          const IpvsHostAddresses& host) {
  return Builder(snapshot, node, config, host).Build();
}

DesiredIpvsState PlanIpvs(const ProxySnapshot& snapshot, const NodeContext& node, const IpvsPlannerConfig& config) {
  const IpvsHostAddresses host{node.node_ips, node.node_ips};
  return Builder(snapshot, node, config, host).Build();
}

}  // namespace kproxy::proxier::ipvs
