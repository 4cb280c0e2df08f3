// Packet-flow tests: the planner's full output is applied to the iptables simulator and packets are
// traced through it. The cases follow upstream's packet-flow tests and survive rule reordering.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"
#include "proxier/pass_through_policy.h"
#include "test/unit/proxier/iptables/testing/iptables_simulator.h"
#include "test/unit/proxier/iptables/testing/test_cluster.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier::iptables {
namespace {

using proxier::testing::AddIngress;
using proxier::testing::AddPort;
using proxier::testing::Ip;
using proxier::testing::MakeCidr;
using proxier::testing::MakeEndpoint;
using proxier::testing::MakeService;
using proxier::testing::MakeServicePortName;
using testing::IptablesSimulator;
using testing::kTestNodeIp;
using testing::LocalEndpoint;
using testing::Packet;
using testing::TestCluster;
using testing::TestNode;
using testing::TestNodePortAddresses;

struct FlowCase {
  std::string name;
  std::string source;
  std::string destination;
  int port;
  // "ip:port, ip:port" (sorted) with " (masq)" when masqueraded, "DROP", "REJECT" or
  // "not intercepted".
  std::string want;
  Protocol protocol = Protocol::kTCP;
  std::string in_interface;
};

IptablesPlannerConfig DefaultConfig() {
  IptablesPlannerConfig config;
  config.local_detect_mode = LocalDetectMode::kClusterCidr;
  config.cluster_cidrs = {MakeCidr("10.0.0.0/8"), MakeCidr("fd00:10::/64")};
  return config;
}

// Plans for `node` (its family decides the planner's family) and traces every case.
void RunFlowsOnNode(const IptablesPlannerConfig& config, const NodeContext& node, const TestCluster& cluster,
                    const std::vector<FlowCase>& cases) {
  IptablesPlannerConfig family_config = config;
  family_config.family = node.family;
  IptablesPlanner planner(family_config);
  auto plan = planner.Plan(cluster.Snapshot(), node, {}, nullptr);
  const std::string input = RenderRestore(*plan, RenderOptions{}).input;
  IptablesSimulator simulator({node.node_ips.front().ToString()});
  ASSERT_TRUE(simulator.Apply(input).ok()) << simulator.Apply(input) << "\n" << input;
  for (const FlowCase& c : cases) {
    Packet packet{c.source, c.destination, c.port, c.protocol, c.in_interface};
    EXPECT_EQ(simulator.Trace(packet).ToString(), c.want)
        << c.name << ": " << c.source << " -> " << c.destination << ":" << c.port;
  }
}

void RunFlows(const IptablesPlannerConfig& config, const TestCluster& cluster,
              const std::vector<FlowCase>& cases, IpFamily family = IpFamily::kIPv4) {
  RunFlowsOnNode(config, TestNode(family), cluster, cases);
}

TEST(PacketFlowTest, ClusterIP) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
    AddPort(s, "dns", Protocol::kUDP, 53);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {MakeEndpoint("10.180.0.1", 8080), LocalEndpoint("10.180.2.1", 8080)});
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "dns", Protocol::kUDP),
                       {MakeEndpoint("10.180.0.1", 5353)});
  cluster.AddService(MakeService("ns2", "empty", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  RunFlows(DefaultConfig(), cluster,
           {
               {"pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:8080, 10.180.2.1:8080"},
               {"hairpin from an endpoint", "10.180.0.1", "172.30.0.41", 80,
                "10.180.0.1:8080, 10.180.2.1:8080 (masq)"},
               {"off-cluster source", "192.168.1.2", "172.30.0.41", 80, "10.180.0.1:8080, 10.180.2.1:8080 (masq)"},
               {"node to cluster IP", kTestNodeIp, "172.30.0.41", 80, "10.180.0.1:8080, 10.180.2.1:8080 (masq)"},
               {"udp port", "10.0.0.2", "172.30.0.41", 53, "10.180.0.1:5353", Protocol::kUDP},
               {"udp port over tcp", "10.0.0.2", "172.30.0.41", 53, "not intercepted"},
               {"unknown port", "10.0.0.2", "172.30.0.41", 81, "not intercepted"},
               {"no endpoints", "10.0.0.2", "172.30.0.42", 80, "REJECT"},
               {"no endpoints from node", kTestNodeIp, "172.30.0.42", 80, "REJECT"},
           });
}

TEST(PacketFlowTest, MasqueradeAllMasqueradesPodTraffic) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"), {MakeEndpoint("10.180.0.1", 80)});
  IptablesPlannerConfig config = DefaultConfig();
  config.masquerade_all = true;
  RunFlows(config, cluster, {{"pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80 (masq)"}});
  config = DefaultConfig();
  config.local_detect_mode = LocalDetectMode::kNone;
  RunFlows(config, cluster,
           {{"no local detector: no masquerade", "192.168.1.2", "172.30.0.41", 80, "10.180.0.1:80"}});
}

