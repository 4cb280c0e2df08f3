#include "proxier/iptables/iptables_planner.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proxier/endpoint_selector.h"
#include "proxier/iptables/chain_names.h"

namespace kproxy::proxier::iptables {
namespace {

constexpr size_t kPrecomputedProbabilities = 1001;

std::string FormatProbability(size_t n) { return absl::StrFormat("%0.10f", 1.0 / static_cast<double>(n)); }

bool SameNode(const NodeContext& a, const NodeContext& b) {
  return a.node_name == b.node_name && a.family == b.family && a.node_ips == b.node_ips &&
         a.zone == b.zone && a.labels == b.labels && a.pod_cidrs == b.pod_cidrs;
}

// absl::StrAppend without its zero-filling resize (Debian's Abseil has no uninitialized resize):
// appending piece by piece into a reserved string is markedly cheaper for 540k short lines.
template <typename... Args>
void Append(std::string& out, const Args&... args) {
  ([&](const absl::AlphaNum& piece) { out.append(piece.data(), piece.size()); }(args), ...);
}

// "-m tcp -p tcp" (upstream always loads the protocol match module before -p).
void AppendProtocol(std::string& out, absl::string_view proto) {
  Append(out, " -m ", proto, " -p ", proto);
}

void AppendComment(std::string& out, absl::string_view comment) {
  Append(out, " -m comment --comment ", comment);
}

// One endpoint as the rules spell it, formatted once.
struct EndpointStrings {
  const Endpoint* endpoint;
  std::string ip;       // "10.0.0.1" / "fd00::1"
  // "10.0.0.1:80" / "[fd00::1]:80", kept inline: one heap string less per endpoint.
  std::array<char, 64> ip_port_buffer;
  size_t ip_port_size = 0;
  absl::string_view ip_port() const { return absl::string_view(ip_port_buffer.data(), ip_port_size); }
  std::string chain;    // KUBE-SEP-...
};

// `"<text>"`: comments with spaces are written quoted, as upstream does.
std::string Quoted(absl::string_view a, absl::string_view b = {}, absl::string_view c = {},
                   absl::string_view d = {}) {
  return absl::StrCat("\"", a, b, c, d, "\"");
}

// The ServicePorts of `service` in a map ordered by ServicePortName: they are contiguous, and
// {service, "", kTCP} sorts before all of them.
template <typename Map>
auto ServiceRange(const Map& map, const ServiceName& service) {
  auto first = map.lower_bound(ServicePortName{service, std::string(), Protocol::kTCP});
  auto last = first;
  while (last != map.end() && last->first.service == service) ++last;
  return std::pair(first, last);
}

std::atomic<uint64_t> next_plan_id{1};

// The fragment members concatenated into top-level chains; the index is the one of
// BuildTopLevelChains' member_changed.
constexpr std::array<std::string ServicePortFragment::*, 6> kTopLevelMembers = {
    &ServicePortFragment::filter_nodeports,         &ServicePortFragment::filter_services,
    &ServicePortFragment::filter_external_services, &ServicePortFragment::filter_proxy_firewall,
    &ServicePortFragment::nat_nodeports,            &ServicePortFragment::nat_services};
constexpr size_t kFilterNodePorts = 0, kFilterServices = 1, kFilterExternalServices = 2,
                 kFilterProxyFirewall = 3, kNatNodePorts = 4, kNatServices = 5;

}  // namespace

size_t FragmentMap::ChunkFor(const ServicePortName& key) const {
  return static_cast<size_t>(
      std::partition_point(chunks_.begin(), chunks_.end(),
                           [&](const std::shared_ptr<Chunk>& chunk) { return chunk->back().first < key; }) -
      chunks_.begin());
}

FragmentMap::const_iterator FragmentMap::lower_bound(const ServicePortName& key) const {
  const size_t c = ChunkFor(key);
  if (c == chunks_.size()) return end();
  const Chunk& chunk = *chunks_[c];
  auto it = std::partition_point(chunk.begin(), chunk.end(), [&](const value_type& e) { return e.first < key; });
  return const_iterator(this, c, static_cast<size_t>(it - chunk.begin()));
}

FragmentMap::const_iterator FragmentMap::find(const ServicePortName& key) const {
  const_iterator it = lower_bound(key);
  return it != end() && it->first == key ? it : end();
}

const FragmentMap::mapped_type& FragmentMap::at(const ServicePortName& key) const {
  const_iterator it = find(key);
  if (it == end()) {
    static const mapped_type kNone;
    return kNone;
  }
  return it->second;
}

FragmentMap::Chunk& FragmentMap::Writable(size_t i) {
  if (chunks_[i].use_count() != 1) chunks_[i] = std::make_shared<Chunk>(*chunks_[i]);
  return *chunks_[i];
}

FragmentMap::const_iterator FragmentMap::emplace_hint(const_iterator, const ServicePortName& key,
                                                      mapped_type fragment) {
  if (chunks_.empty() || chunks_.back()->size() >= kChunkSize) {
    chunks_.push_back(std::make_shared<Chunk>());
    chunks_.back()->reserve(kChunkSize);
  }
  Chunk& chunk = Writable(chunks_.size() - 1);
  chunk.emplace_back(key, std::move(fragment));
  ++size_;
  return const_iterator(this, chunks_.size() - 1, chunk.size() - 1);
}

void FragmentMap::insert_or_assign(const ServicePortName& key, mapped_type fragment) {
  size_t c = ChunkFor(key);
  if (c == chunks_.size()) {
    emplace_hint(end(), key, std::move(fragment));
    return;
  }
  Chunk& chunk = Writable(c);
  auto it = std::partition_point(chunk.begin(), chunk.end(), [&](const value_type& e) { return e.first < key; });
  if (it != chunk.end() && it->first == key) {
    it->second = std::move(fragment);
    return;
  }
  chunk.emplace(it, key, std::move(fragment));
  ++size_;
  if (chunk.size() >= 2 * kChunkSize) {
    auto tail = std::make_shared<Chunk>(std::make_move_iterator(chunk.begin() + kChunkSize),
                                        std::make_move_iterator(chunk.end()));
    chunk.resize(kChunkSize);
    chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(c) + 1, std::move(tail));
  }
}

