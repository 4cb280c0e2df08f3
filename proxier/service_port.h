// ServicePortName and ServicePort: the per-port, per-IP-family view of a Service that planners consume
// (upstream's ServicePortName and BaseServicePortInfo).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proxier/api_types.h"
#include "proxier/ip_address.h"

namespace kproxy::proxier {

// namespace/name of a Service.
struct ServiceName {
  std::string namespace_name;
  std::string name;

  std::string ToString() const { return namespace_name + "/" + name; }
  friend auto operator<=>(const ServiceName&, const ServiceName&) = default;
  friend bool operator==(const ServiceName&, const ServiceName&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ServiceName& n) {
    return H::combine(std::move(h), n.namespace_name, n.name);
  }
};

struct ServicePortName {
  ServiceName service;
  std::string port_name;
  Protocol protocol = Protocol::kTCP;

  // "ns/name:port" or "ns/name" when the port has no name — upstream's String(), which feeds
  // the chain-name hash and rule comments. The protocol is not part of it.
  std::string ToString() const;
  friend auto operator<=>(const ServicePortName&, const ServicePortName&) = default;
  friend bool operator==(const ServicePortName&, const ServicePortName&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ServicePortName& n) {
    return H::combine(std::move(h), n.service, n.port_name, n.protocol);
  }
};

// Why a Service's load-balancer IPs do or do not get local rules.
struct PassThroughDecision {
  bool enabled = false;  // the Service asks for pass-through (annotation)
  std::string reason;    // e.g. "annotation kubernetes.io/elb.pass-through=\"true\""
  // Set when the annotation had a value that is neither true/onlyLocal nor false.
  std::string warning;
  friend bool operator==(const PassThroughDecision&, const PassThroughDecision&) = default;
};

struct ServicePort {
  ServicePortName name;
  IpFamily family = IpFamily::kIPv4;
  IpAddress cluster_ip;
  int32_t port = 0;
  Protocol protocol = Protocol::kTCP;
  int32_t node_port = 0;
  std::vector<IpAddress> external_ips;  // of this family
  // Ingress IPs of this family that get local rules: neither the annotation nor ipMode: Proxy
  // excludes them (upstream's LoadBalancerVIPs()).
  std::vector<IpAddress> load_balancer_vips;
  // Ingress IPs of this family left to the load balancer (pass-through or ipMode: Proxy).
  std::vector<IpAddress> pass_through_vips;
  std::vector<Cidr> load_balancer_source_ranges;  // of this family
  // The Service listed source ranges but none of this family parsed: allow nobody (fail closed).
  bool source_ranges_deny_all = false;
  bool session_affinity_client_ip = false;
  int32_t sticky_max_age_seconds = 0;
  bool external_policy_local = false;  // externalTrafficPolicy: Local (only when externally reachable)
  bool internal_policy_local = false;  // internalTrafficPolicy: Local
  int32_t health_check_node_port = 0;
  std::optional<std::string> traffic_distribution;
  ServiceType type = ServiceType::kClusterIP;
  PassThroughDecision pass_through;
  std::string elb_id;  // annotation kubernetes.io/elb.id, empty if absent
  absl::Time creation_timestamp = absl::InfinitePast();

  // NodePort, externalIPs or LB VIPs exist (upstream's ExternallyAccessible()).
  bool ExternallyAccessible() const {
    return node_port != 0 || !external_ips.empty() || !load_balancer_vips.empty();
  }
  // Upstream's UsesClusterEndpoints / UsesLocalEndpoints. An externally accessible port uses
  // cluster endpoints even under externalTrafficPolicy: Local, for the short-circuit of traffic
  // from pods and the node itself (upstream serviceport.go).
  bool UsesClusterEndpoints() const { return !internal_policy_local || ExternallyAccessible(); }
  bool UsesLocalEndpoints() const {
    return internal_policy_local || (ExternallyAccessible() && external_policy_local);
  }

  friend bool operator==(const ServicePort&, const ServicePort&) = default;
};

}  // namespace kproxy::proxier
