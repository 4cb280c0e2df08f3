#include "proxier/nftables/nftables_planner.h"

#include "proxier/nftables/nft_fragment.h"

// The ruleset's shape, and why.
//
// Upstream's nftables mode gives every endpoint a chain and picks one with a
// `numgen random mod N vmap { 0 : goto endpoint-A, ... }` rule, so an endpoint change rewrites
// rules that hold goto and dnat: nf_tables then re-validates the whole table at commit, which costs
// O(table) (70-280 ms at 2k-10k Services here). This table keeps every rule and every verdict
// element a function of the Services alone; what depends on endpoints is data:
//   - each ServicePort's endpoints are an interval map `endpoints-<base>` from a numgen slot
//     (0..720719) to `address . port`, read by one fixed DNAT rule of its `service-<base>` chain
//     (`local-endpoints-<base>` and `local-<base>` for a Local traffic policy); an empty map makes
//     the DNAT rule not match, and the filter chains then reject or drop from data sets;
//   - REJECT / DROP for Services without (local) endpoints: the sets no-endpoint-services-reject /
//     -drop and no-endpoint-nodeports-reject / -drop, matched in filter input/forward/output;
//   - hairpin masquerade: the set hairpin-connections of `endpoint . endpoint . proto . port`,
//     matched after DNAT in nat postrouting;
//   - terminating fallback and topology: which endpoints the maps hold (CategorizeEndpoints);
//   - session affinity: a timeout map `affinity-<base>` from client address to `address . port`,
//     read by a DNAT rule before the random one and written after DNAT (filter prerouting/output
//     at priority -90) by `affinity-update-<base>`, reached through the vmap affinity-services
//     (keyed by the connection's original destination). An endpoint that leaves the endpoints
//     map makes the diff flush the affinity map (NftSet::flush_when_values_leave), so no client
//     stays stuck to a gone endpoint; the other clients of that Service choose again. IPv6 keeps
//     address and port in two maps (affinity-<base>, affinity-port-<base>): nft 1.0.6 aborts on
//     an ip6 `update` whose value is `address . port`.
// Adding or removing a Service changes a constant number of chains, rules and verdict elements.
// NftablesSyncPlanner (nftables_sync_planner.h) re-plans only the changed Services per sync.

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "proxier/endpoint_selector.h"