size_t FragmentMap::erase(const ServicePortName& key) {
  const_iterator found = find(key);
  if (found == end()) return 0;
  const size_t c = found.chunk_;
  Chunk& chunk = Writable(c);
  chunk.erase(chunk.begin() + static_cast<std::ptrdiff_t>(found.entry_));
  if (chunk.empty()) chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(c));
  --size_;
  return 1;
}

size_t IptablesPlan::NatChainCount() const {
  size_t count = nat_chains.size();
  for (const auto& [name, fragment] : fragments) count += fragment->nat_chains.size();
  return count;
}

IptablesPlanner::IptablesPlanner(IptablesPlannerConfig config)
    : config_(std::move(config)),
      shared_rules_(SharedRulesConfig{
          .masquerade_bit = config_.masquerade_bit,
          .masquerade_random_fully = config_.masquerade_random_fully,
          .drop_invalid_forward = !config_.conntrack_tcp_be_liberal,
          .nfacct_counters = config_.nfacct_counters,
      }) {
  // As upstream: decided by the CIDRs, not by the addresses they match at some sync.
  localhost_node_ports_ = config_.localhost_node_ports && config_.family == IpFamily::kIPv4 &&
                          config_.node_port_addresses.ContainsIPv4Loopback();
  probabilities_.reserve(kPrecomputedProbabilities);
  probabilities_.emplace_back("<bad value>");
  for (size_t n = 1; n < kPrecomputedProbabilities; ++n) probabilities_.push_back(FormatProbability(n));
}

IptablesPlanner::LocalDetector IptablesPlanner::MakeLocalDetector(const NodeContext& node) const {
  return MakeLocalTrafficDetector(config_.local_detect_mode, config_.family, config_.cluster_cidrs,
                                  config_.bridge_interface, config_.interface_name_prefix, node);
}