TEST(PacketFlowTest, LocalDetectionByInterfacePrefix) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"), {MakeEndpoint("10.180.0.1", 80)});
  IptablesPlannerConfig config = DefaultConfig();
  config.local_detect_mode = LocalDetectMode::kInterfaceNamePrefix;
  config.interface_name_prefix = "veth";
  RunFlows(config, cluster,
           {
               {"from a pod interface", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", Protocol::kTCP, "veth12"},
               {"from the uplink", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80 (masq)", Protocol::kTCP, "eth0"},
           });
}

// For the detect-local-mode tables: a ClusterIP Service with a remote endpoint, and an
// externalTrafficPolicy: Local LoadBalancer with a remote and a local endpoint, whose EXT chain
// short-circuits local pods to every endpoint (upstream's "pod traffic for ... external destinations").
TestCluster LocalDetectionCluster(IpFamily family) {
  const bool v4 = family == IpFamily::kIPv4;
  TestCluster cluster(family);
  cluster.AddService(MakeService("ns1", "svc1", [&](Service& s) {
    s.cluster_ips = {Ip(v4 ? "172.30.0.41" : "fd00:30::41")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {MakeEndpoint(v4 ? "10.180.0.1" : "fd00:10::180:1", 80)});
  cluster.AddService(MakeService("ns1", "local-lb", [&](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip(v4 ? "172.30.0.42" : "fd00:30::42")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
    AddIngress(s, v4 ? "1.2.3.4" : "2001:db8::4");
    s.health_check_node_port = 30001;
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "local-lb", "http"),
                       {MakeEndpoint(v4 ? "10.180.0.1" : "fd00:10::180:1", 80),
                        LocalEndpoint(v4 ? "10.180.2.1" : "fd00:10::180:2", 80)});
  return cluster;
}

// detect-local-mode NodeCIDR (upstream: NewDetectLocalByCIDR(first podCIDR of the family) from the
// Node's spec.podCIDRs): "local" is this node's pod range only, so a pod of another node (inside the
// cluster CIDR, which this mode ignores) is masqueraded like an off-cluster source.
TEST(PacketFlowTest, LocalDetectionByNodeCidr) {
  IptablesPlannerConfig config = DefaultConfig();  // cluster CIDRs 10.0.0.0/8, fd00:10::/64: unused
  config.local_detect_mode = LocalDetectMode::kNodeCidr;
  NodeContext node = TestNode(IpFamily::kIPv4);
  // The IPv6 range first: each family takes the first podCIDR of its own family.
  node.pod_cidrs = {MakeCidr("fd00:10::2:0/112"), MakeCidr("10.0.2.0/24")};
  RunFlowsOnNode(
      config, node, LocalDetectionCluster(IpFamily::kIPv4),
      {
          {"pod on this node to cluster IP: not masqueraded", "10.0.2.5", "172.30.0.41", 80, "10.180.0.1:80"},
          {"pod on another node (cluster CIDR, not node CIDR): masqueraded", "10.0.3.5", "172.30.0.41", 80,
           "10.180.0.1:80 (masq)"},
          {"off-cluster source: masqueraded", "192.168.1.2", "172.30.0.41", 80, "10.180.0.1:80 (masq)"},
          {"eTP Local LB from a pod on this node: short-circuit to every endpoint", "10.0.2.5", "1.2.3.4", 80,
           "10.180.0.1:80, 10.180.2.1:80"},
          {"eTP Local LB from a pod on another node: external, local endpoint, source kept", "10.0.3.5",
           "1.2.3.4", 80, "10.180.2.1:80"},
          {"eTP Local node port from a pod on this node: short-circuit", "10.0.2.5", kTestNodeIp, 3001,
           "10.180.0.1:80, 10.180.2.1:80"},
      });

  NodeContext node6 = TestNode(IpFamily::kIPv6);
  node6.pod_cidrs = node.pod_cidrs;
  RunFlowsOnNode(config, node6, LocalDetectionCluster(IpFamily::kIPv6),
                 {
                     {"IPv6 pod on this node: not masqueraded", "fd00:10::2:5", "fd00:30::41", 80,
                      "[fd00:10::180:1]:80"},
                     {"IPv6 pod on another node: masqueraded", "fd00:10::3:5", "fd00:30::41", 80,
                      "[fd00:10::180:1]:80 (masq)"},
                     {"IPv6 eTP Local LB from a pod on this node: short-circuit", "fd00:10::2:5", "2001:db8::4",
                      80, "[fd00:10::180:1]:80, [fd00:10::180:2]:80"},
                     {"IPv6 eTP Local LB from a pod on another node: local endpoint", "fd00:10::3:5",
                      "2001:db8::4", 80, "[fd00:10::180:2]:80"},
                 });

  // No podCIDR of the family: upstream falls back to the no-op detector for that family, so nothing is
  // "local" and nothing is "not local" (no masquerade for off-cluster sources, no pod short-circuit).
  NodeContext v6_only = TestNode(IpFamily::kIPv4);
  v6_only.pod_cidrs = {MakeCidr("fd00:10::2:0/112")};
  RunFlowsOnNode(config, v6_only, LocalDetectionCluster(IpFamily::kIPv4),
                 {
                     {"no IPv4 podCIDR: off-cluster source not masqueraded", "192.168.1.2", "172.30.0.41", 80,
                      "10.180.0.1:80"},
                     {"no IPv4 podCIDR: no short-circuit for pods", "10.0.2.5", "1.2.3.4", 80, "10.180.2.1:80"},
                 });
}

// detect-local-mode BridgeInterface (upstream: NewDetectLocalByBridgeInterface, "-i <bridge>" and
// "! -i <bridge>", the same for both families): "local" is whatever arrives on the bridge, by
// exact interface name, whatever its source address.
TEST(PacketFlowTest, LocalDetectionByBridgeInterface) {
  IptablesPlannerConfig config = DefaultConfig();
  config.local_detect_mode = LocalDetectMode::kBridgeInterface;
  config.bridge_interface = "cbr0";
  RunFlows(config, LocalDetectionCluster(IpFamily::kIPv4),
           {
               {"from the bridge: not masqueraded", "10.0.2.5", "172.30.0.41", 80, "10.180.0.1:80",
                Protocol::kTCP, "cbr0"},
               {"from the bridge with an off-cluster source: still local", "192.168.1.2", "172.30.0.41", 80,
                "10.180.0.1:80", Protocol::kTCP, "cbr0"},
               {"pod-range source from the uplink: masqueraded", "10.0.2.5", "172.30.0.41", 80,
                "10.180.0.1:80 (masq)", Protocol::kTCP, "eth0"},
               {"an interface named like the bridge plus a suffix is not the bridge", "10.0.2.5", "172.30.0.41",
                80, "10.180.0.1:80 (masq)", Protocol::kTCP, "cbr01"},
               {"from the node itself (no input interface): masqueraded", kTestNodeIp, "172.30.0.41", 80,
                "10.180.0.1:80 (masq)"},
               {"eTP Local LB from the bridge: short-circuit to every endpoint", "10.0.2.5", "1.2.3.4", 80,
                "10.180.0.1:80, 10.180.2.1:80", Protocol::kTCP, "cbr0"},
               {"eTP Local LB from the uplink: local endpoint, source kept", "10.0.2.5", "1.2.3.4", 80,
                "10.180.2.1:80", Protocol::kTCP, "eth0"},
           });
  RunFlows(config, LocalDetectionCluster(IpFamily::kIPv6),
           {
               {"IPv6 from the bridge: not masqueraded", "fd00:10::2:5", "fd00:30::41", 80, "[fd00:10::180:1]:80",
                Protocol::kTCP, "cbr0"},
               {"IPv6 from the uplink: masqueraded", "fd00:10::2:5", "fd00:30::41", 80,
                "[fd00:10::180:1]:80 (masq)", Protocol::kTCP, "eth0"},
               {"IPv6 eTP Local LB from the bridge: short-circuit", "fd00:10::2:5", "2001:db8::4", 80,
                "[fd00:10::180:1]:80, [fd00:10::180:2]:80", Protocol::kTCP, "cbr0"},
           },
           IpFamily::kIPv6);
}

TEST(PacketFlowTest, NodePortsAndExternalIPs) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("172.30.0.41")};
    s.external_ips = {Ip("192.168.99.11")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"), {MakeEndpoint("10.180.0.1", 80)});
  cluster.AddService(MakeService("ns2", "empty", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("172.30.0.42")};
    s.external_ips = {Ip("192.168.99.12")};
    AddPort(s, "http", Protocol::kTCP, 80, 3002);
  }));
  std::vector<FlowCase> cases = {
      {"node port from outside", "203.0.113.5", kTestNodeIp, 3001, "10.180.0.1:80 (masq)"},
      {"node port from a pod", "10.0.0.2", kTestNodeIp, 3001, "10.180.0.1:80 (masq)"},
      {"node port from the node", kTestNodeIp, kTestNodeIp, 3001, "10.180.0.1:80 (masq)"},
      {"localhost node port", "127.0.0.1", "127.0.0.1", 3001, "10.180.0.1:80 (masq)"},
      {"node port on a non-local address", "203.0.113.5", "192.168.0.99", 3001, "not intercepted"},
      {"external IP", "203.0.113.5", "192.168.99.11", 80, "10.180.0.1:80 (masq)"},
      {"external IP from a pod", "10.0.0.2", "192.168.99.11", 80, "10.180.0.1:80 (masq)"},
      {"external IP, no endpoints", "203.0.113.5", "192.168.99.12", 80, "REJECT"},
      {"node port, no endpoints", "203.0.113.5", kTestNodeIp, 3002, "REJECT"},
  };
  RunFlows(DefaultConfig(), cluster, cases);
  IptablesPlannerConfig config = DefaultConfig();
  config.localhost_node_ports = false;
  RunFlows(config, cluster,
           {{"localhost node port disabled", "127.0.0.1", "127.0.0.1", 3001, "not intercepted"},
            {"node IP node port still works", "203.0.113.5", kTestNodeIp, 3001, "10.180.0.1:80 (masq)"}});
  config = DefaultConfig();
  config.node_port_addresses = TestNodePortAddresses({"192.168.0.2/32"});
  RunFlows(config, cluster,
           {{"node port on the listed address", "203.0.113.5", kTestNodeIp, 3001, "10.180.0.1:80 (masq)"},
            {"localhost not listed", "127.0.0.1", "127.0.0.1", 3001, "not intercepted"}});
  // CIDRs that match none of the node's addresses: NodePorts are reachable nowhere (issue 15).
  config.node_port_addresses = TestNodePortAddresses({"10.99.0.0/24"});
  RunFlows(config, cluster,
           {{"node IP outside the CIDRs", "203.0.113.5", kTestNodeIp, 3001, "not intercepted"},
            {"node IP from the node", kTestNodeIp, kTestNodeIp, 3001, "not intercepted"},
            {"localhost outside the CIDRs", "127.0.0.1", "127.0.0.1", 3001, "not intercepted"},
            {"cluster IP unaffected", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80"}});
}

TEST(PacketFlowTest, LoadBalancerWithSourceRanges) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
    s.load_balancer_source_ranges = {MakeCidr("203.0.113.0/25"), MakeCidr("192.168.0.0/24")};
    s.session_affinity = SessionAffinity::kClientIP;
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {MakeEndpoint("10.180.0.1", 80), MakeEndpoint("10.180.0.2", 80)});
  RunFlows(DefaultConfig(), cluster,
           {
               {"allowed source", "203.0.113.5", "1.2.3.4", 80, "10.180.0.1:80, 10.180.0.2:80 (masq)"},
               {"denied source", "203.0.113.200", "1.2.3.4", 80, "DROP"},
               {"node (range contains node IP)", kTestNodeIp, "1.2.3.4", 80, "10.180.0.1:80, 10.180.0.2:80 (masq)"},
               {"LB VIP as source (hairpin via node)", "1.2.3.4", "1.2.3.4", 80,
                "10.180.0.1:80, 10.180.0.2:80 (masq)"},
               {"node port ignores source ranges", "203.0.113.200", kTestNodeIp, 3001,
                "10.180.0.1:80, 10.180.0.2:80 (masq)"},
               {"cluster IP ignores source ranges", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80, 10.180.0.2:80"},
           });
}

TEST(PacketFlowTest, LoadBalancerSourceRangesThatDenyAll) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
    s.invalid_source_ranges = {"not-a-cidr"};  // fail closed
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"), {MakeEndpoint("10.180.0.1", 80)});
  RunFlows(DefaultConfig(), cluster,
           {
               {"any source", "203.0.113.5", "1.2.3.4", 80, "DROP"},
               {"even the node", kTestNodeIp, "1.2.3.4", 80, "DROP"},
               {"node port still open", "203.0.113.5", kTestNodeIp, 3001, "10.180.0.1:80 (masq)"},
           });
}

TEST(PacketFlowTest, ExternalTrafficPolicyLocal) {
  TestCluster cluster;
  auto local_lb = [](absl::string_view name, absl::string_view cluster_ip, absl::string_view lb_ip,
                     absl::string_view external_ip, int node_port) {
    return MakeService("ns1", name, [=](Service& s) {
      s.type = ServiceType::kLoadBalancer;
      s.external_traffic_policy = TrafficPolicy::kLocal;
      s.cluster_ips = {Ip(cluster_ip)};
      s.external_ips = {Ip(external_ip)};
      AddPort(s, "http", Protocol::kTCP, 80, node_port);
      AddIngress(s, lb_ip);
      s.health_check_node_port = 30000 + node_port % 10;
    });
  };
  cluster.AddService(local_lb("with-local", "172.30.0.41", "1.2.3.4", "192.168.99.11", 3001));
  cluster.SetEndpoints(MakeServicePortName("ns1", "with-local", "http"),
                       {MakeEndpoint("10.180.0.1", 80), LocalEndpoint("10.180.2.1", 80)});
  cluster.AddService(local_lb("remote-only", "172.30.0.42", "1.2.3.5", "192.168.99.12", 3002));
  cluster.SetEndpoints(MakeServicePortName("ns1", "remote-only", "http"), {MakeEndpoint("10.180.0.1", 80)});
  cluster.AddService(local_lb("none", "172.30.0.43", "1.2.3.6", "192.168.99.13", 3003));
  RunFlows(DefaultConfig(), cluster,
           {
               {"LB from outside: local endpoints, source kept", "203.0.113.5", "1.2.3.4", 80, "10.180.2.1:80"},
               {"external IP from outside", "203.0.113.5", "192.168.99.11", 80, "10.180.2.1:80"},
               {"node port from outside", "203.0.113.5", kTestNodeIp, 3001, "10.180.2.1:80"},
               {"LB from a pod: short-circuit to all endpoints", "10.0.0.2", "1.2.3.4", 80,
                "10.180.0.1:80, 10.180.2.1:80"},
               {"LB from the node: all endpoints, masqueraded", kTestNodeIp, "1.2.3.4", 80,
                "10.180.0.1:80, 10.180.2.1:80 (masq)"},
               {"cluster IP unaffected", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80, 10.180.2.1:80"},
               {"no local endpoint: LB from outside dropped", "203.0.113.5", "1.2.3.5", 80, "DROP"},
               {"no local endpoint: node port dropped", "203.0.113.5", kTestNodeIp, 3002, "DROP"},
               {"no local endpoint: external IP dropped", "203.0.113.5", "192.168.99.12", 80, "DROP"},
               {"no local endpoint: pod still reaches", "10.0.0.2", "1.2.3.5", 80, "10.180.0.1:80"},
               {"no local endpoint: node still reaches", kTestNodeIp, "1.2.3.5", 80, "10.180.0.1:80 (masq)"},
               {"no endpoints at all: LB rejected", "203.0.113.5", "1.2.3.6", 80, "REJECT"},
               {"no endpoints at all: node port rejected", "203.0.113.5", kTestNodeIp, 3003, "REJECT"},
               {"health check node port accepted", "203.0.113.5", kTestNodeIp, 30001, "not intercepted"},
           });
}

TEST(PacketFlowTest, InternalTrafficPolicyLocal) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "with-local", [](Service& s) {
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "with-local", "http"),
                       {MakeEndpoint("10.180.0.1", 80), LocalEndpoint("10.180.2.1", 80)});
  cluster.AddService(MakeService("ns1", "remote-only", [](Service& s) {
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "remote-only", "http"), {MakeEndpoint("10.180.0.1", 80)});
  RunFlows(DefaultConfig(), cluster,
           {
               {"only local endpoints", "10.0.0.2", "172.30.0.41", 80, "10.180.2.1:80"},
               {"off-cluster source masqueraded", "192.168.1.2", "172.30.0.41", 80, "10.180.2.1:80 (masq)"},
               {"no local endpoints: dropped", "10.0.0.2", "172.30.0.42", 80, "DROP"},
           });
}

TEST(PacketFlowTest, BothTrafficPoliciesLocal) {
  // Upstream keeps the Cluster chain for externally reachable Services even with both policies
  // Local: the EXT chain short-circuits pod and node traffic to it.
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {MakeEndpoint("10.180.0.1", 80), LocalEndpoint("10.180.2.1", 80)});
  RunFlows(DefaultConfig(), cluster,
           {
               {"cluster IP: local only", "10.0.0.2", "172.30.0.41", 80, "10.180.2.1:80"},
               {"LB from outside: local only", "203.0.113.5", "1.2.3.4", 80, "10.180.2.1:80"},
               {"LB from a pod: all endpoints", "10.0.0.2", "1.2.3.4", 80, "10.180.0.1:80, 10.180.2.1:80"},
               {"LB from the node: all endpoints", kTestNodeIp, "1.2.3.4", 80,
                "10.180.0.1:80, 10.180.2.1:80 (masq)"},
           });
}

TEST(PacketFlowTest, TerminatingEndpointsServeWhenNoneReady) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  auto terminating = [](absl::string_view ip, bool serving) {
    return MakeEndpoint(ip, 80, [serving](Endpoint& e) {
      e.ready = false;
      e.serving = serving;
      e.terminating = true;
    });
  };
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {terminating("10.180.0.1", true), terminating("10.180.0.2", false)});
  cluster.AddService(MakeService("ns1", "mixed", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "mixed", "http"),
                       {terminating("10.180.0.3", true), MakeEndpoint("10.180.0.4", 80)});
  cluster.AddService(MakeService("ns1", "dead", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.43")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "dead", "http"), {terminating("10.180.0.5", false)});
  RunFlows(DefaultConfig(), cluster,
           {
               {"serving terminating used as fallback", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80"},
               {"ready preferred over terminating", "10.0.0.2", "172.30.0.42", 80, "10.180.0.4:80"},
               {"not serving: no endpoints", "10.0.0.2", "172.30.0.43", 80, "REJECT"},
           });
}

TEST(PacketFlowTest, PassThroughVipsAreNotIntercepted) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "annotated", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.metadata.annotations[kPassThroughAnnotation] = "true";
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
    s.load_balancer_source_ranges = {MakeCidr("203.0.113.0/25")};
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "annotated", "http"), {MakeEndpoint("10.180.0.1", 80)});
  cluster.AddService(MakeService("ns1", "proxy-mode", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "http", Protocol::kTCP, 80, 3002);
    AddIngress(s, "1.2.3.5", "Proxy");  // ipMode: Proxy
    AddIngress(s, "1.2.3.6");           // a VIP-mode ingress of the same Service keeps its rules
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "proxy-mode", "http"), {MakeEndpoint("10.180.0.2", 80)});
  cluster.AddService(MakeService("ns1", "no-endpoints", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.metadata.annotations[kPassThroughAnnotation] = "onlyLocal";
    s.cluster_ips = {Ip("172.30.0.43")};
    AddPort(s, "http", Protocol::kTCP, 80, 3003);
    AddIngress(s, "1.2.3.7");
  }));
  RunFlows(DefaultConfig(), cluster,
           {
               {"annotated VIP from a pod", "10.0.0.2", "1.2.3.4", 80, "not intercepted"},
               {"annotated VIP from the node", kTestNodeIp, "1.2.3.4", 80, "not intercepted"},
               {"annotated VIP from a denied range: no firewall DROP", "203.0.113.200", "1.2.3.4", 80,
                "not intercepted"},
               {"annotated: node port still works", "203.0.113.5", kTestNodeIp, 3001, "10.180.0.1:80 (masq)"},
               {"annotated: cluster IP still works", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80"},
               {"ipMode Proxy VIP from a pod", "10.0.0.2", "1.2.3.5", 80, "not intercepted"},
               {"ipMode Proxy VIP from outside: no DROP", "203.0.113.5", "1.2.3.5", 80, "not intercepted"},
               {"VIP-mode ingress of the same Service from outside: Local policy drops", "203.0.113.5",
                "1.2.3.6", 80, "DROP"},
               {"VIP-mode ingress from a pod", "10.0.0.2", "1.2.3.6", 80, "10.180.0.2:80"},
               {"ipMode Proxy: node port still programmed (Local: DROP)", "203.0.113.5", kTestNodeIp, 3002,
                "DROP"},
               {"ipMode Proxy: cluster IP still works", "10.0.0.2", "172.30.0.42", 80, "10.180.0.2:80"},
               {"pass-through without endpoints: no REJECT for the VIP", "10.0.0.2", "1.2.3.7", 80,
                "not intercepted"},
               {"pass-through without endpoints: cluster IP rejects", "10.0.0.2", "172.30.0.43", 80, "REJECT"},
               {"pass-through without endpoints: node port rejects", "203.0.113.5", kTestNodeIp, 3003, "REJECT"},
           });
}

