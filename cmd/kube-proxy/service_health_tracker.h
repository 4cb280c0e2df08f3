// ServiceHealthTracker: which Services need a health-check port (healthCheckNodePort of
// externalTrafficPolicy: Local LoadBalancers) and how many ready endpoints each has on this node,
// maintained from the same Service/EndpointSlice events the proxier gets; feeds ServiceHealthServer.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "proxier/api_types.h"
#include "proxier/service_port.h"

namespace kproxy::daemon {

class ServiceHealthTracker {
 public:
  explicit ServiceHealthTracker(std::string node_name) : node_name_(std::move(node_name)) {}

  void SetService(const proxier::Service& service);
  void DeleteService(const proxier::Service& service);
  void SetEndpointSlice(const proxier::EndpointSlice& slice);
  void DeleteEndpointSlice(const proxier::EndpointSlice& slice);

  // Service -> healthCheckNodePort, for every Service that needs one.
  absl::flat_hash_map<proxier::ServiceName, int> HealthCheckPorts() const;
  // Service -> number of distinct ready endpoint IPs on this node (upstream's LocalReadyEndpoints).
  absl::flat_hash_map<proxier::ServiceName, int> LocalReadyEndpoints() const;

 private:
  const std::string node_name_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<proxier::ServiceName, int> ports_ ABSL_GUARDED_BY(mu_);
  // (namespace, slice name) -> (Service, ready local IPs of that slice).
  std::map<std::pair<std::string, std::string>, std::pair<proxier::ServiceName, std::vector<std::string>>> slices_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
