// The pass-through policy: which load-balancer ingress IPs are left to the load balancer
// (annotation kubernetes.io/elb.pass-through, or ingress ipMode: Proxy) instead of being
// short-cut on the node, and, for IPVS mode, one setting per ELB.
#pragma once

#include <string>
#include <vector>

#include "proxier/api_types.h"
#include "proxier/proxy_snapshot.h"
#include "proxier/service_port.h"

namespace kproxy::proxier {

inline constexpr char kPassThroughAnnotation[] = "kubernetes.io/elb.pass-through";
inline constexpr char kElbIdAnnotation[] = "kubernetes.io/elb.id";

// The Service's own decision from its annotation: "true" and "onlyLocal" (case-insensitive)
// enable it; "false" or absence disable it; any other value disables it with a warning naming
// the Service. Only type LoadBalancer Services can be pass-through.
PassThroughDecision DecidePassThrough(const Service& service);

// Whether an ingress entry with an IP leaves its traffic to the load balancer by its own ipMode
// (KEP-1860): any value but "VIP" (absent means VIP). The one place that reads ipMode.
bool IngressIpModeIsProxy(const LoadBalancerIngress& ingress);

// Whether one ingress entry gets local rules: it has an IP, its ipMode is absent or "VIP", and
// the Service is not pass-through.
bool IngressGetsLocalRules(const LoadBalancerIngress& ingress, const PassThroughDecision& decision);

// A Service whose own setting differs from the one enforced for its ELB (IPVS mode).
struct PassThroughConflict {
  ServiceName service;
  std::string elb;                 // "elb.id=<id>" or "ingress IP <ip>"
  ServiceName decided_by;          // the oldest Service of the group
  bool enforced_pass_through = false;
  std::string message;             // one line for the log and the Event
  friend bool operator==(const PassThroughConflict&, const PassThroughConflict&) = default;
};

struct ElbConsistencyResult {
  // The input, with each conflicting ServicePort's load_balancer_vips / pass_through_vips set
  // to the ELB's enforced setting.
  ServicePortMap services;
  // One entry per conflicting Service and ELB (not per port), sorted by namespace/name, then ELB.
  // A Service without elb.id whose ingress IPs sit on two shared addresses may appear twice.
  std::vector<PassThroughConflict> conflicts;
};

// IPVS binds an LB address to kube-ipvs0 for all its ports, so Services that share an ELB (same
// elb.id annotation, else same ingress IP) must agree. The oldest Service (creationTimestamp,
// then namespace/name) decides for the whole group. Only LoadBalancer ServicePorts
// take part; a Service's setting for an ELB is "pass-through" unless one of its IPs on that ELB is
// in load_balancer_vips (so ipMode: Proxy counts as pass-through for its own IP). Services with no
// IP on the ELB yet have no say. Overridden ports are new copies; the input is never mutated. Pure.
ElbConsistencyResult EnforceElbConsistency(const ServicePortMap& services);

}  // namespace kproxy::proxier