namespace kproxy::proxier::nftables {
namespace {

// Base chains: "<type>-<hook>[-pre-dnat|-post-dnat]".
constexpr char kFilterPreroutingPreDnat[] = "filter-prerouting-pre-dnat";
constexpr char kFilterOutputPreDnat[] = "filter-output-pre-dnat";
constexpr char kFilterPreroutingPostDnat[] = "filter-prerouting-post-dnat";
constexpr char kFilterOutputPostDnat[] = "filter-output-post-dnat";
constexpr char kFilterInput[] = "filter-input";
constexpr char kFilterForward[] = "filter-forward";
constexpr char kFilterOutput[] = "filter-output";
constexpr char kNatPrerouting[] = "nat-prerouting";
constexpr char kNatOutput[] = "nat-output";
constexpr char kNatPostrouting[] = "nat-postrouting";
// Table-wide regular chains, sets and maps.
constexpr char kServicesChain[] = "services";
constexpr char kServiceIpsMap[] = "service-ips";
constexpr char kServiceNodePortsMap[] = "service-nodeports";
constexpr char kNodePortIpsSet[] = "nodeport-ips";
constexpr char kClusterIpsSet[] = "cluster-ips";
constexpr char kClusterIpsCheckChain[] = "cluster-ips-check";
constexpr char kServiceEndpointsCheckChain[] = "service-endpoints-check";
constexpr char kNodePortEndpointsCheckChain[] = "nodeport-endpoints-check";
constexpr char kNoEndpointServicesRejectSet[] = "no-endpoint-services-reject";
constexpr char kNoEndpointServicesDropSet[] = "no-endpoint-services-drop";
constexpr char kNoEndpointNodePortsRejectSet[] = "no-endpoint-nodeports-reject";
constexpr char kNoEndpointNodePortsDropSet[] = "no-endpoint-nodeports-drop";
constexpr char kFirewallIpsMap[] = "firewall-ips";
constexpr char kFirewallCheckChain[] = "firewall-check";
constexpr char kMarkMasqChain[] = "mark-for-masquerade";
constexpr char kMasqueradingChain[] = "masquerading";
constexpr char kHairpinSet[] = "hairpin-connections";
constexpr char kAffinityCheckChain[] = "affinity-check";
constexpr char kAffinityServicesMap[] = "affinity-services";
constexpr char kAffinityNodePortsMap[] = "affinity-nodeports";
constexpr char kLocalEndpointsSet[] = "local-endpoints";

// Priorities as numbers: nft 1.0.6 rejects "dstnat" for a nat chain on the output hook.
constexpr int kPreDnatPriority = -110;
constexpr int kDnatPriority = -100;
constexpr int kPostDnatPriority = -90;
constexpr int kFilterPriority = 0;
constexpr int kSnatPriority = 100;

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// nftables names are at most 255 bytes; the longest prefix here is 16 ("affinity-update-").
constexpr size_t kNameBaseLengthMax = 255 - 16;

struct FamilyText {
  std::string ipx;        // "ip" / "ip6"
  std::string addr_type;  // "ipv4_addr" / "ipv6_addr"
  std::string loopback;   // "127.0.0.0/8" / "::1"
};

FamilyText TextFor(IpFamily family) {
  if (family == IpFamily::kIPv4) return {"ip", "ipv4_addr", "127.0.0.0/8"};
  return {"ip6", "ipv6_addr", "::1"};
}

// The nft matches for "from a local pod" and its negation (upstream's IfLocalNFT/IfNotLocalNFT).
struct LocalMatch {
  std::string if_local;
  std::string if_not_local;
  bool implemented() const { return !if_local.empty(); }
};

LocalMatch MakeLocalMatch(const NftablesPlannerOptions& options, const NodeContext& node,
                          IpFamily family, const FamilyText& text) {
  auto from_cidrs = [&](const std::vector<Cidr>& cidrs) -> LocalMatch {
    for (const Cidr& cidr : cidrs) {
      if (cidr.family() != family) continue;
      return {absl::StrCat(text.ipx, " saddr ", cidr.ToString()),
              absl::StrCat(text.ipx, " saddr != ", cidr.ToString())};
    }
    return {};
  };
  auto from_interface = [](const std::string& name) -> LocalMatch {
    if (name.empty()) return {};
    return {absl::StrCat("iifname \"", name, "\""), absl::StrCat("iifname != \"", name, "\"")};
  };
  switch (options.local_detect_mode) {
    case LocalDetectMode::kNone:
      return {};
    case LocalDetectMode::kClusterCidr:
      return from_cidrs(options.cluster_cidrs);
    case LocalDetectMode::kNodeCidr:
      return from_cidrs(node.pod_cidrs);
    case LocalDetectMode::kBridgeInterface:
      return from_interface(options.bridge_interface);
    case LocalDetectMode::kInterfaceNamePrefix:
      return options.interface_name_prefix.empty()
                 ? LocalMatch{}
                 : from_interface(absl::StrCat(options.interface_name_prefix, "*"));
  }
  return {};
}

// Collects one fragment.
class FragmentBuilder {
 public:
  NftChain& Chain(std::string name, std::string comment = "") {
    NftChain& chain = chains_[name];
    chain.name = std::move(name);
    if (!comment.empty()) chain.comment = std::move(comment);
    return chain;
  }
  NftChain& BaseChain(const std::string& name, const std::string& type, const std::string& hook,
                      int priority) {
    NftChain& chain = Chain(name);
    chain.base = NftBaseHook{type, hook, priority};
    return chain;
  }
  void Rule(const std::string& chain, std::string statement, std::string comment = "") {
    chains_[chain].rules.push_back(NftRule{std::move(statement), std::move(comment)});
  }
  void Set(NftSet set) {
    std::string name = set.name;
    sets_[name] = std::move(set);
  }
  void Element(const std::string& set, std::vector<std::string> key,
               std::vector<std::string> value = {}, std::string comment = "") {
    fragment_.elements.emplace_back(
        set, NftElement{std::move(key), std::move(value), std::move(comment)});
  }

  NftFragment Finish() && {
    for (auto& [name, chain] : chains_) fragment_.chains.push_back(std::move(chain));
    for (auto& [name, set] : sets_) fragment_.sets.push_back(std::move(set));
    return std::move(fragment_);
  }

