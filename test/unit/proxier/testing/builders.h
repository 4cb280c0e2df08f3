// Test builders for model objects: MakeService("ns", "name", [](Service& s) { ... }) and friends keep
// test cases short. Defaults are minimal and explicit; a mutator sets what a case is about.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proxier/api_types.h"
#include "proxier/endpoint.h"
#include "proxier/ip_address.h"
#include "proxier/service_port.h"

// Note: inside namespace kproxy::proxier, spell GoogleTest's namespace `::testing`.
namespace kproxy::proxier::testing {

// Parses an address; aborts the test binary on a typo in the test itself.
inline IpAddress Ip(absl::string_view text) {
  auto ip = IpAddress::Parse(text);
  if (!ip.ok()) {
    std::cerr << "builders.h: bad IP in test: " << text << "\n";
    std::abort();
  }
  return *ip;
}

inline Cidr MakeCidr(absl::string_view text) {
  auto cidr = Cidr::Parse(text);
  if (!cidr.ok()) {
    std::cerr << "builders.h: bad CIDR in test: " << text << "\n";
    std::abort();
  }
  return *cidr;
}

// A ClusterIP Service with no IPs and no ports, created at the Unix epoch. ServicePortsOf()
// skips it until the mutator sets cluster_ips and ports.
inline Service MakeService(absl::string_view ns, absl::string_view name,
                           const std::function<void(Service&)>& mutate = nullptr) {
  Service service;
  service.metadata.namespace_name = std::string(ns);
  service.metadata.name = std::string(name);
  service.metadata.uid = std::string(ns) + "/" + std::string(name);
  service.metadata.creation_timestamp = absl::UnixEpoch();
  service.type = ServiceType::kClusterIP;
  if (mutate) mutate(service);
  return service;
}

// Appends spec.ports[] = {name, protocol, port, nodePort}.
inline void AddPort(Service& service, absl::string_view name, Protocol protocol, int32_t port,
                    int32_t node_port = 0) {
  service.ports.push_back(ServicePortSpec{std::string(name), protocol, port, node_port});
}

// Appends status.loadBalancer.ingress[] = {ip, ipMode}.
inline void AddIngress(Service& service, absl::string_view ip,
                       std::optional<std::string> ip_mode = std::nullopt) {
  LoadBalancerIngress ingress;
  ingress.ip = Ip(ip);
  ingress.ip_mode = std::move(ip_mode);
  service.load_balancer_ingress.push_back(std::move(ingress));
}

// An EndpointSlice of `service_name` (label kubernetes.io/service-name set), IPv4, no endpoints
// and no ports.
inline EndpointSlice MakeEndpointSlice(absl::string_view ns, absl::string_view name,
                                       absl::string_view service_name,
                                       const std::function<void(EndpointSlice&)>& mutate = nullptr) {
  EndpointSlice slice;
  slice.metadata.namespace_name = std::string(ns);
  slice.metadata.name = std::string(name);
  slice.metadata.labels["kubernetes.io/service-name"] = std::string(service_name);
  slice.metadata.creation_timestamp = absl::UnixEpoch();
  slice.service_name = std::string(service_name);
  slice.address_type = AddressType::kIPv4;
  if (mutate) mutate(slice);
  return slice;
}

// Appends ports[] = {name, protocol, port}.
inline void AddSlicePort(EndpointSlice& slice, absl::string_view name, Protocol protocol, int32_t port) {
  slice.ports.push_back(EndpointSlicePort{std::string(name), protocol, port});
}

// An endpoint with addresses[0] = ip, conditions all nil (== ready, serving, not terminating).
inline EndpointSliceEndpoint MakeSliceEndpoint(
    absl::string_view ip, const std::function<void(EndpointSliceEndpoint&)>& mutate = nullptr) {
  EndpointSliceEndpoint endpoint;
  endpoint.addresses.push_back(Ip(ip));
  if (mutate) mutate(endpoint);
  return endpoint;
}

// Appends an endpoint to the slice; returns it for further tweaking.
inline EndpointSliceEndpoint& AddSliceEndpoint(
    EndpointSlice& slice, absl::string_view ip,
    const std::function<void(EndpointSliceEndpoint&)>& mutate = nullptr) {
  slice.endpoints.push_back(MakeSliceEndpoint(ip, mutate));
  return slice.endpoints.back();
}

// A model Endpoint (what the trackers produce): ready and serving, not local, no hints.
inline std::shared_ptr<const Endpoint> MakeEndpoint(
    absl::string_view ip, int32_t port, const std::function<void(Endpoint&)>& mutate = nullptr) {
  Endpoint endpoint;
  endpoint.ip = Ip(ip);
  endpoint.port = port;
  endpoint.ready = true;
  endpoint.serving = true;
  if (mutate) mutate(endpoint);
  return std::make_shared<const Endpoint>(std::move(endpoint));
}

inline ServicePortName MakeServicePortName(absl::string_view ns, absl::string_view name,
                                           absl::string_view port_name,
                                           Protocol protocol = Protocol::kTCP) {
  return ServicePortName{ServiceName{std::string(ns), std::string(name)}, std::string(port_name),
                         protocol};
}

}  // namespace kproxy::proxier::testing
