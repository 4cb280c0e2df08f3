#include "proxier/endpoint_selector.h"

#include <algorithm>
#include <string>

namespace kproxy::proxier {
namespace {

enum class TopologyMode { kNone, kPreferSameNode, kPreferSameZone };

bool HasHint(const std::vector<std::string>& hints, const std::string& value) {
  // Linear: hint lists are tiny, and hand-built Endpoints need not be sorted.
  return std::find(hints.begin(), hints.end(), value) != hints.end();
}

// Upstream's topologyModeFromHints. The EndpointSlice controller turns trafficDistribution
// (PreferSameNode / PreferSameZone / PreferClose) and the topology-mode annotation into hints, so
// the proxy only reads hints: same-node when every ready endpoint has node hints and one names
// this node, else same-zone when every ready endpoint has zone hints and one names this node's
// zone, else none.
TopologyMode TopologyModeFromHints(const EndpointList& endpoints, const std::string& node_name,
                                   const std::string& zone) {
  bool has_ready = false;
  bool all_node_hints = true;
  bool for_node = false;
  bool all_zone_hints = true;
  bool for_zone = false;
  for (const auto& ep : endpoints) {
    if (!ep->ready) continue;
    has_ready = true;
    if (ep->node_hints().empty()) {
      all_node_hints = false;
    } else if (HasHint(ep->node_hints(), node_name)) {
      for_node = true;
    }
    if (ep->zone_hints().empty()) {
      all_zone_hints = false;
    } else if (HasHint(ep->zone_hints(), zone)) {
      for_zone = true;
    }
  }
  if (!has_ready) return TopologyMode::kNone;
  if (all_node_hints && for_node) return TopologyMode::kPreferSameNode;
  if (all_zone_hints && for_zone) return TopologyMode::kPreferSameZone;
  return TopologyMode::kNone;
}

bool AvailableForTopology(const Endpoint& ep, TopologyMode mode, const std::string& node_name,
                          const std::string& zone) {
  switch (mode) {
    case TopologyMode::kNone: return true;
    case TopologyMode::kPreferSameNode: return HasHint(ep.node_hints(), node_name);
    case TopologyMode::kPreferSameZone: return HasHint(ep.zone_hints(), zone);
  }
  return false;
}

template <typename Pred>
EndpointList Filter(const EndpointList& endpoints, Pred pred) {
  EndpointList out;
  for (const auto& ep : endpoints) {
    if (pred(*ep)) out.push_back(ep);
  }
  return out;
}

bool ServingTerminating(const Endpoint& ep) { return ep.serving && ep.terminating; }

}  // namespace

CategorizedEndpoints CategorizeEndpoints(const EndpointList& endpoints, const ServicePort& service,
                                         const NodeContext& node) {
  CategorizedEndpoints result;
  if (endpoints.empty()) return result;

  TopologyMode mode = TopologyMode::kNone;
  if (service.UsesClusterEndpoints()) {
    mode = TopologyModeFromHints(endpoints, node.node_name, node.zone);
    result.cluster_endpoints = Filter(endpoints, [&](const Endpoint& ep) {
      return ep.ready && AvailableForTopology(ep, mode, node.node_name, node.zone);
    });
    // A topology mode is only chosen when it yields a ready endpoint, so an empty list here means
    // nothing is ready anywhere: fall back to serving-terminating endpoints, ignoring topology.
    if (result.cluster_endpoints.empty()) {
      result.cluster_endpoints = Filter(endpoints, ServingTerminating);
    }
    result.has_any_endpoints = !result.cluster_endpoints.empty();
  }

  if (!service.UsesLocalEndpoints()) {
    result.all_reachable_endpoints = result.cluster_endpoints;
    return result;
  }

  bool local_ready = false;
  bool local_serving_terminating = false;
  for (const auto& ep : endpoints) {
    if (ep->ready) {
      result.has_any_endpoints = true;
      local_ready = local_ready || ep->is_local;
    } else if (ServingTerminating(*ep)) {
      result.has_any_endpoints = true;
      local_serving_terminating = local_serving_terminating || ep->is_local;
    }
  }
  bool use_serving_terminating = false;
  if (local_ready) {
    result.local_endpoints = Filter(endpoints, [](const Endpoint& ep) { return ep.is_local && ep.ready; });
  } else if (local_serving_terminating) {
    use_serving_terminating = true;
    result.local_endpoints =
        Filter(endpoints, [](const Endpoint& ep) { return ep.is_local && ServingTerminating(ep); });
  }

  if (!service.UsesClusterEndpoints()) {
    result.all_reachable_endpoints = result.local_endpoints;
    return result;
  }
  if (mode == TopologyMode::kNone && !use_serving_terminating) {
    // Every ready endpoint is a cluster endpoint, and the local ones are ready ones.
    result.all_reachable_endpoints = result.cluster_endpoints;
    return result;
  }
  // Topology may have dropped local endpoints from the cluster list, and local ones may be
  // serving-terminating: merge, keyed by ip:port, in IpPort order.
  EndpointList merged = result.cluster_endpoints;
  merged.insert(merged.end(), result.local_endpoints.begin(), result.local_endpoints.end());
  std::stable_sort(merged.begin(), merged.end(),
                   [](const auto& a, const auto& b) { return a->IpPort() < b->IpPort(); });
  merged.erase(std::unique(merged.begin(), merged.end(),
                           [](const auto& a, const auto& b) { return a->IpPort() == b->IpPort(); }),
               merged.end());
  result.all_reachable_endpoints = std::move(merged);
  return result;
}

}  // namespace kproxy::proxier