 private:
  NftFragment fragment_;
  std::map<std::string, NftChain> chains_;  // sorted by name
  std::map<std::string, NftSet> sets_;
};

NftSet MakeSet(std::string name, std::vector<std::string> key_types,
               std::vector<std::string> value_types, std::string comment) {
  NftSet set;
  set.name = std::move(name);
  set.key_types = std::move(key_types);
  set.value_types = std::move(value_types);
  set.comment = std::move(comment);
  return set;
}

// An address match's right-hand side as `nft list` prints it back: contained prefixes left out,
// sorted, a single prefix bare ("10.0.0.0/8"), several as an anonymous set ("{ a, b }"), host
// prefixes as plain addresses.
std::string PrefixMatch(std::vector<Cidr> cidrs) {
  std::sort(cidrs.begin(), cidrs.end(), [](const Cidr& a, const Cidr& b) {
    if (a.address() != b.address()) return a.address() < b.address();
    return a.prefix_length() < b.prefix_length();
  });
  std::vector<std::string> kept;
  std::vector<Cidr> outer;
  for (const Cidr& cidr : cidrs) {
    bool contained = false;
    for (const Cidr& o : outer) {
      if (o.prefix_length() <= cidr.prefix_length() && o.Contains(cidr.address())) contained = true;
    }
    if (contained) continue;
    outer.push_back(cidr);
    const int full = cidr.family() == IpFamily::kIPv4 ? 32 : 128;
    kept.push_back(cidr.prefix_length() == full ? cidr.address().ToString() : cidr.ToString());
  }
  if (kept.size() == 1) return kept.front();
  return absl::StrCat("{ ", absl::StrJoin(kept, ", "), " }");
}

// Slot ranges of `count` endpoints over 0..kNumgenModulus-1, as equal as integers allow.
std::vector<std::string> SlotRanges(size_t count) {
  std::vector<std::string> ranges;
  if (count == 0) return ranges;
  count = std::min<size_t>(count, kNumgenModulus);
  const int64_t share = kNumgenModulus / count;
  const int64_t remainder = kNumgenModulus % count;
  int64_t start = 0;
  for (size_t i = 0; i < count; ++i) {
    const int64_t size = share + (static_cast<int64_t>(i) < remainder ? 1 : 0);
    ranges.push_back(absl::StrCat(start, "-", start + size - 1));
    start += size;
  }
  return ranges;
}

}  // namespace

class NftFragmentPlanner::Impl {
 public:
  Impl(IpFamily family, const NodeContext& node, const NftablesPlannerOptions& options)
      : family_(family),
        node_(node),
        options_(options),
        text_(TextFor(family)),
        mark_(absl::StrFormat("0x%08x", 1u << options.masquerade_bit)),
        local_match_(MakeLocalMatch(options, node, family, text_)) {
    for (const IpAddress& ip : options.node_port_addresses) {
      if (ip.family() != family || ip.IsLoopback()) continue;
      node_port_ips_.push_back(ip);
    }
    std::sort(node_port_ips_.begin(), node_port_ips_.end());
    node_port_ips_.erase(std::unique(node_port_ips_.begin(), node_port_ips_.end()),
                         node_port_ips_.end());
    node_ports_on_all_addresses_ =
        options.node_ports_on_all_addresses && options.node_port_addresses.empty();
  }

  NftFragment TableWide() const {
    FragmentBuilder builder;
    out_ = &builder;
    PlanTableWide();
    out_ = nullptr;
    return std::move(builder).Finish();
  }

  NftFragment ForServicePort(const ServicePort& service, const EndpointList& endpoints) const {
    FragmentBuilder builder;
    out_ = &builder;
    if (service.family == family_) PlanServicePort(service, endpoints);
    out_ = nullptr;
    return std::move(builder).Finish();
  }