std::shared_ptr<const IptablesPlan> IptablesPlanner::Plan(const ProxySnapshot& snapshot,
                                                          const NodeContext& node,
                                                          const ChangedServices& changed,
                                                          const IptablesPlan* previous) const {
  auto plan = std::make_shared<IptablesPlan>();
  plan->family = config_.family;
  plan->node = node;
  plan->id = next_plan_id.fetch_add(1, std::memory_order_relaxed);
  if (!config_.node_port_addresses.MatchAll()) {
    plan->node_port_ips = config_.node_port_addresses.Select(node.local_addresses);
  }
  const LocalDetector detector = MakeLocalDetector(node);
  const bool same_context =
      previous != nullptr && previous->family == config_.family && SameNode(previous->node, node);

  if (same_context) {
    // Incremental: only the changed Services' ServicePorts are looked at, so one endpoint change
    // costs the same at 1k and 30k Services.
    std::vector<ServicePortName> names;
    size_t total = previous->total_endpoints;
    for (const ServiceName& service : changed) {
      for (auto [it, last] = ServiceRange(previous->fragments, service); it != last; ++it) {
        total -= it->second->endpoint_count;
        names.push_back(it->first);
      }
      for (auto [it, last] = ServiceRange(snapshot.services, service); it != last; ++it) {
        total += snapshot.EndpointsOf(it->first).size();
        names.push_back(it->first);
      }
    }
    const bool large_cluster_mode = total > config_.large_cluster_endpoints_threshold;
    if (large_cluster_mode == previous->large_cluster_mode) {
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      plan->large_cluster_mode = large_cluster_mode;
      plan->total_endpoints = total;
      plan->base_id = previous->id;
      plan->fragments = previous->fragments;
      plan->no_local_internal_endpoints = previous->no_local_internal_endpoints;
      plan->no_local_external_endpoints = previous->no_local_external_endpoints;
      std::array<bool, kTopLevelMembers.size()> member_changed{};
      // The NodePort jumps live in nat KUBE-SERVICES.
      if (plan->node_port_ips != previous->node_port_ips) member_changed[kNatServices] = true;
      static const std::string kEmpty;
      for (const ServicePortName& name : names) {
        auto old_it = previous->fragments.find(name);
        const ServicePortFragment* old = old_it == previous->fragments.end() ? nullptr : old_it->second.get();
        std::shared_ptr<const ServicePortFragment> fresh;
        if (auto it = snapshot.services.find(name); it != snapshot.services.end()) {
          fresh = BuildFragment(*it->second, snapshot.EndpointsOf(name), node, detector, large_cluster_mode, old);
        }
        for (size_t i = 0; i < kTopLevelMembers.size(); ++i) {
          const std::string& before = old != nullptr ? old->*kTopLevelMembers[i] : kEmpty;
          const std::string& after = fresh != nullptr ? (*fresh).*kTopLevelMembers[i] : kEmpty;
          if (before != after) member_changed[i] = true;
        }
        if (old != nullptr) {
          plan->no_local_internal_endpoints -= old->no_local_internal_endpoints;
          plan->no_local_external_endpoints -= old->no_local_external_endpoints;
        }
        if (fresh != nullptr) {
          plan->no_local_internal_endpoints += fresh->no_local_internal_endpoints;
          plan->no_local_external_endpoints += fresh->no_local_external_endpoints;
        }
        if (fresh != nullptr) {
          plan->fragments.insert_or_assign(name, std::move(fresh));
        } else {
          plan->fragments.erase(name);
        }
      }
      plan->rebuilt = std::move(names);
      BuildTopLevelChains(*plan, previous, member_changed);
      return plan;
    }
  }

  // From scratch (first sync, new node context, large-cluster mode flipped): every fragment is
  // rebuilt, reusing only the previous chain-name hashes. Services and endpoints are walked in
  // lockstep (both maps are ordered by ServicePortName) instead of looked up one by one.
  static const EndpointList kNoEndpoints;
  std::vector<const EndpointList*> lists;
  lists.reserve(snapshot.services.size());
  size_t total = 0;
  {
    auto eit = snapshot.endpoints.begin();
    for (const auto& [name, service] : snapshot.services) {
      while (eit != snapshot.endpoints.end() && eit->first < name) ++eit;
      const EndpointList* list =
          eit != snapshot.endpoints.end() && eit->first == name ? &eit->second : &kNoEndpoints;
      lists.push_back(list);
      total += list->size();
    }
  }
  plan->total_endpoints = total;
  plan->large_cluster_mode = total > config_.large_cluster_endpoints_threshold;
  size_t i = 0;
  auto pit = previous != nullptr ? previous->fragments.begin() : FragmentMap::const_iterator();
  for (const auto& [name, service] : snapshot.services) {
    const ServicePortFragment* old_fragment = nullptr;
    if (previous != nullptr) {
      while (pit != previous->fragments.end() && pit->first < name) ++pit;
      if (pit != previous->fragments.end() && pit->first == name) old_fragment = pit->second.get();
    }
    auto fragment =
        BuildFragment(*service, *lists[i++], node, detector, plan->large_cluster_mode, old_fragment);
    plan->no_local_internal_endpoints += fragment->no_local_internal_endpoints;
    plan->no_local_external_endpoints += fragment->no_local_external_endpoints;
    plan->fragments.emplace_hint(plan->fragments.end(), name, std::move(fragment));
  }
  BuildTopLevelChains(*plan, nullptr, {});
  return plan;
}

