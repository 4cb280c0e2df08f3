// Shared helpers for the IPVS unit tests: snapshots built from Services and endpoints.
#pragma once

#include <map>
#include <vector>

#include "proxier/ipvs/ipvs_state.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"
#include "proxier/service_change_tracker.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier::ipvs::testing {

using ::kproxy::proxier::testing::AddIngress;
using ::kproxy::proxier::testing::AddPort;
using ::kproxy::proxier::testing::Ip;
using ::kproxy::proxier::testing::MakeCidr;
using ::kproxy::proxier::testing::MakeEndpoint;
using ::kproxy::proxier::testing::MakeService;
using ::kproxy::proxier::testing::MakeServicePortName;

inline ProxySnapshot MakeSnapshot(const std::vector<Service>& services,
                                  const std::map<ServicePortName, EndpointList>& endpoints = {},
                                  IpFamily family = IpFamily::kIPv4) {
  ProxySnapshot snapshot;
  snapshot.family = family;
  for (const Service& s : services) {
    for (auto& [name, port] : ServicePortsOf(s, family)) snapshot.services[name] = port;
  }
  for (const auto& [name, list] : endpoints) snapshot.endpoints[name] = list;
  return snapshot;
}

inline NodeContext MakeNode(IpFamily family = IpFamily::kIPv4) {
  NodeContext node;
  node.node_name = "node-a";
  node.family = family;
  node.node_ips = {family == IpFamily::kIPv4 ? Ip("192.0.2.129") : Ip("2001:db8::129")};
  return node;
}

inline VirtualServerKey Key(absl::string_view ip, int port, Protocol protocol = Protocol::kTCP) {
  return VirtualServerKey{Ip(ip), protocol, static_cast<uint16_t>(port)};
}

inline RealServerKey Dest(absl::string_view ip, int port) { return RealServerKey{Ip(ip), static_cast<uint16_t>(port)}; }

inline const IpsetSpec* FindSet(const DesiredIpvsState& state, absl::string_view name) {
  for (const auto& s : state.ipsets) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

inline bool SetHas(const DesiredIpvsState& state, absl::string_view name, absl::string_view entry) {
  const IpsetSpec* s = FindSet(state, name);
  return s != nullptr && s->entries.contains(std::string(entry));
}

// A LoadBalancer Service web/<name> on 10.96.0.<n>:80 TCP with nodePort 3008<n> and one ingress IP.
inline Service MakeLbService(absl::string_view name, int n, absl::string_view ingress_ip,
                             absl::Time created = absl::UnixEpoch(), bool pass_through = false) {
  return MakeService("web", name, [&](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip(absl::StrCat("10.96.0.", n))};
    AddPort(s, "", Protocol::kTCP, 80 + n - 10, 30000 + n);
    AddIngress(s, ingress_ip);
    s.metadata.creation_timestamp = created;
    if (pass_through) s.metadata.annotations["kubernetes.io/elb.pass-through"] = "true";
  });
}

}  // namespace kproxy::proxier::ipvs::testing