// Services sharing one ELB (same ingress IP, different ports) that disagree on pass-through. IPVS
// mode must make the group agree (it binds the whole IP); iptables rules match per IP:port, so here
// each Service keeps its own setting, whichever Service is older.
TEST(PacketFlowTest, ElbGroupWithMixedPassThroughKeepsEachServicesOwnSetting) {
  TestCluster cluster;
  auto lb = [](absl::string_view name, absl::string_view cluster_ip, absl::string_view ingress, int port,
               int node_port, bool pass_through, int64_t created) {
    return MakeService("ns1", name, [=](Service& s) {
      s.type = ServiceType::kLoadBalancer;
      s.metadata.creation_timestamp = absl::FromUnixSeconds(created);
      if (pass_through) s.metadata.annotations[kPassThroughAnnotation] = "true";
      s.cluster_ips = {Ip(cluster_ip)};
      AddPort(s, "p", Protocol::kTCP, port, node_port);
      AddIngress(s, ingress);
    });
  };
  // ELB 1.2.3.4: the oldest Service is pass-through (IPVS would make the other one pass-through too).
  cluster.AddService(lb("pt-oldest", "172.30.0.41", "1.2.3.4", 80, 3001, true, 100));
  cluster.AddService(lb("vip-newer", "172.30.0.42", "1.2.3.4", 443, 3002, false, 200));
  // ELB 1.2.3.5: the oldest Service is not (IPVS would intercept the other one too).
  cluster.AddService(lb("vip-oldest", "172.30.0.43", "1.2.3.5", 80, 3003, false, 100));
  cluster.AddService(lb("pt-newer", "172.30.0.44", "1.2.3.5", 443, 3004, true, 200));
  for (absl::string_view name : {"pt-oldest", "vip-newer", "vip-oldest", "pt-newer"}) {
    cluster.SetEndpoints(MakeServicePortName("ns1", name, "p"), {MakeEndpoint("10.180.0.1", 8080)});
  }
  // The premise: these really are two conflicting ELB groups (one conflict each).
  ASSERT_EQ(EnforceElbConsistency(cluster.Snapshot().services).conflicts.size(), 2u);

  RunFlows(DefaultConfig(), cluster,
           {
               {"oldest pass-through: its port from a pod is not intercepted", "10.0.0.2", "1.2.3.4", 80,
                "not intercepted"},
               {"oldest pass-through: its port from outside is not intercepted", "203.0.113.5", "1.2.3.4", 80,
                "not intercepted"},
               {"newer VIP-mode on the same IP: its port from a pod is DNATed", "10.0.0.2", "1.2.3.4", 443,
                "10.180.0.1:8080 (masq)"},
               {"newer VIP-mode on the same IP: its port from outside is DNATed", "203.0.113.5", "1.2.3.4", 443,
                "10.180.0.1:8080 (masq)"},
               {"oldest VIP-mode: its port from a pod is DNATed", "10.0.0.2", "1.2.3.5", 80,
                "10.180.0.1:8080 (masq)"},
               {"newer pass-through on the same IP: its port from a pod is not intercepted", "10.0.0.2",
                "1.2.3.5", 443, "not intercepted"},
               {"newer pass-through on the same IP: its port from the node is not intercepted", kTestNodeIp,
                "1.2.3.5", 443, "not intercepted"},
               {"pass-through Service keeps its node port", "203.0.113.5", kTestNodeIp, 3001,
                "10.180.0.1:8080 (masq)"},
               {"pass-through Service keeps its cluster IP", "10.0.0.2", "172.30.0.44", 443, "10.180.0.1:8080"},
               {"a port no Service uses on the shared IP is not intercepted", "10.0.0.2", "1.2.3.4", 8443,
                "not intercepted"},
           });
}