std::shared_ptr<const ServicePortFragment> IptablesPlanner::BuildFragment(
    const ServicePort& svc, const EndpointList& endpoints, const NodeContext& node,
    const LocalDetector& detector, bool large_cluster_mode, const ServicePortFragment* previous) const {
  auto fragment = std::make_shared<ServicePortFragment>();
  fragment->endpoint_count = endpoints.size();
  fragment->nat_services.reserve(256);
  const std::string name = svc.name.ToString();
  const absl::string_view proto = ProtocolLowerName(svc.protocol);
  fragment->port_proto_hash =
      previous != nullptr ? previous->port_proto_hash : PortProtoHash(name, proto);
  const std::string& hash = fragment->port_proto_hash;
  const std::string cluster_chain = absl::StrCat("KUBE-SVC-", hash);
  const std::string local_chain = absl::StrCat("KUBE-SVL-", hash);
  const std::string external_chain = absl::StrCat("KUBE-EXT-", hash);
  const std::string firewall_chain = absl::StrCat("KUBE-FW-", hash);
  const std::string port = absl::StrCat(svc.port);
  std::string cluster_ip;
  svc.cluster_ip.AppendTo(cluster_ip);

  const CategorizedEndpoints categorized = CategorizeEndpoints(endpoints, svc, node);
  const bool has_endpoints = categorized.has_any_endpoints;
  const bool uses_cluster_chain = !categorized.cluster_endpoints.empty() && svc.UsesClusterEndpoints();
  const bool uses_local_chain = !categorized.local_endpoints.empty() && svc.UsesLocalEndpoints();

  const std::string* internal_chain = &cluster_chain;
  bool has_internal_endpoints = has_endpoints;
  if (svc.internal_policy_local) {
    internal_chain = &local_chain;
    if (categorized.local_endpoints.empty()) has_internal_endpoints = false;
  }
  const std::string* external_policy_chain = &cluster_chain;
  bool has_external_endpoints = has_endpoints;
  if (svc.external_policy_local) {
    external_policy_chain = &local_chain;
    if (categorized.local_endpoints.empty()) has_external_endpoints = false;
  }
  // The EXT chain exists whenever there are endpoints anywhere: it carries the short-circuit rules
  // for local traffic even when no endpoint serves external traffic.
  const bool uses_external_chain = has_endpoints && svc.ExternallyAccessible();
  const bool uses_firewall_chain =
      has_endpoints && !svc.load_balancer_vips.empty() &&
      (!svc.load_balancer_source_ranges.empty() || svc.source_ranges_deny_all);
  const std::string& load_balancer_chain = uses_firewall_chain ? firewall_chain : external_chain;

  std::string internal_filter_target, internal_filter_comment;
  std::string external_filter_target, external_filter_comment;
  if (!has_endpoints) {
    internal_filter_target = "REJECT";
    internal_filter_comment = Quoted(name, " has no endpoints");
    external_filter_target = internal_filter_target;
    external_filter_comment = internal_filter_comment;
  } else {
    if (!has_internal_endpoints) {
      internal_filter_target = "DROP";
      internal_filter_comment = Quoted(name, " has no local endpoints");
      fragment->no_local_internal_endpoints = true;
    }
    if (!has_external_endpoints) {
      external_filter_target = "DROP";
      external_filter_comment = Quoted(name, " has no local endpoints");
      fragment->no_local_external_endpoints = true;
    }
  }

  // "-m tcp -p tcp -d <ip> --dport <port>" for one destination.
  auto append_destination = [&](std::string& out, absl::string_view ip) {
    AppendProtocol(out, proto);
    Append(out, " -d ", ip, " --dport ", port);
  };

  // ClusterIP.
  const std::string cluster_ip_comment = Quoted(name, " cluster IP");
  if (has_internal_endpoints) {
    std::string& out = fragment->nat_services;
    Append(out, "-A ", kServicesChain);
    AppendComment(out, cluster_ip_comment);
    append_destination(out, cluster_ip);
    Append(out, " -j ", *internal_chain, "\n");
  } else {
    std::string& out = fragment->filter_services;
    Append(out, "-A ", kServicesChain);
    AppendComment(out, internal_filter_comment);
    append_destination(out, cluster_ip);
    Append(out, " -j ", internal_filter_target, "\n");
  }

  // externalIPs.
  if (!svc.external_ips.empty()) {
    const std::string comment = Quoted(name, " external IP");
    for (const IpAddress& external_ip : svc.external_ips) {
      std::string ip;
      external_ip.AppendTo(ip);
      if (has_endpoints) {
        std::string& out = fragment->nat_services;
        Append(out, "-A ", kServicesChain);
        AppendComment(out, comment);
        append_destination(out, ip);
        Append(out, " -j ", external_chain, "\n");
      }
      if (!has_external_endpoints) {
        std::string& out = fragment->filter_external_services;
        Append(out, "-A ", kExternalServicesChain);
        AppendComment(out, external_filter_comment);
        append_destination(out, ip);
        Append(out, " -j ", external_filter_target, "\n");
      }
    }
  }

  // Load-balancer VIPs. Pass-through VIPs (annotation or ipMode: Proxy) are not in
  // load_balancer_vips and get no rule at all: their traffic leaves the node for the LB.
  std::vector<std::string> vip_strings;
  vip_strings.reserve(svc.load_balancer_vips.size());
  for (const IpAddress& vip : svc.load_balancer_vips) vip.AppendTo(vip_strings.emplace_back());
  if (!vip_strings.empty()) {
    const std::string comment = Quoted(name, " loadbalancer IP");
    const std::string firewall_comment = Quoted(name, " traffic not accepted by ", firewall_chain);
    for (const std::string& ip : vip_strings) {
      if (has_endpoints) {
        std::string& out = fragment->nat_services;
        Append(out, "-A ", kServicesChain);
        AppendComment(out, comment);
        append_destination(out, ip);
        Append(out, " -j ", load_balancer_chain, "\n");
      }
      if (uses_firewall_chain) {
        std::string& out = fragment->filter_proxy_firewall;
        Append(out, "-A ", kProxyFirewallChain);
        AppendComment(out, firewall_comment);
        append_destination(out, ip);
        Append(out, " -j DROP\n");
      }
    }
    if (!has_external_endpoints) {
      for (const std::string& ip : vip_strings) {
        std::string& out = fragment->filter_external_services;
        Append(out, "-A ", kExternalServicesChain);
        AppendComment(out, external_filter_comment);
        append_destination(out, ip);
        Append(out, " -j ", external_filter_target, "\n");
      }
    }
  }

  // NodePort. Not subject to loadBalancerSourceRanges, as upstream.
  if (svc.node_port != 0) {
    const std::string node_port = absl::StrCat(svc.node_port);
    if (has_endpoints) {
      std::string& out = fragment->nat_nodeports;
      if (localhost_node_ports_ && config_.nfacct_counters) {
        Append(out, "-A ", kNodePortsChain);
        AppendComment(out, name);
        AppendProtocol(out, proto);
        Append(out, " -d 127.0.0.0/8 --dport ", node_port,
                        " -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ", external_chain, "\n");
      }
      Append(out, "-A ", kNodePortsChain);
      AppendComment(out, name);
      AppendProtocol(out, proto);
      Append(out, " --dport ", node_port, " -j ", external_chain, "\n");
    }
    if (!has_external_endpoints) {
      std::string& out = fragment->filter_external_services;
      Append(out, "-A ", kExternalServicesChain);
      AppendComment(out, external_filter_comment);
      Append(out, " -m addrtype --dst-type LOCAL");
      AppendProtocol(out, proto);
      Append(out, " --dport ", node_port, " -j ", external_filter_target, "\n");
    }
  }

  // Health-check node port: accepted whether or not this node has local endpoints.
  if (svc.health_check_node_port != 0) {
    std::string& out = fragment->filter_nodeports;
    Append(out, "-A ", kNodePortsChain);
    AppendComment(out, Quoted(name, " health check node port"));
    Append(out, " -m tcp -p tcp --dport ", svc.health_check_node_port, " -j ACCEPT\n");
  }

  // The ServicePort's own nat chains. Rules are collected per chain name; chains are emitted in
  // upstream's order: EXT, FW, SVC, SVL, SEPs.
  std::string internal_masquerade;
  if (has_internal_endpoints && (config_.masquerade_all || detector.implemented)) {
    // Masquerade off-cluster traffic to the ClusterIP (or all of it with masqueradeAll).
    Append(internal_masquerade, "-A ", *internal_chain);
    AppendComment(internal_masquerade, cluster_ip_comment);
    append_destination(internal_masquerade, cluster_ip);
    if (!config_.masquerade_all) Append(internal_masquerade, " ", detector.if_not_local);
    Append(internal_masquerade, " -j ", kMarkMasqChain, "\n");
  }

  auto& chains = fragment->nat_chains;
  {
    // Measured sizes per endpoint (its SEP chain and its SVC rule), with comments or without.
    const size_t reachable = categorized.all_reachable_endpoints.size();
    const size_t per_endpoint = (large_cluster_mode ? 280 : 460) * (svc.session_affinity_client_ip ? 2 : 1);
    chains.Reserve(reachable + 4, per_endpoint * reachable + 1024);
  }
  if (uses_external_chain) {
    std::string& out = chains.Begin(external_chain);
    if (!svc.external_policy_local) {
      Append(out, "-A ", external_chain);
      AppendComment(out, Quoted("masquerade traffic for ", name, " external destinations"));
      Append(out, " -j ", kMarkMasqChain, "\n");
    } else {
      if (detector.implemented) {
        Append(out, "-A ", external_chain);
        AppendComment(out, Quoted("pod traffic for ", name, " external destinations"));
        Append(out, " ", detector.if_local, " -j ", cluster_chain, "\n");
      }
      Append(out, "-A ", external_chain);
      AppendComment(out, Quoted("masquerade LOCAL traffic for ", name, " external destinations"));
      Append(out, " -m addrtype --src-type LOCAL -j ", kMarkMasqChain, "\n");
      Append(out, "-A ", external_chain);
      AppendComment(out, Quoted("route LOCAL traffic for ", name, " external destinations"));
      Append(out, " -m addrtype --src-type LOCAL -j ", cluster_chain, "\n");
    }
    if (has_external_endpoints) Append(out, "-A ", external_chain, " -j ", *external_policy_chain, "\n");
    chains.End();
  }

  if (uses_firewall_chain) {
    std::string& out = chains.Begin(firewall_chain);
    const std::string comment = Quoted(name, " loadbalancer IP");
    const IpAddress* node_ip = node.node_ips.empty() ? nullptr : &node.node_ips.front();
    bool allow_from_node = false;
    for (const Cidr& cidr : svc.load_balancer_source_ranges) {
      Append(out, "-A ", firewall_chain);
      AppendComment(out, comment);
      Append(out, " -s ", cidr.ToString(), " -j ", external_chain, "\n");
      if (node_ip != nullptr && cidr.Contains(*node_ip)) allow_from_node = true;
    }
    // A VIP-like LB address is often local to the node; requests from the node then loop back
    // with the VIP as source.
    if (allow_from_node) {
      for (const std::string& ip : vip_strings) {
        Append(out, "-A ", firewall_chain);
        AppendComment(out, comment);
        Append(out, " -s ", ip, " -j ", external_chain, "\n");
      }
    }
    Append(out, "-A ", firewall_chain);
    AppendComment(out, Quoted("other traffic to ", name, " will be dropped by KUBE-PROXY-FIREWALL"));
    out.push_back('\n');
    chains.End();
  }

  // Endpoint strings and chain names, reusing the previous fragment's hashes.
  const EndpointList& reachable = categorized.all_reachable_endpoints;
  // The previous fragment's KUBE-SEP names by "ip:port" (the DNAT target ending each SEP chain),
  // so an endpoint's chain name is hashed once in its lifetime.
  std::vector<std::pair<absl::string_view, absl::string_view>> previous_names;
  if (previous != nullptr) {
    constexpr absl::string_view kTarget = "--to-destination ";
    for (const ChainView chain : previous->nat_chains) {
      if (!absl::StartsWith(chain.name, "KUBE-SEP-")) continue;
      const absl::string_view rules = chain.rules;
      const size_t pos = rules.rfind(kTarget);
      if (pos == absl::string_view::npos) continue;
      absl::string_view ip_port = rules.substr(pos + kTarget.size());
      if (absl::EndsWith(ip_port, "\n")) ip_port.remove_suffix(1);
      previous_names.emplace_back(ip_port, chain.name);
    }
    std::sort(previous_names.begin(), previous_names.end());
  }
  std::vector<EndpointStrings> endpoint_strings;
  endpoint_strings.reserve(reachable.size());
  for (const auto& endpoint : reachable) {
    EndpointStrings strings{endpoint.get(), {}, {}, 0, {}};
    endpoint->ip.AppendTo(strings.ip);
    {
      const bool v4 = endpoint->ip.is_v4();
      char* p = strings.ip_port_buffer.data();
      if (!v4) *p++ = '[';
      std::memcpy(p, strings.ip.data(), std::min<size_t>(strings.ip.size(), 45));
      p += std::min<size_t>(strings.ip.size(), 45);
      if (!v4) *p++ = ']';
      *p++ = ':';
      p = absl::numbers_internal::FastIntToBuffer(static_cast<int32_t>(endpoint->port), p);
      strings.ip_port_size = static_cast<size_t>(p - strings.ip_port_buffer.data());
    }
    auto it = std::lower_bound(previous_names.begin(), previous_names.end(), strings.ip_port(),
                               [](const auto& entry, absl::string_view key) { return entry.first < key; });
    if (it != previous_names.end() && it->first == strings.ip_port()) strings.chain = std::string(it->second);
    if (strings.chain.empty()) strings.chain = EndpointChainName(name, proto, strings.ip_port());
    endpoint_strings.push_back(std::move(strings));
  }
  // cluster_endpoints and local_endpoints are subsets of all_reachable_endpoints.
  absl::flat_hash_map<const Endpoint*, const EndpointStrings*> index;
  constexpr size_t kIndexThreshold = 16;
  if (endpoint_strings.size() > kIndexThreshold) {
    index.reserve(endpoint_strings.size());
    for (const EndpointStrings& strings : endpoint_strings) index.emplace(strings.endpoint, &strings);
  }
  auto strings_of = [&](const Endpoint& endpoint) -> const EndpointStrings& {
    if (!index.empty()) return *index.at(&endpoint);
    for (const EndpointStrings& strings : endpoint_strings) {
      if (strings.endpoint == &endpoint) return strings;
    }
    return endpoint_strings.front();  // unreachable: the selector returns subsets
  };

  auto write_service_to_endpoints = [&](const std::string& svc_chain, const EndpointList& targets) {
    std::string& out = chains.Begin(svc_chain);
    if (&svc_chain == internal_chain) out.append(internal_masquerade);
    if (svc.session_affinity_client_ip) {
      for (const auto& endpoint : targets) {
        const EndpointStrings& strings = strings_of(*endpoint);
        const std::string& sep = strings.chain;
        Append(out, "-A ", svc_chain);
        if (!large_cluster_mode) AppendComment(out, Quoted(name, " -> ", strings.ip_port()));
        Append(out, " -m recent --name ", sep, " --rcheck --seconds ", svc.sticky_max_age_seconds,
                        " --reap -j ", sep, "\n");
      }
    }
    const size_t n = targets.size();
    for (size_t i = 0; i < n; ++i) {
      const EndpointStrings& strings = strings_of(*targets[i]);
      Append(out, "-A ", svc_chain);
      if (!large_cluster_mode) AppendComment(out, Quoted(name, " -> ", strings.ip_port()));
      if (i + 1 < n) {
        out.append(" -m statistic --mode random --probability ");
        const size_t remaining = n - i;
        if (remaining < probabilities_.size()) {
          out.append(probabilities_[remaining]);
        } else {
          out.append(FormatProbability(remaining));
        }
      }
      Append(out, " -j ", strings.chain, "\n");
    }
    chains.End();
  };
  if (uses_cluster_chain) write_service_to_endpoints(cluster_chain, categorized.cluster_endpoints);
  if (uses_local_chain) write_service_to_endpoints(local_chain, categorized.local_endpoints);
  // The internal masquerade rule belongs to the internal chain even when it has no endpoint rules
  // of its own (cannot happen upstream either: has_internal_endpoints implies the chain is used).

  for (const EndpointStrings& strings : endpoint_strings) {
    const std::string& sep = strings.chain;
    std::string& out = chains.Begin(sep);
    const std::string& ip = strings.ip;
    Append(out, "-A ", sep);
    if (!large_cluster_mode) AppendComment(out, name);
    Append(out, " -s ", ip, " -j ", kMarkMasqChain, "\n");
    Append(out, "-A ", sep);
    if (!large_cluster_mode) AppendComment(out, name);
    if (svc.session_affinity_client_ip) Append(out, " -m recent --name ", sep, " --set");
    AppendProtocol(out, proto);
    Append(out, " -j DNAT --to-destination ", strings.ip_port(), "\n");
    chains.End();
  }
  chains.Trim();
  return fragment;
}