 private:
  void PlanTableWide() const {
    const std::string& ipx = text_.ipx;
    const std::string service_key_type =
        absl::StrCat(text_.addr_type, " . inet_proto . inet_service");
    // Base chains and the jumps into the table-wide chains.
    out_->BaseChain(kFilterPreroutingPreDnat, "filter", "prerouting", kPreDnatPriority);
    out_->BaseChain(kFilterOutputPreDnat, "filter", "output", kPreDnatPriority);
    out_->BaseChain(kNatPrerouting, "nat", "prerouting", kDnatPriority);
    out_->BaseChain(kNatOutput, "nat", "output", kDnatPriority);
    out_->BaseChain(kFilterPreroutingPostDnat, "filter", "prerouting", kPostDnatPriority);
    out_->BaseChain(kFilterOutputPostDnat, "filter", "output", kPostDnatPriority);
    out_->BaseChain(kFilterInput, "filter", "input", kFilterPriority);
    out_->BaseChain(kFilterForward, "filter", "forward", kFilterPriority);
    out_->BaseChain(kFilterOutput, "filter", "output", kFilterPriority);
    out_->BaseChain(kNatPostrouting, "nat", "postrouting", kSnatPriority);
    auto jump_new = [&](const char* from, const char* to) {
      out_->Rule(from, absl::StrCat("ct state new jump ", to));
    };
    jump_new(kFilterPreroutingPreDnat, kFirewallCheckChain);
    jump_new(kFilterOutputPreDnat, kFirewallCheckChain);
    out_->Rule(kNatPrerouting, absl::StrCat("jump ", kServicesChain));
    out_->Rule(kNatOutput, absl::StrCat("jump ", kServicesChain));
    out_->Rule(kFilterPreroutingPostDnat,
               absl::StrCat("ct state new ct status dnat jump ", kAffinityCheckChain));
    out_->Rule(kFilterOutputPostDnat,
               absl::StrCat("ct state new ct status dnat jump ", kAffinityCheckChain));
    jump_new(kFilterInput, kNodePortEndpointsCheckChain);
    jump_new(kFilterInput, kServiceEndpointsCheckChain);
    jump_new(kFilterForward, kServiceEndpointsCheckChain);
    jump_new(kFilterForward, kClusterIpsCheckChain);
    jump_new(kFilterOutput, kServiceEndpointsCheckChain);
    jump_new(kFilterOutput, kClusterIpsCheckChain);
    out_->Rule(kNatPostrouting, absl::StrCat("jump ", kMasqueradingChain));

    // Masquerading: the mark, and hairpin connections (an endpoint reaching itself).
    out_->Chain(kMarkMasqChain);
    out_->Rule(kMarkMasqChain, absl::StrCat("meta mark set meta mark | ", mark_));
    out_->Chain(kMasqueradingChain);
    out_->Rule(
        kMasqueradingChain,
        absl::StrCat("ct status dnat ", ipx, " saddr . ", ipx, " daddr . meta l4proto . th dport @",
                     kHairpinSet, " jump ", kMarkMasqChain),
        "hairpin");
    out_->Rule(kMasqueradingChain, absl::StrCat("meta mark & ", mark_, " == 0x00000000 return"));
    out_->Rule(kMasqueradingChain, absl::StrCat("meta mark set meta mark ^ ", mark_));
    out_->Rule(kMasqueradingChain, "masquerade fully-random");
    out_->Set(MakeSet(kHairpinSet, {text_.addr_type, text_.addr_type, "inet_proto", "inet_service"},
                      {}, "endpoint . endpoint . protocol . port of connections to masquerade"));

    // Service dispatch.
    out_->Set(MakeSet(kServiceIpsMap, {service_key_type}, {"verdict"},
                      "ClusterIP, ExternalIP and LoadBalancer IP traffic"));
    out_->Set(MakeSet(kServiceNodePortsMap, {"inet_proto . inet_service"}, {"verdict"},
                      "NodePort traffic"));
    out_->Set(MakeSet(kNodePortIpsSet, {text_.addr_type}, {}, "IPs that accept NodePort traffic"));
    for (const IpAddress& ip : node_port_ips_) out_->Element(kNodePortIpsSet, {ip.ToString()});
    out_->Chain(kServicesChain);
    out_->Rule(kServicesChain,
               absl::StrCat(ipx, " daddr . meta l4proto . th dport vmap @", kServiceIpsMap));
    out_->Rule(kServicesChain,
               absl::StrCat(NodePortDestination(), " meta l4proto . th dport vmap @",
                            kServiceNodePortsMap));

    // No (local) endpoints: reject or drop new connections, from data sets.
    out_->Set(MakeSet(kNoEndpointServicesRejectSet, {service_key_type}, {},
                      "Service addresses and ports without endpoints: reject"));
    out_->Set(MakeSet(kNoEndpointServicesDropSet, {service_key_type}, {},
                      "Service addresses and ports without usable local endpoints: drop"));
    out_->Set(MakeSet(kNoEndpointNodePortsRejectSet, {"inet_proto . inet_service"}, {},
                      "NodePorts without endpoints: reject"));
    out_->Set(MakeSet(kNoEndpointNodePortsDropSet, {"inet_proto . inet_service"}, {},
                      "NodePorts without usable local endpoints: drop"));
    out_->Chain(kServiceEndpointsCheckChain);
    out_->Rule(kServiceEndpointsCheckChain, absl::StrCat(ipx, " daddr . meta l4proto . th dport @",
                                                         kNoEndpointServicesRejectSet, " reject"));
    out_->Rule(kServiceEndpointsCheckChain, absl::StrCat(ipx, " daddr . meta l4proto . th dport @",
                                                         kNoEndpointServicesDropSet, " drop"));
    // Reached from filter-input only, so the destination is local already.
    const std::string node_port_input = node_ports_on_all_addresses_
                                            ? absl::StrCat(ipx, " daddr != ", text_.loopback)
                                            : absl::StrCat(ipx, " daddr @", kNodePortIpsSet);
    out_->Chain(kNodePortEndpointsCheckChain);
    out_->Rule(kNodePortEndpointsCheckChain,
               absl::StrCat(node_port_input, " meta l4proto . th dport @",
                            kNoEndpointNodePortsRejectSet, " reject"));
    out_->Rule(kNodePortEndpointsCheckChain,
               absl::StrCat(node_port_input, " meta l4proto . th dport @",
                            kNoEndpointNodePortsDropSet, " drop"));

    // ClusterIPs: an undefined port is rejected, an unallocated address of a ServiceCIDR dropped.
    out_->Set(MakeSet(kClusterIpsSet, {text_.addr_type}, {}, "Active ClusterIPs"));
    out_->Chain(kClusterIpsCheckChain);
    out_->Rule(kClusterIpsCheckChain, absl::StrCat(ipx, " daddr @", kClusterIpsSet, " reject"),
               "Reject traffic to invalid ports of ClusterIPs");
    std::vector<Cidr> service_cidrs;
    for (const Cidr& cidr : options_.service_cidrs) {
      if (cidr.family() == family_) service_cidrs.push_back(cidr);
    }
    if (!service_cidrs.empty()) {
      out_->Rule(kClusterIpsCheckChain,
                 absl::StrCat(ipx, " daddr ", PrefixMatch(std::move(service_cidrs)), " drop"),
                 "Drop traffic to unallocated ClusterIPs");
    }

    // loadBalancerSourceRanges.
    out_->Set(MakeSet(kFirewallIpsMap, {service_key_type}, {"verdict"},
                      "destinations that are subject to LoadBalancerSourceRanges"));
    out_->Chain(kFirewallCheckChain);
    out_->Rule(kFirewallCheckChain,
               absl::StrCat(ipx, " daddr . meta l4proto . th dport vmap @", kFirewallIpsMap));

    // Session affinity, recorded after DNAT by the original destination's Service.
    out_->Set(MakeSet(kAffinityServicesMap, {service_key_type}, {"verdict"},
                      "Service addresses and ports with ClientIP session affinity"));
    out_->Set(MakeSet(kAffinityNodePortsMap, {"inet_proto . inet_service"}, {"verdict"},
                      "NodePorts with ClientIP session affinity"));
    out_->Set(MakeSet(kLocalEndpointsSet, {service_key_type}, {},
                      "local endpoints of Services with session affinity and a Local policy"));
    out_->Chain(kAffinityCheckChain);
    const std::string original = "meta l4proto { tcp, udp, sctp } ct original ";
    out_->Rule(kAffinityCheckChain,
               absl::StrCat(original, ipx, " daddr . meta l4proto . ct original proto-dst vmap @",
                            kAffinityServicesMap));
    out_->Rule(
        kAffinityCheckChain,
        absl::StrCat(original, ipx,
                     node_ports_on_all_addresses_ ? absl::StrCat(" daddr != ", text_.loopback)
                                                  : absl::StrCat(" daddr @", kNodePortIpsSet),
                     " meta l4proto . ct original proto-dst vmap @", kAffinityNodePortsMap));
  }