TEST(PacketFlowTest, SessionAffinityKeepsEveryEndpointReachable) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
    s.session_affinity = SessionAffinity::kClientIP;
    s.session_affinity_timeout_seconds = 300;
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {MakeEndpoint("10.180.0.1", 80), MakeEndpoint("10.180.0.2", 80), MakeEndpoint("10.180.0.3", 80)});
  RunFlows(DefaultConfig(), cluster,
           {{"all endpoints", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80"}});
}

TEST(PacketFlowTest, IPv6) {
  TestCluster cluster(IpFamily::kIPv6);
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("fd00:30::41")};
    AddPort(s, "http", Protocol::kTCP, 80, 3001);
    AddIngress(s, "2001:db8::4");
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"), {MakeEndpoint("fd00:10::1", 80)});
  RunFlows(DefaultConfig(), cluster,
           {
               {"pod to cluster IP", "fd00:10::2", "fd00:30::41", 80, "[fd00:10::1]:80"},
               {"LB VIP from outside", "2001:db8:1::5", "2001:db8::4", 80, "[fd00:10::1]:80 (masq)"},
               {"node port", "2001:db8:1::5", "fd00:192:168::2", 3001, "[fd00:10::1]:80 (masq)"},
               {"no localhost node ports on IPv6", "::1", "::1", 3001, "not intercepted"},
           },
           IpFamily::kIPv6);
}

}  // namespace
}  // namespace kproxy::proxier::iptables