void IptablesPlanner::BuildTopLevelChains(IptablesPlan& plan, const IptablesPlan* base,
                                          const std::array<bool, kTopLevelMemberCount>& member_changed) const {
  static_assert(kTopLevelMembers.size() == kTopLevelMemberCount);
  const bool v6 = config_.family == IpFamily::kIPv6;
  // Appends the chain named `name` to `list`: `base`'s copy at the same position when it may be
  // reused (member < 0: a static chain), else a new one from `build`.
  auto add = [&](SharedChainList& list, const SharedChainList* base_list, absl::string_view name, int member,
                 auto build) {
    const size_t i = list.size();
    if (base_list != nullptr && i < base_list->size() && (*base_list)[i].name == name &&
        (member < 0 || !member_changed[member])) {
      list.push_back(base_list->shared(i));
      return;
    }
    list.push_back(PlannedChain{std::string(name), build()});
  };
  const SharedChainList* base_filter = base != nullptr ? &base->filter_chains : nullptr;
  const SharedChainList* base_nat = base != nullptr ? &base->nat_chains : nullptr;
  // Concatenate each ServicePort's lines of one top-level chain, in ServicePortName order.
  auto gather = [&](size_t index) {
    std::string ServicePortFragment::*member = kTopLevelMembers[index];
    size_t size = 0;
    for (const auto& [name, fragment] : plan.fragments) size += ((*fragment).*member).size();
    std::string out;
    out.reserve(size + 256);
    for (const auto& [name, fragment] : plan.fragments) out.append((*fragment).*member);
    return out;
  };

  // filter
  add(plan.filter_chains, base_filter, kNodePortsChain, kFilterNodePorts, [&] { return gather(kFilterNodePorts); });
  add(plan.filter_chains, base_filter, kServicesChain, kFilterServices, [&] { return gather(kFilterServices); });
  add(plan.filter_chains, base_filter, kExternalServicesChain, kFilterExternalServices,
      [&] { return gather(kFilterExternalServices); });
  if (localhost_node_ports_) {
    // route_localnet opens a hole (kubernetes#90259) which this rule, identical to kubelet's, closes.
    add(plan.filter_chains, base_filter, kKubeletFirewallChain, -1, [&] {
      return absl::StrCat("-A ", kKubeletFirewallChain,
                          " -m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 "
                          "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n");
    });
  }
  add(plan.filter_chains, base_filter, kForwardChain, -1, [&] { return shared_rules_.ForwardRules(); });
  add(plan.filter_chains, base_filter, kProxyFirewallChain, kFilterProxyFirewall,
      [&] { return gather(kFilterProxyFirewall); });

  // nat
  add(plan.nat_chains, base_nat, kNodePortsChain, kNatNodePorts, [&] { return gather(kNatNodePorts); });
  add(plan.nat_chains, base_nat, kServicesChain, kNatServices, [&] {
    std::string out = gather(kNatServices);
    constexpr absl::string_view kNodePortsComment =
        " -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in "
        "this chain\"";
    if (config_.node_port_addresses.MatchAll()) {
      Append(out, "-A ", kServicesChain, kNodePortsComment, " -m addrtype --dst-type LOCAL");
      // Localhost NodePorts never work on IPv6, and on IPv4 only with route_localnet.
      if (v6) {
        out.append(" ! -d ::1/128");
      } else if (!localhost_node_ports_) {
        out.append(" ! -d 127.0.0.0/8");
      }
      Append(out, " -j ", kNodePortsChain, "\n");
    } else {
      // Only the selected addresses; when none is selected, NodePorts get no entry point at all
      // (never the "every local address" jump above).
      for (const IpAddress& ip : plan.node_port_ips) {
        if (ip.family() != config_.family) continue;
        if (ip.IsLoopback() && (v6 || !localhost_node_ports_)) continue;
        Append(out, "-A ", kServicesChain, kNodePortsComment, " -d ", ip.ToString(), " -j ",
                        kNodePortsChain, "\n");
      }
    }
    return out;
  });
  add(plan.nat_chains, base_nat, kMarkMasqChain, -1, [&] { return shared_rules_.MarkMasqRules(); });
  add(plan.nat_chains, base_nat, kPostroutingChain, -1, [&] { return shared_rules_.PostroutingRules(); });
}

}  // namespace kproxy::proxier::iptables