  // The match for "addressed to a NodePort address" in the nat chains.
  std::string NodePortDestination() const {
    if (node_ports_on_all_addresses_) {
      return absl::StrCat("fib daddr type local ", text_.ipx, " daddr != ", text_.loopback);
    }
    return absl::StrCat(text_.ipx, " daddr @", kNodePortIpsSet);
  }

  void AddEndpointMap(const std::string& name, const std::string& comment, Protocol protocol,
                      const EndpointList& endpoints) const {
    NftSet map;
    map.name = name;
    map.comment = comment;
    map.use_typeof = true;
    map.interval = true;
    map.key_types = {absl::StrCat("numgen random mod ", kNumgenModulus)};
    // "tcp dport", not "th dport": nft 1.0.6 cannot add a DNAT rule reading an existing map
    // whose typeof says "th dport" ("conflicting protocols specified: tcp vs. th").
    map.value_types = {absl::StrCat(text_.ipx, " daddr"),
                       absl::StrCat(ProtocolLowerName(protocol), " dport")};
    out_->Set(std::move(map));
    const std::vector<std::string> ranges = SlotRanges(endpoints.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
      out_->Element(name, {ranges[i]},
                    {endpoints[i]->ip.ToString(), absl::StrCat(endpoints[i]->port)});
    }
  }

  // The port map of an affinity map, for IPv6 (see AddAffinityMaps).
  static std::string PortMapOf(const std::string& affinity_map, bool local) {
    const absl::string_view base =
        absl::StripPrefix(affinity_map, local ? absl::string_view("affinity-local-")
                                              : absl::string_view("affinity-"));
    return absl::StrCat(local ? "affinity-lport-" : "affinity-port-", base);
  }

  // Client address -> endpoint address . port, filled after DNAT. IPv6 splits it into an address
  // map and a port map: nft 1.0.6 aborts on `update @m { ip6 saddr : ip6 daddr . th dport }`
  // (netlink_gen_expr: "dreg < ctx->reg_low"), so the renderer's output would not load.
  void AddAffinityMaps(const std::string& name, bool local, const std::string& comment,
                       const std::string& endpoint_map, int32_t timeout_seconds) const {
    auto add = [&](const std::string& map_name, std::vector<std::string> value_types) {
      NftSet map = MakeSet(map_name, {text_.addr_type}, std::move(value_types), comment);
      map.timeout = true;
      map.default_timeout = absl::Seconds(timeout_seconds);
      map.flush_when_values_leave = endpoint_map;
      out_->Set(std::move(map));
    };
    if (family_ == IpFamily::kIPv4) {
      add(name, {text_.addr_type, "inet_service"});
    } else {
      add(name, {text_.addr_type});
      add(PortMapOf(name, local), {"inet_service"});
    }
  }

  // The rules that record a client's endpoint in the affinity map(s), after `guard` if any.
  void AddAffinityUpdates(const std::string& chain, const std::string& guard,
                          const std::string& name, bool local) const {
    const std::string& ipx = text_.ipx;
    if (family_ == IpFamily::kIPv4) {
      out_->Rule(chain, absl::StrCat(guard, "update @", name, " { ", ipx, " saddr : ", ipx,
                                     " daddr . th dport }"));
      return;
    }
    out_->Rule(chain,
               absl::StrCat(guard, "update @", name, " { ", ipx, " saddr : ", ipx, " daddr }"));
    out_->Rule(chain, absl::StrCat(guard, "update @", PortMapOf(name, local), " { ", ipx,
                                   " saddr : th dport }"));
  }

