#include "proxier/service_change_tracker.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "proxier/pass_through_policy.h"

namespace kproxy::proxier {
namespace {

constexpr char kServiceProxyNameLabel[] = "service.kubernetes.io/service-proxy-name";
constexpr char kHeadlessLabel[] = "service.kubernetes.io/headless";

// upstream's apiservice.ExternallyAccessible: what externalTrafficPolicy applies to.
bool ServiceExternallyAccessible(const Service& service) {
  return service.type == ServiceType::kLoadBalancer || service.type == ServiceType::kNodePort ||
         (service.type == ServiceType::kClusterIP && !service.external_ips.empty());
}

bool SameServicePorts(const ServicePortMap& a, const ServicePortMap& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first) return false;
    if (ia->second == ib->second) continue;
    if (ia->second == nullptr || ib->second == nullptr || !(*ia->second == *ib->second)) return false;
  }
  return true;
}

// The first key of a Service in a map ordered by ServicePortName: the empty port name and the
// first protocol sort before every other port of that Service.
ServicePortName FirstKeyOf(const ServiceName& service) {
  return ServicePortName{service, "", Protocol::kTCP};
}

}  // namespace

ServicePortMap ServicePortsOf(const Service& service, IpFamily family) {
  ServicePortMap ports;
  if (service.headless || service.type == ServiceType::kExternalName) return ports;
  if (service.metadata.labels.contains(kServiceProxyNameLabel) ||
      service.metadata.labels.contains(kHeadlessLabel)) {
    return ports;
  }
  auto cluster_ip = std::find_if(service.cluster_ips.begin(), service.cluster_ips.end(),
                                 [&](const IpAddress& ip) { return ip.family() == family; });
  if (cluster_ip == service.cluster_ips.end()) return ports;

  // Everything except the per-port fields is the same for every port of the Service.
  ServicePort base;
  base.family = family;
  base.cluster_ip = *cluster_ip;
  for (const IpAddress& ip : service.external_ips) {
    if (ip.family() == family) base.external_ips.push_back(ip);
  }
  base.pass_through = DecidePassThrough(service);
  for (const LoadBalancerIngress& ingress : service.load_balancer_ingress) {
    if (!ingress.ip.has_value() || ingress.ip->family() != family) continue;
    if (IngressGetsLocalRules(ingress, base.pass_through)) {
      base.load_balancer_vips.push_back(*ingress.ip);
    } else {
      base.pass_through_vips.push_back(*ingress.ip);
    }
  }
  for (const Cidr& cidr : service.load_balancer_source_ranges) {
    if (cidr.family() == family) base.load_balancer_source_ranges.push_back(cidr);
  }
  // Upstream drops unparseable ranges and so opens the firewall; a Service that meant to restrict
  // its sources must not become reachable by everybody because of a typo.
  base.source_ranges_deny_all =
      !service.invalid_source_ranges.empty() && base.load_balancer_source_ranges.empty();
  base.session_affinity_client_ip = service.session_affinity == SessionAffinity::kClientIP;
  if (base.session_affinity_client_ip) {
    base.sticky_max_age_seconds = service.session_affinity_timeout_seconds;
  }
  base.external_policy_local = ServiceExternallyAccessible(service) &&
                               service.external_traffic_policy == TrafficPolicy::kLocal;
  base.internal_policy_local = service.internal_traffic_policy == TrafficPolicy::kLocal;
  if (service.type == ServiceType::kLoadBalancer && base.external_policy_local) {
    base.health_check_node_port = service.health_check_node_port;
  }
  base.traffic_distribution = service.traffic_distribution;
  base.type = service.type;
  if (auto it = service.metadata.annotations.find(kElbIdAnnotation);
      it != service.metadata.annotations.end()) {
    base.elb_id = it->second;
  }
  base.creation_timestamp = service.metadata.creation_timestamp;

  const ServiceName service_name{service.metadata.namespace_name, service.metadata.name};
  for (const ServicePortSpec& spec : service.ports) {
    auto port = std::make_shared<ServicePort>(base);
    port->name = ServicePortName{service_name, spec.name, spec.protocol};
    port->port = spec.port;
    port->protocol = spec.protocol;
    port->node_port = spec.node_port;
    ports[port->name] = std::move(port);
  }
  return ports;
}

bool ServiceChangeTracker::Update(const Service* previous, const Service* current, absl::Time now) {
  const Service* service = current != nullptr ? current : previous;
  if (service == nullptr) return PendingCount() > 0;
  const ServiceName name{service->metadata.namespace_name, service->metadata.name};
  // Built outside the lock: this is the expensive part.
  ServicePortMap current_ports;
  if (current != nullptr) current_ports = ServicePortsOf(*current, family_);

  absl::MutexLock lock(&mu_);
  auto it = pending_.find(name);
  if (it == pending_.end()) {
    Change change;
    if (previous != nullptr) change.previous = ServicePortsOf(*previous, family_);
    change.first_seen = now;
    it = pending_.emplace(name, std::move(change)).first;
  }
  it->second.current = std::move(current_ports);
  if (SameServicePorts(it->second.previous, it->second.current)) pending_.erase(it);
  return !pending_.empty();
}

ServiceChangeTracker::ApplyResult ServiceChangeTracker::Apply(ServicePortMap& map) {
  absl::flat_hash_map<ServiceName, Change> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  ApplyResult result;
  for (auto& [name, change] : pending) {
    // Replace the Service's whole range, so a port that was renamed or removed cannot linger even
    // if `map` and the tracker ever disagreed about the previous state.
    auto first = map.lower_bound(FirstKeyOf(name));
    auto last = first;
    while (last != map.end() && last->first.service == name) ++last;
    map.erase(first, last);
    for (auto& [port_name, port] : change.current) map.emplace(port_name, std::move(port));
    result.changed.insert(name);
    result.change_times.push_back(change.first_seen);
  }
  std::sort(result.change_times.begin(), result.change_times.end());
  return result;
}

size_t ServiceChangeTracker::PendingCount() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace kproxy::proxier
