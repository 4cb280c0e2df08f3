// The Kubernetes objects kproxy consumes (v1 Service, discovery.k8s.io/v1 EndpointSlice, v1 Node),
// decoded and validated by apiclient/. Only the fields a proxy uses are kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proxier/ip_address.h"

namespace kproxy::proxier {

enum class Protocol : uint8_t { kTCP, kUDP, kSCTP };
// "TCP" / "UDP" / "SCTP".
absl::string_view ProtocolName(Protocol protocol);
// "tcp" / "udp" / "sctp", as iptables and the chain hash spell it.
absl::string_view ProtocolLowerName(Protocol protocol);

struct ObjectMeta {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string resource_version;
  absl::Time creation_timestamp = absl::InfinitePast();
  std::optional<absl::Time> deletion_timestamp;
  absl::flat_hash_map<std::string, std::string> labels;
  absl::flat_hash_map<std::string, std::string> annotations;
};

enum class ServiceType : uint8_t { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy : uint8_t { kCluster, kLocal };
enum class SessionAffinity : uint8_t { kNone, kClientIP };

struct ServicePortSpec {
  std::string name;  // may be empty when the Service has a single port
  Protocol protocol = Protocol::kTCP;
  int32_t port = 0;
  int32_t node_port = 0;  // 0: none allocated
  // targetPort is resolved through EndpointSlices, so a proxy does not need it.
};

struct LoadBalancerIngress {
  std::optional<IpAddress> ip;  // empty for hostname-only entries (e.g. AWS ELB)
  std::string hostname;
  // status.loadBalancer.ingress[].ipMode: "VIP", "Proxy" or absent (== VIP).
  std::optional<std::string> ip_mode;
};

struct Service {
  ObjectMeta metadata;
  ServiceType type = ServiceType::kClusterIP;
  // spec.clusterIPs (spec.clusterIP when clusterIPs is absent); empty for headless and ExternalName.
  std::vector<IpAddress> cluster_ips;
  bool headless = false;  // clusterIP: None
  std::vector<ServicePortSpec> ports;
  std::vector<IpAddress> external_ips;
  std::optional<IpAddress> load_balancer_ip;  // deprecated spec.loadBalancerIP
  // Parsed spec.loadBalancerSourceRanges; entries that did not parse are kept in
  // invalid_source_ranges so the proxy can fail closed instead of open.
  std::vector<Cidr> load_balancer_source_ranges;
  std::vector<std::string> invalid_source_ranges;
  SessionAffinity session_affinity = SessionAffinity::kNone;
  int32_t session_affinity_timeout_seconds = 10800;
  TrafficPolicy external_traffic_policy = TrafficPolicy::kCluster;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::kCluster;
  int32_t health_check_node_port = 0;
  std::optional<std::string> traffic_distribution;  // "PreferClose", "PreferSameZone", "PreferSameNode"
  std::vector<LoadBalancerIngress> load_balancer_ingress;  // status.loadBalancer.ingress
};

enum class AddressType : uint8_t { kIPv4, kIPv6, kFQDN };

struct EndpointConditions {
  // nil means "unknown"; upstream treats nil ready as ready, nil serving as ready, nil terminating as false.
  std::optional<bool> ready;
  std::optional<bool> serving;
  std::optional<bool> terminating;
  friend bool operator==(const EndpointConditions&, const EndpointConditions&) = default;
};

struct EndpointSliceEndpoint {
  std::vector<IpAddress> addresses;  // the proxy uses addresses[0], as upstream
  EndpointConditions conditions;
  std::optional<std::string> node_name;
  std::optional<std::string> zone;
  std::optional<std::vector<std::string>> hints_for_zones;  // absent vs empty matters for topology
  std::optional<std::vector<std::string>> hints_for_nodes;
  friend bool operator==(const EndpointSliceEndpoint&, const EndpointSliceEndpoint&) = default;
};

struct EndpointSlicePort {
  std::optional<std::string> name;  // nil and "" are the same port name
  std::optional<Protocol> protocol;
  std::optional<int32_t> port;  // nil: "all ports", which a proxy cannot use
  friend bool operator==(const EndpointSlicePort&, const EndpointSlicePort&) = default;
};

struct EndpointSlice {
  ObjectMeta metadata;
  // Label kubernetes.io/service-name; slices without it are ignored by the proxy.
  std::string service_name;
  AddressType address_type = AddressType::kIPv4;
  std::vector<EndpointSliceEndpoint> endpoints;
  std::vector<EndpointSlicePort> ports;
};

struct NodeAddress {
  std::string type;  // InternalIP, ExternalIP, Hostname, ...
  std::string address;
};

struct Taint {
  std::string key;
  std::string value;
  std::string effect;
};

struct Node {
  ObjectMeta metadata;
  std::vector<NodeAddress> addresses;
  std::vector<Taint> taints;
  std::vector<Cidr> pod_cidrs;  // spec.podCIDRs (spec.podCIDR when absent)
};

}  // namespace kproxy::proxier