  // The chain that picks an endpoint: optional masquerade rule for ClusterIP traffic, the
  // affinity lookup, then the random choice. Both DNAT rules fall through when their map has no
  // element for the packet.
  void AddPolicyChain(const std::string& chain, bool masquerade_cluster_ip, const ServicePort& svc,
                      const std::string& affinity_map, bool local,
                      const std::string& endpoint_map) const {
    const std::string& ipx = text_.ipx;
    const std::string proto(ProtocolLowerName(svc.protocol));
    out_->Chain(chain);
    if (masquerade_cluster_ip && !svc.cluster_ip.IsUnspecified()) {
      const std::string destination =
          absl::StrCat(ipx, " daddr ", svc.cluster_ip.ToString(), " ", proto, " dport ", svc.port);
      if (options_.masquerade_all) {
        out_->Rule(chain, absl::StrCat(destination, " jump ", kMarkMasqChain));
      } else if (local_match_.implemented()) {
        // Off-cluster traffic to a ClusterIP (a route to the Service range via this node) may
        // leave the node again: masquerade it.
        out_->Rule(chain, absl::StrCat(destination, " ", local_match_.if_not_local, " jump ",
                                       kMarkMasqChain));
      }
    }
    if (!affinity_map.empty() && family_ == IpFamily::kIPv4) {
      out_->Rule(chain, absl::StrCat("meta l4proto ", proto, " dnat ", ipx, " to ", ipx,
                                     " saddr map @", affinity_map));
    } else if (!affinity_map.empty()) {
      // Written as `nft list` prints it back.
      out_->Rule(chain, absl::StrCat("meta l4proto ", proto, " dnat to ", ipx, " saddr map @",
                                     affinity_map, ":", ipx, " saddr map @",
                                     PortMapOf(affinity_map, local)));
    }
    out_->Rule(chain, absl::StrCat("meta l4proto ", proto, " dnat ", ipx, " to numgen random mod ",
                                   kNumgenModulus, " map @", endpoint_map));
  }

