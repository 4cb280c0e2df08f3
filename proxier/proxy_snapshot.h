// ProxySnapshot: the immutable state one sync plans from — every ServicePort of one IP family
// and its endpoints — plus the set of Services that changed since the previous snapshot.
#pragma once

#include <memory>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "proxier/endpoint.h"
#include "proxier/service_port.h"

namespace kproxy::proxier {

// Ordered maps, so that planning iterates in one deterministic order: same input, same bytes.
using ServicePortMap = absl::btree_map<ServicePortName, std::shared_ptr<const ServicePort>>;
using EndpointList = std::vector<std::shared_ptr<const Endpoint>>;
using EndpointsMap = absl::btree_map<ServicePortName, EndpointList>;

struct ProxySnapshot {
  IpFamily family = IpFamily::kIPv4;
  ServicePortMap services;
  EndpointsMap endpoints;  // sorted by IpPort within each list

  const EndpointList& EndpointsOf(const ServicePortName& name) const {
    static const EndpointList kEmpty;
    auto it = endpoints.find(name);
    return it == endpoints.end() ? kEmpty : it->second;
  }
};

// Services whose ports or endpoints changed since the previous sync; drives partial syncs.
using ChangedServices = absl::flat_hash_set<ServiceName>;

}  // namespace kproxy::proxier
