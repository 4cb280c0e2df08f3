// Packet flows through the planned ruleset (the NftEvaluator), in upstream's nftables flow-table
// notation: upstream pkg/proxy/nftables/proxier_test.go's TestNoEndpointsReject,
// TestClusterIPGeneral, TestLoadBalancer, TestNodePorts, TestExternalTrafficPolicyLocal/Cluster,
// plus pass-through, ipMode: Proxy, terminating endpoints, internalTrafficPolicy Local and
// fail-closed source ranges.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxier/nftables/nftables_planner.h"
#include "test/unit/proxier/nftables/testing/nft_evaluator.h"
#include "test/unit/proxier/nftables/testing_cluster.h"

namespace kproxy::proxier::nftables {
namespace {

using testing::AddIngress;
using testing::AddPort;
using testing::FlowPacket;
using testing::Ip;
using testing::LocalEndpoint;
using testing::MakeCidr;
using testing::MakeEndpoint;
using testing::MakeService;
using testing::MakeServicePortName;
using testing::NftEvaluator;
using testing::TerminatingEndpoint;
using testing::TestCluster;
using testing::TestNode;
using testing::UpstreamTestOptions;

constexpr char kNodeIp[] = "192.168.0.2";
constexpr char kNodeIpAlt[] = "192.168.1.2";
constexpr char kExternalClient[] = "203.0.113.2";
constexpr char kExternalClientBlocked[] = "203.0.113.130";

struct Flow {
  std::string name;
  std::string source;
  std::string destination;
  int port = 0;
  std::string output;  // "ip:port[, ip:port]", "DROP", "REJECT" or "" (not DNAT'd)
  bool masquerade = false;
  std::string protocol = "tcp";
};

void RunFlows(const NftRuleset& ruleset, const std::vector<Flow>& flows,
              std::vector<std::string> local_addresses = {kNodeIp, kNodeIpAlt}) {
  NftEvaluator evaluator(ruleset, std::move(local_addresses));
  for (const Flow& flow : flows) {
    SCOPED_TRACE(flow.name);
    FlowPacket packet;
    packet.source = flow.source;
    packet.destination = flow.destination;
    packet.port = flow.port;
    packet.protocol = flow.protocol;
    const NftEvaluator::Summary summary = evaluator.Summarize(packet);
    ASSERT_EQ(summary.error, "");
    EXPECT_EQ(summary.output, flow.output);
    EXPECT_EQ(summary.masquerade, flow.masquerade);
  }
}

NftRuleset Plan(const TestCluster& cluster,
                NftablesPlannerOptions options = UpstreamTestOptions()) {
  return PlanNftables(cluster.Snapshot(), TestNode(), options);
}

TEST(NftablesPacketFlowTest, NoEndpointsReject) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.41")};
    s.external_ips = {Ip("192.168.99.11")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
  }));
  RunFlows(Plan(cluster),
           {
               {"pod to cluster IP with no endpoints", "10.0.0.2", "172.30.0.41", 80, "REJECT"},
               {"external to external IP with no endpoints", kExternalClient, "192.168.99.11", 80,
                "REJECT"},
               {"pod to NodePort with no endpoints", "10.0.0.2", kNodeIp, 3001, "REJECT"},
               {"external to NodePort with no endpoints", kExternalClient, kNodeIp, 3001, "REJECT"},
               {"pod to LoadBalancer IP with no endpoints", "10.0.0.2", "1.2.3.4", 80, "REJECT"},
               {"external to LoadBalancer IP with no endpoints", kExternalClient, "1.2.3.4", 80,
                "REJECT"},
           });
}