  void PlanServicePort(const ServicePort& svc, const EndpointList& all_endpoints) const {
    const std::string& ipx = text_.ipx;
    const std::string base = ServicePortNameBase(svc.name);
    const std::string display = svc.name.ToString();  // "ns/svc:port"
    const std::string proto(ProtocolLowerName(svc.protocol));
    const std::string port = absl::StrCat(svc.port);
    const CategorizedEndpoints categorized = CategorizeEndpoints(all_endpoints, svc, node_);

    const std::string cluster_chain = "service-" + base;
    const std::string local_chain = "local-" + base;
    const std::string external_chain = "external-" + base;
    const std::string firewall_chain = "firewall-" + base;
    const std::string affinity_update_chain = "affinity-update-" + base;
    const std::string cluster_map = "endpoints-" + base;
    const std::string local_map = "local-endpoints-" + base;
    const std::string cluster_affinity = "affinity-" + base;
    const std::string local_affinity = "affinity-local-" + base;

    const bool uses_cluster = svc.UsesClusterEndpoints();
    const bool uses_local = svc.UsesLocalEndpoints();
    const bool affinity = svc.session_affinity_client_ip;
    const bool has_endpoints = categorized.has_any_endpoints;
    const bool internal_local = svc.internal_policy_local;
    const bool external_local = svc.external_policy_local;
    const bool has_internal =
        has_endpoints && (!internal_local || !categorized.local_endpoints.empty());
    const bool has_external =
        has_endpoints && (!external_local || !categorized.local_endpoints.empty());
    const std::string& internal_chain = internal_local ? local_chain : cluster_chain;
    const bool external = svc.ExternallyAccessible();

    // Endpoint selection chains and their maps (the data).
    if (uses_cluster) {
      AddEndpointMap(cluster_map, "endpoints of " + display, svc.protocol,
                     categorized.cluster_endpoints);
      if (affinity) {
        AddAffinityMaps(cluster_affinity, /*local=*/false, "session affinity of " + display,
                        cluster_map, svc.sticky_max_age_seconds);
      }
      AddPolicyChain(cluster_chain, !internal_local, svc, affinity ? cluster_affinity : "",
                     /*local=*/false, cluster_map);
    }
    if (uses_local) {
      AddEndpointMap(local_map, "local endpoints of " + display, svc.protocol,
                     categorized.local_endpoints);
      if (affinity) {
        AddAffinityMaps(local_affinity, /*local=*/true,
                        "session affinity to local endpoints of " + display, local_map,
                        svc.sticky_max_age_seconds);
      }
      AddPolicyChain(local_chain, internal_local, svc, affinity ? local_affinity : "",
                     /*local=*/true, local_map);
    }

    // Traffic to external destinations (NodePort, externalIPs, LB IPs).
    if (external) {
      out_->Chain(external_chain);
      if (!external_local) {
        // Endpoints may be on other nodes: masquerade so replies come back through this node.
        out_->Rule(external_chain, absl::StrCat("jump ", kMarkMasqChain));
        out_->Rule(external_chain, "goto " + cluster_chain);
      } else {
        if (local_match_.implemented()) {
          // Pods reaching an external address behave as if they went out to the load balancer
          // and came back: neither traffic policy applies.
          out_->Rule(external_chain, absl::StrCat(local_match_.if_local, " goto ", cluster_chain),
                     "short-circuit pod traffic");
        }
        // The node itself: its source would be the external address; masquerade it.
        out_->Rule(external_chain, absl::StrCat("fib saddr type local jump ", kMarkMasqChain),
                   "masquerade local traffic");
        out_->Rule(external_chain, "fib saddr type local goto " + cluster_chain,
                   "short-circuit local traffic");
        out_->Rule(external_chain, "goto " + local_chain);
      }
    }

    // Dispatch (verdict elements: they change with the Service only, never with its endpoints).
    const bool has_cluster_ip = !svc.cluster_ip.IsUnspecified();
    if (has_cluster_ip) {
      const std::string cluster_ip = svc.cluster_ip.ToString();
      out_->Element(kClusterIpsSet, {cluster_ip});
      out_->Element(kServiceIpsMap, {cluster_ip, proto, port}, {"goto " + internal_chain});
    }
    std::vector<std::string>
        external_addresses;  // externalIPs, then LB IPs (pass-through left out)
    for (const IpAddress& ip : svc.external_ips) external_addresses.push_back(ip.ToString());
    for (const IpAddress& ip : svc.load_balancer_vips) external_addresses.push_back(ip.ToString());
    for (const std::string& address : external_addresses) {
      out_->Element(kServiceIpsMap, {address, proto, port}, {"goto " + external_chain});
    }
    if (svc.node_port != 0) {
      out_->Element(kServiceNodePortsMap, {proto, absl::StrCat(svc.node_port)},
                    {"goto " + external_chain});
    }

    // loadBalancerSourceRanges: only LB IPs are firewalled (NodePorts never were).
    const bool firewalled =
        !svc.load_balancer_vips.empty() &&
        (!svc.load_balancer_source_ranges.empty() || svc.source_ranges_deny_all);
    if (firewalled) {
      out_->Chain(firewall_chain);
      if (svc.source_ranges_deny_all) {
        // Ranges were given but none parsed: allow nobody rather than everybody.
        out_->Rule(firewall_chain, "drop", "no valid loadBalancerSourceRanges");
      } else {
        std::vector<Cidr> sources;
        bool allow_from_node = false;
        for (const Cidr& cidr : svc.load_balancer_source_ranges) {
          sources.push_back(cidr);
          if (!node_.node_ips.empty() && cidr.Contains(node_.node_ips.front()))
            allow_from_node = true;
        }
        // A VIP-like load balancer's address is often local: the node's own connections to it
        // loop back with the VIP as source.
        if (allow_from_node) {
          for (const IpAddress& ip : svc.load_balancer_vips) sources.push_back(Cidr::Host(ip));
        }
        out_->Rule(firewall_chain,
                   absl::StrCat(ipx, " saddr != ", PrefixMatch(std::move(sources)), " drop"));
      }
      for (const IpAddress& ip : svc.load_balancer_vips) {
        out_->Element(kFirewallIpsMap, {ip.ToString(), proto, port}, {"goto " + firewall_chain},
                      display);
      }
    }

    // No (usable) endpoints: reject when there are none at all, drop when only a Local policy
    // finds none on this node (traffic short-circuited before still works).
    if (!has_endpoints) {
      if (has_cluster_ip) {
        out_->Element(kNoEndpointServicesRejectSet, {svc.cluster_ip.ToString(), proto, port}, {},
                      display);
      }
      for (const std::string& address : external_addresses) {
        out_->Element(kNoEndpointServicesRejectSet, {address, proto, port}, {}, display);
      }
      if (svc.node_port != 0) {
        out_->Element(kNoEndpointNodePortsRejectSet, {proto, absl::StrCat(svc.node_port)}, {},
                      display);
      }
    } else {
      if (!has_internal && has_cluster_ip) {
        out_->Element(kNoEndpointServicesDropSet, {svc.cluster_ip.ToString(), proto, port}, {},
                      display);
      }
      if (!has_external) {
        for (const std::string& address : external_addresses) {
          out_->Element(kNoEndpointServicesDropSet, {address, proto, port}, {}, display);
        }
        if (svc.node_port != 0) {
          out_->Element(kNoEndpointNodePortsDropSet, {proto, absl::StrCat(svc.node_port)}, {},
                        display);
        }
      }
    }

    // Hairpin: an endpoint that reaches itself through the Service is masqueraded.
    for (const auto& endpoint : categorized.all_reachable_endpoints) {
      const std::string ip = endpoint->ip.ToString();
      out_->Element(kHairpinSet, {ip, ip, proto, absl::StrCat(endpoint->port)});
    }

    // Session affinity: recorded after DNAT for every address the Service is reached on.
    if (affinity && (uses_cluster || uses_local)) {
      out_->Chain(affinity_update_chain);
      if (uses_cluster) AddAffinityUpdates(affinity_update_chain, "", cluster_affinity, false);
      if (uses_local) {
        AddAffinityUpdates(
            affinity_update_chain,
            absl::StrCat(ipx, " daddr . meta l4proto . th dport @", kLocalEndpointsSet, " "),
            local_affinity, true);
        for (const auto& endpoint : categorized.local_endpoints) {
          out_->Element(kLocalEndpointsSet,
                        {endpoint->ip.ToString(), proto, absl::StrCat(endpoint->port)});
        }
      }
      const std::string verdict = "goto " + affinity_update_chain;
      if (has_cluster_ip) {
        out_->Element(kAffinityServicesMap, {svc.cluster_ip.ToString(), proto, port}, {verdict});
      }
      for (const std::string& address : external_addresses) {
        out_->Element(kAffinityServicesMap, {address, proto, port}, {verdict});
      }
      if (svc.node_port != 0) {
        out_->Element(kAffinityNodePortsMap, {proto, absl::StrCat(svc.node_port)}, {verdict});
      }
    }
  }

