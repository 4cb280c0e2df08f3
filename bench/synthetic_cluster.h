// SyntheticCluster: N Services x M endpoints as decoded API objects, with the same mix as
// bench/generate_cluster.py (ClusterIP/NodePort/LoadBalancer, pass-through, ipMode Proxy, UDP,
// multi-port, affinity, Local policy), built in memory so benchmarks and tests need no files.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proxier/api_types.h"
#include "proxier/ip_address.h"
#include "proxier/node_context.h"
#include "proxier/proxy_state.h"

namespace kproxy::bench {

inline constexpr char kSyntheticNode[] = "node-a";

inline proxier::IpAddress Ipv4(uint32_t value) {
  const uint8_t bytes[4] = {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                            static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  return proxier::IpAddress::FromV4Bytes(bytes);
}

struct SyntheticCluster {
  std::vector<proxier::Service> services;
  std::vector<proxier::EndpointSlice> slices;  // one per Service, same index
  uint32_t next_pod = 0;                       // pod IPs handed out so far
};

inline proxier::IpAddress SyntheticPodIp(uint32_t i) { return Ipv4((10u << 24 | 128u << 16) + 2 + i); }

// Service `i` and its slice, appended to `cluster`. Deterministic for a given i and m.
inline void AddSyntheticService(SyntheticCluster& cluster, int i, int m) {
  std::mt19937 rng(static_cast<uint32_t>(i) * 2654435761u + 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  proxier::Service svc;
  svc.metadata.name = absl::StrFormat("svc-%05d", i);
  svc.metadata.namespace_name = absl::StrFormat("ns-%02d", i % 50);
  svc.metadata.uid = absl::StrCat("uid-svc-", i);
  svc.metadata.resource_version = absl::StrCat(1000 + i);
  svc.metadata.creation_timestamp = absl::FromUnixSeconds(1767225600);
  const double r = u(rng);
  svc.type = r < 0.60 ? proxier::ServiceType::kClusterIP
                      : (r < 0.75 ? proxier::ServiceType::kNodePort : proxier::ServiceType::kLoadBalancer);
  const bool udp = u(rng) < 0.10;
  const bool multi = !udp && u(rng) < 0.20;
  svc.cluster_ips.push_back(Ipv4((10u << 24 | 96u << 16) + 16 + static_cast<uint32_t>(i)));
  svc.ports.push_back({udp ? "dns" : "http", udp ? proxier::Protocol::kUDP : proxier::Protocol::kTCP,
                       udp ? 53 : 80, 0});
  if (multi) svc.ports.push_back({"metrics", proxier::Protocol::kTCP, 9090, 0});
  if (u(rng) < 0.05) svc.session_affinity = proxier::SessionAffinity::kClientIP;
  if (svc.type != proxier::ServiceType::kClusterIP) {
    int node_port = 30000 + (i * 3) % 2700;
    for (auto& p : svc.ports) p.node_port = node_port++;
    if (u(rng) < 0.10) {
      svc.external_traffic_policy = proxier::TrafficPolicy::kLocal;
      if (svc.type == proxier::ServiceType::kLoadBalancer) svc.health_check_node_port = node_port;
    }
  }
  if (svc.type == proxier::ServiceType::kLoadBalancer) {
    proxier::LoadBalancerIngress ingress;
    ingress.ip = Ipv4((100u << 24 | 64u << 16) + 1 + static_cast<uint32_t>(i));
    const double pt = u(rng);
    if (pt < 0.25) {
      svc.metadata.annotations["kubernetes.io/elb.pass-through"] = "true";
    } else if (pt < 0.33) {
      ingress.ip_mode = "Proxy";
    }
    if (u(rng) < 0.10) {
      svc.load_balancer_source_ranges.push_back(*proxier::Cidr::Parse("192.0.2.0/24"));
      svc.load_balancer_source_ranges.push_back(*proxier::Cidr::Parse("198.51.100.0/24"));
    }
    svc.load_balancer_ingress.push_back(std::move(ingress));
  }

  proxier::EndpointSlice slice;
  slice.metadata.name = absl::StrCat(svc.metadata.name, "-abcde");
  slice.metadata.namespace_name = svc.metadata.namespace_name;
  slice.metadata.resource_version = absl::StrCat(500000 + i);
  slice.service_name = svc.metadata.name;
  for (int j = 0; j < m; ++j) {
    proxier::EndpointSliceEndpoint ep;
    ep.addresses.push_back(SyntheticPodIp(cluster.next_pod++));
    ep.conditions = {true, true, false};
    const bool local = u(rng) < 0.01;
    const int node = 1 + static_cast<int>(rng() % 99);
    ep.node_name = local ? std::string(kSyntheticNode) : absl::StrFormat("node-%03d", node);
    ep.zone = absl::StrCat("zone-", local ? 1 : node % 3);
    slice.endpoints.push_back(std::move(ep));
  }
  for (const auto& p : svc.ports) {
    slice.ports.push_back({p.name, p.protocol, p.protocol == proxier::Protocol::kUDP ? 53 : (p.port == 80 ? 8080 : 9090)});
  }
  cluster.services.push_back(std::move(svc));
  cluster.slices.push_back(std::move(slice));
}

inline SyntheticCluster MakeSyntheticCluster(int n, int m) {
  SyntheticCluster cluster;
  cluster.services.reserve(n);
  cluster.slices.reserve(n);
  for (int i = 0; i < n; ++i) AddSyntheticService(cluster, i, m);
  return cluster;
}

// The slice of Service `i` with its first endpoint replaced by a new pod (one endpoint change).
inline proxier::EndpointSlice WithOneEndpointReplaced(SyntheticCluster& cluster, size_t i) {
  proxier::EndpointSlice slice = cluster.slices[i];
  slice.endpoints[0].addresses[0] = SyntheticPodIp(cluster.next_pod++);
  slice.metadata.resource_version = absl::StrCat(slice.metadata.resource_version, "1");
  return slice;
}

inline proxier::NodeContext SyntheticNodeContext() {
  proxier::NodeContext node;
  node.node_name = kSyntheticNode;
  node.family = proxier::IpFamily::kIPv4;
  node.node_ips.push_back(*proxier::IpAddress::Parse("192.0.2.129"));
  node.zone = "zone-1";
  node.labels["topology.kubernetes.io/zone"] = "zone-1";
  node.pod_cidrs.push_back(*proxier::Cidr::Parse("10.128.0.0/14"));
  return node;
}

// A ProxyState (IPv4, node-a) that has seen every object of `cluster` and both lists' end.
inline std::unique_ptr<proxier::ProxyState> LoadedProxyState(const SyntheticCluster& cluster) {
  auto state = std::make_unique<proxier::ProxyState>(
      proxier::IpFamily::kIPv4, kSyntheticNode, [] { return absl::FromUnixSeconds(0); }, nullptr);
  for (const auto& svc : cluster.services) state->OnServiceAdd(svc);
  for (const auto& slice : cluster.slices) state->OnEndpointSliceAdd(slice);
  state->OnServicesSynced();
  state->OnEndpointSlicesSynced();
  return state;
}

}  // namespace kproxy::bench
