// Endpoint selection: which endpoints of a ServicePort serve cluster-wide and node-local traffic
// (upstream's CategorizeEndpoints in pkg/proxy/topology.go: readiness, serving-terminating
// fallback, topology hints / trafficDistribution, traffic policies).
#pragma once

#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"
#include "proxier/service_port.h"

namespace kproxy::proxier {

struct CategorizedEndpoints {
  // Endpoints for traffic under the Cluster policy; empty when the ServicePort uses no cluster endpoints.
  EndpointList cluster_endpoints;
  // Endpoints on this node for traffic under the Local policy; empty when it uses no local endpoints.
  EndpointList local_endpoints;
  // Union of the two (conntrack cleanup keeps flows to these).
  EndpointList all_reachable_endpoints;
  // Some usable endpoint exists anywhere in the cluster (decides REJECT vs DROP for empty Local).
  bool has_any_endpoints = false;
};

CategorizedEndpoints CategorizeEndpoints(const EndpointList& endpoints, const ServicePort& service,
                                         const NodeContext& node);

}  // namespace kproxy::proxier