  const IpFamily family_;
  const NodeContext node_;
  const NftablesPlannerOptions options_;
  const FamilyText text_;
  const std::string mark_;
  const LocalMatch local_match_;
  std::vector<IpAddress> node_port_ips_;
  bool node_ports_on_all_addresses_ = false;
  mutable FragmentBuilder* out_ = nullptr;  // the fragment being planned
};

NftFragmentPlanner::NftFragmentPlanner(IpFamily family, const NodeContext& node,
                                       const NftablesPlannerOptions& options)
    : impl_(new Impl(family, node, options)) {}
NftFragmentPlanner::~NftFragmentPlanner() { delete impl_; }
NftFragment NftFragmentPlanner::TableWide() const { return impl_->TableWide(); }
NftFragment NftFragmentPlanner::ForServicePort(const ServicePort& service,
                                               const EndpointList& endpoints) const {
  return impl_->ForServicePort(service, endpoints);
}

std::string ElementKeyText(const NftElement& element) { return absl::StrJoin(element.key, " . "); }

bool StatementRefersToSet(absl::string_view statement, absl::string_view name) {
  const std::string needle = absl::StrCat("@", name);
  for (size_t at = statement.find(needle); at != absl::string_view::npos;
       at = statement.find(needle, at + 1)) {
    const size_t end = at + needle.size();
    if (end == statement.size() || statement[end] == ' ') return true;
  }
  return false;
}

NftRuleset AssembleRuleset(IpFamily family, const std::vector<const NftFragment*>& fragments) {
  NftRuleset ruleset;
  ruleset.family = family == IpFamily::kIPv4 ? NftFamily::kIp : NftFamily::kIp6;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> keys;
  for (const NftFragment* fragment : fragments) {
    ruleset.chains.insert(ruleset.chains.end(), fragment->chains.begin(), fragment->chains.end());
    ruleset.sets.insert(ruleset.sets.end(), fragment->sets.begin(), fragment->sets.end());
    for (const auto& [set, element] : fragment->elements) {
      if (!keys[set].insert(ElementKeyText(element)).second) continue;
      ruleset.elements[set].push_back(element);
    }
  }
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(ruleset.chains.begin(), ruleset.chains.end(), by_name);
  std::sort(ruleset.sets.begin(), ruleset.sets.end(), by_name);
  return ruleset;
}

std::string ServicePortNameBase(const ServicePortName& name) {
  const std::string text = absl::StrCat(name.service.namespace_name, "/", name.service.name, "/",
                                        ProtocolLowerName(name.protocol), "/", name.port_name);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(text.data()), text.size(), digest);
  // The first 8 base32 characters are the first 40 bits of the digest.
  uint64_t bits = 0;
  for (int i = 0; i < 5; ++i) bits = (bits << 8) | digest[i];
  std::string out;
  out.reserve(9 + text.size());
  for (int i = 7; i >= 0; --i) out.push_back(kBase32Alphabet[(bits >> (i * 5)) & 0x1f]);
  out.push_back('-');
  out.append(text);
  if (out.size() > kNameBaseLengthMax) {
    out.resize(kNameBaseLengthMax - 3);
    out.append("...");
  }
  return out;
}

NftRuleset PlanNftables(const ProxySnapshot& snapshot, const NodeContext& node,
                        const NftablesPlannerOptions& options) {
  const NftFragmentPlanner planner(snapshot.family, node, options);
  std::vector<NftFragment> fragments;
  fragments.reserve(snapshot.services.size() + 1);
  fragments.push_back(planner.TableWide());
  for (const auto& [name, service] : snapshot.services) {
    fragments.push_back(planner.ForServicePort(*service, snapshot.EndpointsOf(name)));
  }
  std::vector<const NftFragment*> pointers;
  pointers.reserve(fragments.size());
  for (const NftFragment& fragment : fragments) pointers.push_back(&fragment);
  return AssembleRuleset(snapshot.family, pointers);
}

}  // namespace kproxy::proxier::nftables