TEST(NftablesPacketFlowTest, ClusterIPGeneral) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "http", Protocol::kTCP, 80);
  }));
  cluster.AddService(MakeService("ns2", "svc2", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "http", Protocol::kTCP, 80);
    AddPort(s, "https", Protocol::kTCP, 443);
    AddPort(s, "dns-udp", Protocol::kUDP, 53);
    AddPort(s, "dns-tcp", Protocol::kTCP, 53);
    AddPort(s, "dns-sctp", Protocol::kSCTP, 53);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "http"),
                       {LocalEndpoint("10.180.0.1", 80)});
  auto two = [](int port) {
    return EndpointList{LocalEndpoint("10.180.0.1", port), MakeEndpoint("10.180.2.1", port)};
  };
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "http"), two(80));
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "https"), two(8443));
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "dns-udp", Protocol::kUDP), two(53));
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "dns-tcp"), two(5353));
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "dns-sctp", Protocol::kSCTP), two(53));
  RunFlows(Plan(cluster),
           {
               {"simple clusterIP", "10.180.0.2", "172.30.0.41", 80, "10.180.0.1:80", false},
               {"hairpin to cluster IP", "10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", true},
               {"clusterIP with multiple endpoints", "10.180.0.2", "172.30.0.42", 80,
                "10.180.0.1:80, 10.180.2.1:80", false},
               {"clusterIP with TargetPort", "10.180.0.2", "172.30.0.42", 443,
                "10.180.0.1:8443, 10.180.2.1:8443", false},
               {"clusterIP with TCP, UDP, and SCTP on same port (TCP)", "10.180.0.2", "172.30.0.42",
                53, "10.180.0.1:5353, 10.180.2.1:5353", false, "tcp"},
               {"clusterIP with TCP, UDP, and SCTP on same port (UDP)", "10.180.0.2", "172.30.0.42",
                53, "10.180.0.1:53, 10.180.2.1:53", false, "udp"},
               {"clusterIP with TCP, UDP, and SCTP on same port (SCTP)", "10.180.0.2",
                "172.30.0.42", 53, "10.180.0.1:53, 10.180.2.1:53", false, "sctp"},
               {"TCP-only port does not match UDP traffic", "10.180.0.2", "172.30.0.42", 80,
                "REJECT", false, "udp"},
               {"svc1 does not accept svc2's ports", "10.180.0.2", "172.30.0.41", 443, "REJECT"},
               {"packet to unallocated cluster ip", "10.180.0.2", "172.30.0.50", 80, "DROP"},
               {"off-cluster source to a ClusterIP is masqueraded", kExternalClient, "172.30.0.41",
                80, "10.180.0.1:80", true},
           });
}

TestCluster LoadBalancerCluster(const std::function<void(Service&)>& extra = nullptr) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [&](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
    AddIngress(s, "5.6.7.8");
    s.load_balancer_source_ranges = {MakeCidr("192.168.0.0/24"), MakeCidr(" 203.0.113.0/25")};
    if (extra) extra(s);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"), {MakeEndpoint("10.180.0.1", 80)});
  return cluster;
}

