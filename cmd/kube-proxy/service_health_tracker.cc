#include "cmd/kube-proxy/service_health_tracker.h"

#include <set>

namespace kproxy::daemon {

void ServiceHealthTracker::SetService(const proxier::Service& s) {
  proxier::ServiceName name{s.metadata.namespace_name, s.metadata.name};
  absl::MutexLock lock(&mu_);
  if (s.type == proxier::ServiceType::kLoadBalancer && s.external_traffic_policy == proxier::TrafficPolicy::kLocal &&
      s.health_check_node_port > 0) {
    ports_[name] = s.health_check_node_port;
  } else {
    ports_.erase(name);
  }
}

void ServiceHealthTracker::DeleteService(const proxier::Service& s) {
  absl::MutexLock lock(&mu_);
  ports_.erase(proxier::ServiceName{s.metadata.namespace_name, s.metadata.name});
}

void ServiceHealthTracker::SetEndpointSlice(const proxier::EndpointSlice& slice) {
  std::vector<std::string> ips;
  for (const auto& ep : slice.endpoints) {
    if (ep.addresses.empty() || !ep.node_name.has_value() || *ep.node_name != node_name_) continue;
    if (!ep.conditions.ready.value_or(true)) continue;  // nil ready counts as ready, as upstream
    ips.push_back(ep.addresses[0].ToString());
  }
  absl::MutexLock lock(&mu_);
  auto key = std::make_pair(slice.metadata.namespace_name, slice.metadata.name);
  if (slice.service_name.empty()) {
    slices_.erase(key);
    return;
  }
  slices_[key] = {proxier::ServiceName{slice.metadata.namespace_name, slice.service_name}, std::move(ips)};
}

void ServiceHealthTracker::DeleteEndpointSlice(const proxier::EndpointSlice& slice) {
  absl::MutexLock lock(&mu_);
  slices_.erase(std::make_pair(slice.metadata.namespace_name, slice.metadata.name));
}

absl::flat_hash_map<proxier::ServiceName, int> ServiceHealthTracker::HealthCheckPorts() const {
  absl::MutexLock lock(&mu_);
  return ports_;
}

absl::flat_hash_map<proxier::ServiceName, int> ServiceHealthTracker::LocalReadyEndpoints() const {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<proxier::ServiceName, std::set<std::string>> ips;
  for (const auto& [key, value] : slices_) ips[value.first].insert(value.second.begin(), value.second.end());
  absl::flat_hash_map<proxier::ServiceName, int> out;
  for (const auto& [name, set] : ips) out[name] = static_cast<int>(set.size());
  return out;
}

}  // namespace kproxy::daemon
