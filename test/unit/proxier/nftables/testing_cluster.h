// The rich mix of Services the nftables planner tests share: upstream's TestOverallNFTablesRules
// Services and endpoints, plus pass-through (annotation and ipMode: Proxy), UDP with
// internalTrafficPolicy Local, terminating endpoints, and an IPv6 variant.
#pragma once

#include "proxier/nftables/nftables_planner.h"
#include "proxier/pass_through_policy.h"
#include "test/unit/proxier/iptables/testing/test_cluster.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier::nftables::testing {

using proxier::iptables::testing::LocalEndpoint;
using proxier::iptables::testing::TestCluster;
using proxier::iptables::testing::TestNode;
using proxier::testing::AddIngress;
using proxier::testing::AddPort;
using proxier::testing::Ip;
using proxier::testing::MakeCidr;
using proxier::testing::MakeEndpoint;
using proxier::testing::MakeService;
using proxier::testing::MakeServicePortName;

// Upstream's test proxier: detect-local ClusterCIDR 10.0.0.0/8, NodePorts on the node IP
// 192.168.0.2, ServiceCIDR 172.30.0.0/16, mark bit 14.
inline NftablesPlannerOptions UpstreamTestOptions() {
  NftablesPlannerOptions options;
  options.local_detect_mode = LocalDetectMode::kClusterCidr;
  options.cluster_cidrs = {MakeCidr("10.0.0.0/8")};
  options.node_port_addresses = {Ip("192.168.0.2")};
  options.service_cidrs = {MakeCidr("172.30.0.0/16")};
  return options;
}

// A terminating endpoint that still serves (used only when no endpoint is ready).
inline std::shared_ptr<const Endpoint> TerminatingEndpoint(absl::string_view ip, int32_t port,
                                                           bool local = false) {
  return MakeEndpoint(ip, port, [&](Endpoint& e) {
    e.ready = false;
    e.serving = true;
    e.terminating = true;
    if (local) {
      e.is_local = true;
      e.node_name = proxier::iptables::testing::kTestNodeName;
    }
  });
}

// upstream's TestOverallNFTablesRules Services and endpoints (ns1..ns6).
inline TestCluster OverallRulesCluster() {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.AddService(MakeService("ns2", "svc2", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
    s.external_ips = {Ip("192.168.99.22")};
    s.health_check_node_port = 30000;
  }));
  cluster.AddService(MakeService("ns3", "svc3", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("172.30.0.43")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3003);
  }));
  cluster.AddService(MakeService("ns4", "svc4", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("172.30.0.44")};
    s.external_ips = {Ip("192.168.99.33")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.AddService(MakeService("ns5", "svc5", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kCluster;
    s.cluster_ips = {Ip("172.30.0.45")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3002);
    AddIngress(s, "5.6.7.8");
    s.health_check_node_port = 30000;
    s.load_balancer_source_ranges = {MakeCidr(" 203.0.113.0/25")};
    s.session_affinity = SessionAffinity::kClientIP;
    s.session_affinity_timeout_seconds = 10800;
  }));
  cluster.AddService(MakeService("ns6", "svc6", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.46")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"), {MakeEndpoint("10.180.0.1", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "p80"), {MakeEndpoint("10.180.0.2", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns3", "svc3", "p80"), {MakeEndpoint("10.180.0.3", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns4", "svc4", "p80"),
                       {MakeEndpoint("10.180.0.4", 80), LocalEndpoint("10.180.0.5", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns5", "svc5", "p80"), {MakeEndpoint("10.180.0.3", 80)});
  return cluster;
}

// OverallRulesCluster plus: ns7 pass-through by annotation (LB IP 203.0.113.7), ns8 with one
// ingress ipMode: Proxy (203.0.113.8) and one VIP (203.0.113.9), ns9 UDP with
// internalTrafficPolicy Local and a local endpoint, ns10 only terminating endpoints.
inline TestCluster RichCluster() {
  TestCluster cluster = OverallRulesCluster();
  cluster.AddService(MakeService("ns7", "svc7", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.47")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3007);
    AddIngress(s, "203.0.113.7");
    s.metadata.annotations[kPassThroughAnnotation] = "true";
  }));
  cluster.AddService(MakeService("ns8", "svc8", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.48")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3008);
    AddIngress(s, "203.0.113.8", "Proxy");
    AddIngress(s, "203.0.113.9", "VIP");
  }));
  cluster.AddService(MakeService("ns9", "svc9", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.49")};
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    AddPort(s, "dns", Protocol::kUDP, 53);
  }));
  cluster.AddService(MakeService("ns10", "svc10", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.50")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns7", "svc7", "p80"), {MakeEndpoint("10.180.0.7", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns8", "svc8", "p80"), {MakeEndpoint("10.180.0.8", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns9", "svc9", "dns", Protocol::kUDP),
                       {MakeEndpoint("10.180.0.9", 53), LocalEndpoint("10.180.1.9", 53)});
  cluster.SetEndpoints(
      MakeServicePortName("ns10", "svc10", "p80"),
      {TerminatingEndpoint("10.180.0.10", 80), TerminatingEndpoint("10.180.0.11", 80)});
  return cluster;
}

}  // namespace kproxy::proxier::nftables::testing