TEST(NftablesPacketFlowTest, LoadBalancer) {
  const std::string ep = "10.180.0.1:80";
  RunFlows(
      Plan(LoadBalancerCluster()),
      {
          {"pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, ep, false},
          {"external to nodePort", kExternalClient, kNodeIp, 3001, ep, true},
          {"nodePort bypasses LoadBalancerSourceRanges", kExternalClientBlocked, kNodeIp, 3001, ep,
           true},
          {"accepted external to LB1", kExternalClient, "1.2.3.4", 80, ep, true},
          {"accepted external to LB2", kExternalClient, "5.6.7.8", 80, ep, true},
          {"blocked external to LB1", kExternalClientBlocked, "1.2.3.4", 80, "DROP"},
          {"blocked external to LB2", kExternalClientBlocked, "5.6.7.8", 80, "DROP"},
          {"pod to LB1 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", "1.2.3.4", 80, "DROP"},
          {"pod to LB2 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", "5.6.7.8", 80, "DROP"},
          {"node to LB1 (allowed by LoadBalancerSourceRanges)", kNodeIp, "1.2.3.4", 80, ep, true},
          {"node to LB2 (allowed by LoadBalancerSourceRanges)", kNodeIp, "5.6.7.8", 80, ep, true},
          {"same node to LB1, SNATted to LB1 (implicitly allowed)", "1.2.3.4", "1.2.3.4", 80, ep,
           true},
          {"same node to LB2, SNATted to LB2 (implicitly allowed)", "5.6.7.8", "5.6.7.8", 80, ep,
           true},
      });
}

TEST(NftablesPacketFlowTest, SourceRangesThatAllFailToParseAllowNobody) {
  // The model marks a Service whose loadBalancerSourceRanges were all invalid: fail closed.
  TestCluster cluster = LoadBalancerCluster([](Service& s) { s.load_balancer_source_ranges = {}; });
  ProxySnapshot snapshot = cluster.Snapshot();
  for (auto& [name, port] : snapshot.services) {
    auto copy = std::make_shared<ServicePort>(*port);
    copy->source_ranges_deny_all = true;
    port = copy;
  }
  const NftRuleset ruleset = PlanNftables(snapshot, TestNode(), UpstreamTestOptions());
  RunFlows(ruleset,
           {
               {"external to LB1", kExternalClient, "1.2.3.4", 80, "DROP"},
               {"node to LB1", kNodeIp, "1.2.3.4", 80, "DROP"},
               {"nodePort still open", kExternalClient, kNodeIp, 3001, "10.180.0.1:80", true},
           });
}

TEST(NftablesPacketFlowTest, NodePorts) {
  struct Case {
    std::string name;
    IpFamily family;
    std::vector<std::string> node_port_addresses;  // resolved by the caller; empty: all
    bool allow_alt_node_ip;
  };
  const std::vector<Case> cases = {
      {"ipv4, primary", IpFamily::kIPv4, {"192.168.0.2"}, false},
      {"ipv4, multiple nodeport-addresses", IpFamily::kIPv4, {"192.168.0.2", "192.168.1.2"}, true},
      {"ipv4, all addresses", IpFamily::kIPv4, {}, true},
      {"ipv6, primary", IpFamily::kIPv6, {"2001:db8::1"}, false},
      {"ipv6, multiple nodeport-addresses",
       IpFamily::kIPv6,
       {"2001:db8::1", "2001:db8:1::2"},
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const bool v4 = c.family == IpFamily::kIPv4;
    const std::string svc_ip = v4 ? "172.30.0.41" : "fd00:172:30::41";
    const std::string ep1 = v4 ? "10.180.0.1" : "fd00:10:180::1";
    const std::string ep2 = v4 ? "10.180.2.1" : "fd00:10:180::2:1";
    const std::string node_ip = v4 ? kNodeIp : "2001:db8::1";
    const std::string alt_ip = v4 ? kNodeIpAlt : "2001:db8:1::2";
    TestCluster cluster(c.family);
    cluster.AddService(MakeService("ns1", "svc1", [&](Service& s) {
      s.type = ServiceType::kNodePort;
      s.cluster_ips = {Ip(svc_ip)};
      AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    }));
    cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"),
                         {MakeEndpoint(ep1, 80), LocalEndpoint(ep2, 80)});
    NftablesPlannerOptions options = UpstreamTestOptions();
    options.cluster_cidrs = {MakeCidr(v4 ? "10.0.0.0/8" : "fd00:10::/64")};
    options.service_cidrs = {MakeCidr(v4 ? "172.30.0.0/16" : "fd00:172:30::/112")};
    options.node_port_addresses.clear();
    for (const std::string& ip : c.node_port_addresses)
      options.node_port_addresses.push_back(Ip(ip));
    const NftRuleset ruleset = PlanNftables(cluster.Snapshot(), TestNode(c.family), options);
    const std::string output = Ip(ep1).JoinPort(80) + ", " + Ip(ep2).JoinPort(80);
    const std::string pod = v4 ? "10.0.0.2" : "fd00:10::2";
    const std::string external = v4 ? kExternalClient : "2600:5200::1";
    const std::vector<std::string> local = {node_ip, alt_ip};
    RunFlows(ruleset,
             {
                 {"pod to cluster IP", pod, svc_ip, 80, output, false},
                 {"external to nodePort", external, node_ip, 3001, output, true},
                 {"node to nodePort", node_ip, node_ip, 3001, output, true},
             },
             local);
    if (c.allow_alt_node_ip) {
      RunFlows(ruleset,
               {{"external to nodePort on secondary IP", external, alt_ip, 3001, output, true}},
               local);
    } else {
      RunFlows(ruleset, {{"secondary nodeIP ignores NodePorts", external, alt_ip, 3001, ""}},
               local);
    }
    // nftables mode has no localhost NodePorts.
    RunFlows(ruleset,
             {{"localhost NodePort", v4 ? "127.0.0.1" : "::1", v4 ? "127.0.0.1" : "::1", 3001, ""}},
             local);
  }
}

TestCluster TrafficPolicyCluster(TrafficPolicy policy) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [&](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = policy;
    s.cluster_ips = {Ip("172.30.0.41")};
    s.external_ips = {Ip("192.168.99.11")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    s.health_check_node_port = 30000;
    AddIngress(s, "1.2.3.4");
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"),
                       {MakeEndpoint("10.180.0.1", 80), LocalEndpoint("10.180.2.1", 80)});
  return cluster;
}

TEST(NftablesPacketFlowTest, ExternalTrafficPolicyLocal) {
  const std::string both = "10.180.0.1:80, 10.180.2.1:80";
  const std::string local = "10.180.2.1:80";
  RunFlows(
      Plan(TrafficPolicyCluster(TrafficPolicy::kLocal)),
      {
          {"pod to cluster IP hits both endpoints, unmasqueraded", "10.0.0.2", "172.30.0.41", 80,
           both},
          {"pod to external IP hits both endpoints, unmasqueraded", "10.0.0.2", "192.168.99.11", 80,
           both},
          {"external to external IP hits only local endpoint, unmasqueraded", kExternalClient,
           "192.168.99.11", 80, local},
          {"pod to LB IP hits only both endpoints, unmasqueraded", "10.0.0.2", "1.2.3.4", 80, both},
          {"external to LB IP hits only local endpoint, unmasqueraded", kExternalClient, "1.2.3.4",
           80, local},
          {"pod to NodePort hits both endpoints, unmasqueraded", "10.0.0.2", kNodeIp, 3001, both},
          {"external to NodePort hits only local endpoint, unmasqueraded", kExternalClient, kNodeIp,
           3001, local},
          {"node to NodePort hits both endpoints, masqueraded", kNodeIp, kNodeIp, 3001, both, true},
      });
}

TEST(NftablesPacketFlowTest, ExternalTrafficPolicyLocalWithoutLocalEndpointsDropsExternalTraffic) {
  TestCluster cluster = TrafficPolicyCluster(TrafficPolicy::kLocal);
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"), {MakeEndpoint("10.180.0.1", 80)});
  RunFlows(Plan(cluster),
           {
               {"pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80"},
               {"pod to LB IP is short-circuited", "10.0.0.2", "1.2.3.4", 80, "10.180.0.1:80"},
               {"external to LB IP", kExternalClient, "1.2.3.4", 80, "DROP"},
               {"external to external IP", kExternalClient, "192.168.99.11", 80, "DROP"},
               {"external to NodePort", kExternalClient, kNodeIp, 3001, "DROP"},
           });
}

TEST(NftablesPacketFlowTest, ExternalTrafficPolicyCluster) {
  const std::string both = "10.180.0.1:80, 10.180.2.1:80";
  RunFlows(
      Plan(TrafficPolicyCluster(TrafficPolicy::kCluster)),
      {
          {"pod to cluster IP hits both endpoints, unmasqueraded", "10.0.0.2", "172.30.0.41", 80,
           both},
          {"pod to external IP hits both endpoints, masqueraded", "10.0.0.2", "192.168.99.11", 80,
           both, true},
          {"external to external IP hits both endpoints, masqueraded", kExternalClient,
           "192.168.99.11", 80, both, true},
          {"pod to LB IP hits both endpoints, masqueraded", "10.0.0.2", "1.2.3.4", 80, both, true},
          {"external to LB IP hits both endpoints, masqueraded", kExternalClient, "1.2.3.4", 80,
           both, true},
          {"pod to NodePort hits both endpoints, masqueraded", "10.0.0.2", kNodeIp, 3001, both,
           true},
          {"external to NodePort hits both endpoints, masqueraded", kExternalClient, kNodeIp, 3001,
           both, true},
      });
}

TEST(NftablesPacketFlowTest, PassThroughLoadBalancerIpsGetNothing) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "annotated", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    AddIngress(s, "203.0.113.7");
    s.load_balancer_source_ranges = {MakeCidr("198.51.100.0/24")};
    s.metadata.annotations[kPassThroughAnnotation] = "true";
  }));
  cluster.AddService(MakeService("ns1", "proxy-mode", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.42")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3002);
    AddIngress(s, "203.0.113.8", "Proxy");
    AddIngress(s, "203.0.113.9", "VIP");
  }));
  cluster.AddService(MakeService("ns1", "annotated-no-endpoints", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.43")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3003);
    AddIngress(s, "203.0.113.10");
    s.metadata.annotations[kPassThroughAnnotation] = "true";
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "annotated", "p80"),
                       {MakeEndpoint("10.180.0.1", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns1", "proxy-mode", "p80"),
                       {MakeEndpoint("10.180.0.2", 80)});
  RunFlows(
      Plan(cluster),
      {
          // No service, firewall or no-endpoint entry: the packet leaves for the load balancer.
          {"pod to pass-through LB IP", "10.0.0.2", "203.0.113.7", 80, ""},
          {"node to pass-through LB IP", kNodeIp, "203.0.113.7", 80, ""},
          {"pod to ipMode Proxy LB IP", "10.0.0.2", "203.0.113.8", 80, ""},
          {"pod to pass-through LB IP without endpoints", "10.0.0.2", "203.0.113.10", 80, ""},
          // The load balancer still reaches the Service through its NodePort and ClusterIP.
          {"ELB to NodePort", kExternalClient, kNodeIp, 3001, "10.180.0.1:80", true},
          {"pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80"},
          {"pod to the VIP ingress of the same Service", "10.0.0.2", "203.0.113.9", 80,
           "10.180.0.2:80", true},
      });
}

TEST(NftablesPacketFlowTest, TerminatingEndpointsServeOnlyWhenNoneIsReady) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    AddIngress(s, "1.2.3.4");
  }));
  const auto name = MakeServicePortName("ns1", "svc1", "p80");
  // A ready remote, a terminating local: external traffic falls back to the local terminating.
  cluster.SetEndpoints(name,
                       {MakeEndpoint("10.0.1.1", 80), TerminatingEndpoint("10.0.1.2", 80, true)});
  RunFlows(Plan(cluster), {
                              {"pod to clusterIP uses the ready endpoint", "10.0.0.2",
                               "172.30.0.41", 80, "10.0.1.1:80"},
                              {"external to LB falls back to the local terminating endpoint",
                               kExternalClient, "1.2.3.4", 80, "10.0.1.2:80"},
                          });
  // Only terminating endpoints anywhere: both serve.
  cluster.SetEndpoints(
      name, {TerminatingEndpoint("10.0.1.1", 80), TerminatingEndpoint("10.0.1.2", 80, true)});
  RunFlows(Plan(cluster), {
                              {"pod to clusterIP falls back to terminating", "10.0.0.2",
                               "172.30.0.41", 80, "10.0.1.1:80, 10.0.1.2:80"},
                          });
}

