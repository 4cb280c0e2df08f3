#include "apiclient/object_equality.h"

#include <tuple>
#include <utility>

#include "absl/hash/hash.h"

namespace kproxy::apiclient {
namespace {

using namespace proxier;  // NOLINT(build/namespaces): only the model's struct names are used.

template <typename T, typename Eq>
bool VectorsEqual(const std::vector<T>& a, const std::vector<T>& b, Eq eq) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!eq(a[i], b[i])) return false;
  }
  return true;
}

bool PortEqual(const ServicePortSpec& a, const ServicePortSpec& b) {
  return std::tie(a.name, a.protocol, a.port, a.node_port) ==
         std::tie(b.name, b.protocol, b.port, b.node_port);
}

bool IngressEqual(const LoadBalancerIngress& a, const LoadBalancerIngress& b) {
  return std::tie(a.ip, a.hostname, a.ip_mode) == std::tie(b.ip, b.hostname, b.ip_mode);
}

bool EndpointEqual(const EndpointSliceEndpoint& a, const EndpointSliceEndpoint& b) {
  return std::tie(a.addresses, a.conditions.ready, a.conditions.serving, a.conditions.terminating,
                  a.node_name, a.zone, a.hints_for_zones, a.hints_for_nodes) ==
         std::tie(b.addresses, b.conditions.ready, b.conditions.serving, b.conditions.terminating,
                  b.node_name, b.zone, b.hints_for_zones, b.hints_for_nodes);
}

bool SlicePortEqual(const EndpointSlicePort& a, const EndpointSlicePort& b) {
  return std::tie(a.name, a.protocol, a.port) == std::tie(b.name, b.protocol, b.port);
}

bool AddressEqual(const NodeAddress& a, const NodeAddress& b) {
  return std::tie(a.type, a.address) == std::tie(b.type, b.address);
}

bool TaintEqual(const Taint& a, const Taint& b) {
  return std::tie(a.key, a.value, a.effect) == std::tie(b.key, b.value, b.effect);
}

}  // namespace

bool ObjectsEqual(const ObjectMeta& a, const ObjectMeta& b) {
  return std::tie(a.namespace_name, a.name, a.uid, a.resource_version, a.creation_timestamp,
                  a.deletion_timestamp, a.labels, a.annotations) ==
         std::tie(b.namespace_name, b.name, b.uid, b.resource_version, b.creation_timestamp,
                  b.deletion_timestamp, b.labels, b.annotations);
}

bool ObjectsEqual(const Service& a, const Service& b) {
  return ObjectsEqual(a.metadata, b.metadata) &&
         std::tie(a.type, a.cluster_ips, a.headless, a.external_ips, a.load_balancer_ip,
                  a.load_balancer_source_ranges, a.invalid_source_ranges, a.session_affinity,
                  a.session_affinity_timeout_seconds, a.external_traffic_policy,
                  a.internal_traffic_policy, a.health_check_node_port, a.traffic_distribution) ==
             std::tie(b.type, b.cluster_ips, b.headless, b.external_ips, b.load_balancer_ip,
                      b.load_balancer_source_ranges, b.invalid_source_ranges, b.session_affinity,
                      b.session_affinity_timeout_seconds, b.external_traffic_policy,
                      b.internal_traffic_policy, b.health_check_node_port,
                      b.traffic_distribution) &&
         VectorsEqual(a.ports, b.ports, PortEqual) &&
         VectorsEqual(a.load_balancer_ingress, b.load_balancer_ingress, IngressEqual);
}

uint64_t ContentFingerprint(const EndpointSlice& s) {
  // Maps are hashed order-free (a sum of per-entry hashes): flat_hash_map iteration order differs
  // between equal maps.
  auto map_hash = [](const absl::flat_hash_map<std::string, std::string>& m) {
    size_t sum = 0;
    for (const auto& [k, v] : m) sum += absl::HashOf(k, v);
    return std::pair(m.size(), sum);
  };
  const ObjectMeta& m = s.metadata;
  size_t h = absl::HashOf(m.namespace_name, m.name, m.uid, m.resource_version, m.creation_timestamp,
                          m.deletion_timestamp.has_value(),
                          m.deletion_timestamp.value_or(absl::InfinitePast()), map_hash(m.labels),
                          map_hash(m.annotations), s.service_name, s.address_type);
  // std::optional has no absl hash in this Abseil: its presence and value are mixed in one by one.
  auto mix = [&h](const auto& optional) {
    h = absl::HashOf(h, optional.has_value());
    if (optional.has_value()) h = absl::HashOf(h, *optional);
  };
  for (const EndpointSliceEndpoint& e : s.endpoints) {
    h = absl::HashOf(h, e.addresses);
    mix(e.conditions.ready);
    mix(e.conditions.serving);
    mix(e.conditions.terminating);
    mix(e.node_name);
    mix(e.zone);
    mix(e.hints_for_zones);
    mix(e.hints_for_nodes);
  }
  for (const EndpointSlicePort& p : s.ports) {
    mix(p.name);
    mix(p.protocol);
    mix(p.port);
  }
  return absl::HashOf(h, s.endpoints.size(), s.ports.size());
}

EndpointSlice IdentityOnly(const EndpointSlice& slice) {
  EndpointSlice stub;
  stub.metadata = slice.metadata;
  stub.service_name = slice.service_name;
  stub.address_type = slice.address_type;
  stub.ports = slice.ports;
  return stub;
}

bool ObjectsEqual(const EndpointSlice& a, const EndpointSlice& b) {
  return ObjectsEqual(a.metadata, b.metadata) && a.service_name == b.service_name &&
         a.address_type == b.address_type &&
         VectorsEqual(a.endpoints, b.endpoints, EndpointEqual) &&
         VectorsEqual(a.ports, b.ports, SlicePortEqual);
}

bool ObjectsEqual(const Node& a, const Node& b) {
  return ObjectsEqual(a.metadata, b.metadata) &&
         VectorsEqual(a.addresses, b.addresses, AddressEqual) &&
         VectorsEqual(a.taints, b.taints, TaintEqual) && a.pod_cidrs == b.pod_cidrs;
}

}  // namespace kproxy::apiclient