TEST(NftablesPacketFlowTest, InternalTrafficPolicyLocal) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  const auto name = MakeServicePortName("ns1", "svc1", "p80");
  cluster.SetEndpoints(name, {MakeEndpoint("10.180.0.1", 80), LocalEndpoint("10.180.2.1", 80)});
  RunFlows(Plan(cluster),
           {{"only the local endpoint", "10.0.0.2", "172.30.0.41", 80, "10.180.2.1:80"}});
  cluster.SetEndpoints(name, {MakeEndpoint("10.180.0.1", 80)});
  RunFlows(Plan(cluster), {{"no local endpoint: dropped", "10.0.0.2", "172.30.0.41", 80, "DROP"}});
}

TEST(NftablesPacketFlowTest, MasqueradeAllMasqueradesPodTraffic) {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"), {MakeEndpoint("10.180.0.1", 80)});
  NftablesPlannerOptions options = UpstreamTestOptions();
  options.masquerade_all = true;
  RunFlows(Plan(cluster, options),
           {{"pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", true}});
  options = UpstreamTestOptions();
  options.local_detect_mode = LocalDetectMode::kNone;
  RunFlows(Plan(cluster, options), {{"no detector: nobody is masqueraded for a ClusterIP",
                                     kExternalClient, "172.30.0.41", 80, "10.180.0.1:80", false}});
}

// The affinity maps are written by the packet path after DNAT (filter prerouting/output at -90)
// and read before the random choice; the evaluator keeps what the first connection wrote.
TEST(NftablesPacketFlowTest, SessionAffinityKeepsAClientOnItsEndpoint) {
  for (IpFamily family : {IpFamily::kIPv4, IpFamily::kIPv6}) {
    SCOPED_TRACE(IpFamilyName(family));
    const bool v4 = family == IpFamily::kIPv4;
    const std::string svc_ip = v4 ? "172.30.0.41" : "fd00:172:30::41";
    const std::string node_ip = v4 ? kNodeIp : "2001:db8::1";
    const std::string ep1 = Ip(v4 ? "10.180.0.1" : "fd00:10:180::1").JoinPort(80);
    const std::string ep2 = Ip(v4 ? "10.180.2.1" : "fd00:10:180::2:1").JoinPort(80);
    TestCluster cluster(family);
    cluster.AddService(MakeService("ns1", "svc1", [&](Service& s) {
      s.type = ServiceType::kNodePort;
      s.cluster_ips = {Ip(svc_ip)};
      AddPort(s, "p80", Protocol::kTCP, 80, 3001);
      s.session_affinity = SessionAffinity::kClientIP;
    }));
    cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"),
                         {MakeEndpoint(v4 ? "10.180.0.1" : "fd00:10:180::1", 80),
                          MakeEndpoint(v4 ? "10.180.2.1" : "fd00:10:180::2:1", 80)});
    NftablesPlannerOptions options = UpstreamTestOptions();
    options.cluster_cidrs = {MakeCidr(v4 ? "10.0.0.0/8" : "fd00:10::/64")};
    options.node_port_addresses = {Ip(node_ip)};
    options.service_cidrs = {};
    const NftRuleset ruleset = PlanNftables(cluster.Snapshot(), TestNode(family), options);
    NftEvaluator evaluator(ruleset, {node_ip});
    const std::string client = v4 ? "10.0.0.2" : "fd00:10::2";
    const std::string other = v4 ? "10.0.0.3" : "fd00:10::3";
    auto to = [](const std::string& source, const std::string& destination, int port) {
      FlowPacket packet;
      packet.source = source;
      packet.destination = destination;
      packet.port = port;
      return packet;
    };
    EXPECT_EQ(evaluator.Summarize(to(client, svc_ip, 80)).output, ep1 + ", " + ep2);
    ASSERT_EQ(evaluator.Connect(to(client, svc_ip, 80), /*choice=*/1), ep2);
    EXPECT_EQ(evaluator.Summarize(to(client, svc_ip, 80)).output, ep2);
    // Per ServicePort, whichever address it is reached on (as upstream).
    EXPECT_EQ(evaluator.Summarize(to(client, node_ip, 3001)).output, ep2);
    EXPECT_EQ(evaluator.Summarize(to(other, svc_ip, 80)).output, ep1 + ", " + ep2);
    // The diff flushes the map when an endpoint leaves: the client chooses again.
    evaluator.FlushDynamicMaps();
    EXPECT_EQ(evaluator.Summarize(to(client, svc_ip, 80)).output, ep1 + ", " + ep2);
  }
}

}  // namespace
}  // namespace kproxy::proxier::nftables
