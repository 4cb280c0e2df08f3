#include "proxier/iptables/iptables_planner.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/iptables/restore_renderer.h"
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
using testing::LocalEndpoint;
using testing::Normalize;
using testing::TestCluster;
using testing::TestNode;
using testing::TestNodePortAddresses;

// Upstream's test proxier: ClusterCIDR 10.0.0.0/8, localhost NodePorts, nfacct counters present.
IptablesPlannerConfig UpstreamTestConfig() {
  IptablesPlannerConfig config;
  config.local_detect_mode = LocalDetectMode::kClusterCidr;
  config.cluster_cidrs = {MakeCidr("10.0.0.0/8")};
  config.nfacct_counters = true;
  return config;
}

std::string FullRestore(const IptablesPlanner& planner, const ProxySnapshot& snapshot,
                        const NodeContext& node) {
  auto plan = planner.Plan(snapshot, node, {}, nullptr);
  return RenderRestore(*plan, RenderOptions{}).input;
}

// The Services and EndpointSlices of upstream's TestOverallIPTablesRules.
TestCluster OverallRulesCluster() {
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
  // Not on this node: ns2's Local policy has no local endpoint.
  cluster.SetEndpoints(MakeServicePortName("ns2", "svc2", "p80"), {MakeEndpoint("10.180.0.2", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns3", "svc3", "p80"), {MakeEndpoint("10.180.0.3", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns4", "svc4", "p80"),
                       {MakeEndpoint("10.180.0.4", 80), LocalEndpoint("10.180.0.5", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns5", "svc5", "p80"), {MakeEndpoint("10.180.0.3", 80)});
  return cluster;
}

// Upstream's expected output of TestOverallIPTablesRules, verbatim.
constexpr char kOverallRulesExpected[] = R"(*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
:KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
)";

TEST(IptablesPlannerTest, MatchesUpstreamOverallRules) {
  IptablesPlanner planner(UpstreamTestConfig());
  // Upstream's test proxier sets the mark string to "0x4000" by hand; the real one (and ours)
  // formats 1<<14 with Go's %#08x as "0x00004000". iptables reads both as the same mark.
  const std::string actual = absl::StrReplaceAll(
      FullRestore(planner, OverallRulesCluster().Snapshot(), TestNode()), {{"0x00004000", "0x4000"}});
  auto want = Normalize(kOverallRulesExpected);
  auto got = Normalize(actual);
  EXPECT_EQ(got, want) << "got:\n" << testing::Describe(got) << "\nwant:\n" << testing::Describe(want);
}

// A second golden mix, beyond upstream's table: pass-through by annotation (with source ranges and
// eTP Local + health check node port, as CCE's "onlyLocal" Services have), an ipMode: Proxy ingress
// beside a VIP-mode one, a UDP Service, internalTrafficPolicy: Local with and without a local
// endpoint, and eTP Local with a health check node port and a local endpoint.
TestCluster PassThroughMixCluster() {
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "passthru", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.metadata.annotations["kubernetes.io/elb.pass-through"] = "true";
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.51")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3051);
    AddIngress(s, "1.2.3.51");
    s.load_balancer_source_ranges = {MakeCidr("203.0.113.0/25")};
    s.health_check_node_port = 30051;
  }));
  cluster.AddService(MakeService("ns2", "proxymode", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kCluster;
    s.cluster_ips = {Ip("172.30.0.52")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3052);
    AddIngress(s, "1.2.3.52", "Proxy");
    AddIngress(s, "1.2.3.53");
  }));
  cluster.AddService(MakeService("ns3", "dns", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.53")};
    AddPort(s, "dns", Protocol::kUDP, 53);
  }));
  cluster.AddService(MakeService("ns4", "itp", [](Service& s) {
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.54")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.AddService(MakeService("ns4", "itp-remote", [](Service& s) {
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.55")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster.AddService(MakeService("ns5", "etp", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("172.30.0.56")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3056);
    AddIngress(s, "5.6.7.56");
    s.health_check_node_port = 30056;
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "passthru", "p80"),
                       {MakeEndpoint("10.180.0.1", 80), LocalEndpoint("10.180.2.1", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns2", "proxymode", "p80"), {MakeEndpoint("10.180.0.2", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns3", "dns", "dns", Protocol::kUDP),
                       {MakeEndpoint("10.180.0.3", 5353), MakeEndpoint("10.180.0.4", 5353)});
  cluster.SetEndpoints(MakeServicePortName("ns4", "itp", "p80"),
                       {MakeEndpoint("10.180.0.5", 80), LocalEndpoint("10.180.2.5", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns4", "itp-remote", "p80"), {MakeEndpoint("10.180.0.6", 80)});
  cluster.SetEndpoints(MakeServicePortName("ns5", "etp", "p80"),
                       {MakeEndpoint("10.180.0.7", 80), LocalEndpoint("10.180.2.7", 80)});
  return cluster;
}

// The planner's output for PassThroughMixCluster, read line by line against upstream's proxier.go:
// - ns1/passthru: no "loadbalancer IP" jump, no KUBE-FW-* chain and no KUBE-PROXY-FIREWALL DROP for
//   1.2.3.51 (upstream builds all three from LoadBalancerVIPs(), which excludes it); its node port,
//   cluster IP, EXT/SVC/SVL chains and the health check node port ACCEPT stay.
// - ns2/proxymode: only the VIP-mode ingress 1.2.3.53 is captured; 1.2.3.52 (ipMode: Proxy) is not.
// - ns3/dns: -m udp -p udp in the jump, the masquerade rule and both DNATs.
// - ns4/itp: the cluster IP jumps to KUBE-SVL-* (which carries the off-cluster masquerade rule);
//   only the local endpoint has a KUBE-SEP-* chain. ns4/itp-remote: no nat chain at all, a filter
//   "has no local endpoints" DROP instead.
// - ns5/etp: EXT chain with the pod short-circuit, LOCAL masquerade and route, then KUBE-SVL-*.
// The mark is the real proxier's "0x00004000" (upstream's golden test sets "0x4000" by hand).
constexpr char kPassThroughMixExpected[] = R"(*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-NODEPORTS -m comment --comment "ns1/passthru:p80 health check node port" -m tcp -p tcp --dport 30051 -j ACCEPT
-A KUBE-NODEPORTS -m comment --comment "ns5/etp:p80 health check node port" -m tcp -p tcp --dport 30056 -j ACCEPT
-A KUBE-SERVICES -m comment --comment "ns4/itp-remote:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.55 --dport 80 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-EXT-SPHV7GLOIZHBUF2I - [0:0]
:KUBE-SVC-SPHV7GLOIZHBUF2I - [0:0]
:KUBE-SVL-SPHV7GLOIZHBUF2I - [0:0]
:KUBE-SEP-ZD7J4JBXQBM4SVXX - [0:0]
:KUBE-SEP-L5DIWCWPA5N2CNSY - [0:0]
:KUBE-EXT-MFQNTVK7K7ZLRQ2S - [0:0]
:KUBE-SVC-MFQNTVK7K7ZLRQ2S - [0:0]
:KUBE-SEP-L463TLOZICQL7JB3 - [0:0]
:KUBE-SVC-ZEHVTU46ZJJGTPYK - [0:0]
:KUBE-SEP-6JCEEQ7NGXYJBLAB - [0:0]
:KUBE-SEP-T4GHV3LN2C5FOHE7 - [0:0]
:KUBE-SVL-IW4Y2B6DVKC52J6U - [0:0]
:KUBE-SEP-U467RFKRZS5ZDM3S - [0:0]
:KUBE-EXT-LJUNPQECGCOE27YZ - [0:0]
:KUBE-SVC-LJUNPQECGCOE27YZ - [0:0]
:KUBE-SVL-LJUNPQECGCOE27YZ - [0:0]
:KUBE-SEP-YSGQT4PFRMBJIMFB - [0:0]
:KUBE-SEP-SNHKPMDUNBFJULRE - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns1/passthru:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3051 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-SPHV7GLOIZHBUF2I
-A KUBE-NODEPORTS -m comment --comment ns1/passthru:p80 -m tcp -p tcp --dport 3051 -j KUBE-EXT-SPHV7GLOIZHBUF2I
-A KUBE-NODEPORTS -m comment --comment ns2/proxymode:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3052 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-MFQNTVK7K7ZLRQ2S
-A KUBE-NODEPORTS -m comment --comment ns2/proxymode:p80 -m tcp -p tcp --dport 3052 -j KUBE-EXT-MFQNTVK7K7ZLRQ2S
-A KUBE-NODEPORTS -m comment --comment ns5/etp:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3056 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-LJUNPQECGCOE27YZ
-A KUBE-NODEPORTS -m comment --comment ns5/etp:p80 -m tcp -p tcp --dport 3056 -j KUBE-EXT-LJUNPQECGCOE27YZ
-A KUBE-SERVICES -m comment --comment "ns1/passthru:p80 cluster IP" -m tcp -p tcp -d 172.30.0.51 --dport 80 -j KUBE-SVC-SPHV7GLOIZHBUF2I
-A KUBE-SERVICES -m comment --comment "ns2/proxymode:p80 cluster IP" -m tcp -p tcp -d 172.30.0.52 --dport 80 -j KUBE-SVC-MFQNTVK7K7ZLRQ2S
-A KUBE-SERVICES -m comment --comment "ns2/proxymode:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.53 --dport 80 -j KUBE-EXT-MFQNTVK7K7ZLRQ2S
-A KUBE-SERVICES -m comment --comment "ns3/dns:dns cluster IP" -m udp -p udp -d 172.30.0.53 --dport 53 -j KUBE-SVC-ZEHVTU46ZJJGTPYK
-A KUBE-SERVICES -m comment --comment "ns4/itp:p80 cluster IP" -m tcp -p tcp -d 172.30.0.54 --dport 80 -j KUBE-SVL-IW4Y2B6DVKC52J6U
-A KUBE-SERVICES -m comment --comment "ns5/etp:p80 cluster IP" -m tcp -p tcp -d 172.30.0.56 --dport 80 -j KUBE-SVC-LJUNPQECGCOE27YZ
-A KUBE-SERVICES -m comment --comment "ns5/etp:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.56 --dport 80 -j KUBE-EXT-LJUNPQECGCOE27YZ
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-EXT-SPHV7GLOIZHBUF2I -m comment --comment "pod traffic for ns1/passthru:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-SPHV7GLOIZHBUF2I
-A KUBE-EXT-SPHV7GLOIZHBUF2I -m comment --comment "masquerade LOCAL traffic for ns1/passthru:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-SPHV7GLOIZHBUF2I -m comment --comment "route LOCAL traffic for ns1/passthru:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-SPHV7GLOIZHBUF2I
-A KUBE-EXT-SPHV7GLOIZHBUF2I -j KUBE-SVL-SPHV7GLOIZHBUF2I
-A KUBE-SVC-SPHV7GLOIZHBUF2I -m comment --comment "ns1/passthru:p80 cluster IP" -m tcp -p tcp -d 172.30.0.51 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-SPHV7GLOIZHBUF2I -m comment --comment "ns1/passthru:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-ZD7J4JBXQBM4SVXX
-A KUBE-SVC-SPHV7GLOIZHBUF2I -m comment --comment "ns1/passthru:p80 -> 10.180.2.1:80" -j KUBE-SEP-L5DIWCWPA5N2CNSY
-A KUBE-SVL-SPHV7GLOIZHBUF2I -m comment --comment "ns1/passthru:p80 -> 10.180.2.1:80" -j KUBE-SEP-L5DIWCWPA5N2CNSY
-A KUBE-SEP-ZD7J4JBXQBM4SVXX -m comment --comment ns1/passthru:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-ZD7J4JBXQBM4SVXX -m comment --comment ns1/passthru:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-L5DIWCWPA5N2CNSY -m comment --comment ns1/passthru:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-L5DIWCWPA5N2CNSY -m comment --comment ns1/passthru:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80
-A KUBE-EXT-MFQNTVK7K7ZLRQ2S -m comment --comment "masquerade traffic for ns2/proxymode:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-MFQNTVK7K7ZLRQ2S -j KUBE-SVC-MFQNTVK7K7ZLRQ2S
-A KUBE-SVC-MFQNTVK7K7ZLRQ2S -m comment --comment "ns2/proxymode:p80 cluster IP" -m tcp -p tcp -d 172.30.0.52 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-MFQNTVK7K7ZLRQ2S -m comment --comment "ns2/proxymode:p80 -> 10.180.0.2:80" -j KUBE-SEP-L463TLOZICQL7JB3
-A KUBE-SEP-L463TLOZICQL7JB3 -m comment --comment ns2/proxymode:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-L463TLOZICQL7JB3 -m comment --comment ns2/proxymode:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SVC-ZEHVTU46ZJJGTPYK -m comment --comment "ns3/dns:dns cluster IP" -m udp -p udp -d 172.30.0.53 --dport 53 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-ZEHVTU46ZJJGTPYK -m comment --comment "ns3/dns:dns -> 10.180.0.3:5353" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-6JCEEQ7NGXYJBLAB
-A KUBE-SVC-ZEHVTU46ZJJGTPYK -m comment --comment "ns3/dns:dns -> 10.180.0.4:5353" -j KUBE-SEP-T4GHV3LN2C5FOHE7
-A KUBE-SEP-6JCEEQ7NGXYJBLAB -m comment --comment ns3/dns:dns -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-6JCEEQ7NGXYJBLAB -m comment --comment ns3/dns:dns -m udp -p udp -j DNAT --to-destination 10.180.0.3:5353
-A KUBE-SEP-T4GHV3LN2C5FOHE7 -m comment --comment ns3/dns:dns -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-T4GHV3LN2C5FOHE7 -m comment --comment ns3/dns:dns -m udp -p udp -j DNAT --to-destination 10.180.0.4:5353
-A KUBE-SVL-IW4Y2B6DVKC52J6U -m comment --comment "ns4/itp:p80 cluster IP" -m tcp -p tcp -d 172.30.0.54 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVL-IW4Y2B6DVKC52J6U -m comment --comment "ns4/itp:p80 -> 10.180.2.5:80" -j KUBE-SEP-U467RFKRZS5ZDM3S
-A KUBE-SEP-U467RFKRZS5ZDM3S -m comment --comment ns4/itp:p80 -s 10.180.2.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-U467RFKRZS5ZDM3S -m comment --comment ns4/itp:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.5:80
-A KUBE-EXT-LJUNPQECGCOE27YZ -m comment --comment "pod traffic for ns5/etp:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-LJUNPQECGCOE27YZ
-A KUBE-EXT-LJUNPQECGCOE27YZ -m comment --comment "masquerade LOCAL traffic for ns5/etp:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-LJUNPQECGCOE27YZ -m comment --comment "route LOCAL traffic for ns5/etp:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-LJUNPQECGCOE27YZ
-A KUBE-EXT-LJUNPQECGCOE27YZ -j KUBE-SVL-LJUNPQECGCOE27YZ
-A KUBE-SVC-LJUNPQECGCOE27YZ -m comment --comment "ns5/etp:p80 cluster IP" -m tcp -p tcp -d 172.30.0.56 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-LJUNPQECGCOE27YZ -m comment --comment "ns5/etp:p80 -> 10.180.0.7:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-YSGQT4PFRMBJIMFB
-A KUBE-SVC-LJUNPQECGCOE27YZ -m comment --comment "ns5/etp:p80 -> 10.180.2.7:80" -j KUBE-SEP-SNHKPMDUNBFJULRE
-A KUBE-SVL-LJUNPQECGCOE27YZ -m comment --comment "ns5/etp:p80 -> 10.180.2.7:80" -j KUBE-SEP-SNHKPMDUNBFJULRE
-A KUBE-SEP-YSGQT4PFRMBJIMFB -m comment --comment ns5/etp:p80 -s 10.180.0.7 -j KUBE-MARK-MASQ
-A KUBE-SEP-YSGQT4PFRMBJIMFB -m comment --comment ns5/etp:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.7:80
-A KUBE-SEP-SNHKPMDUNBFJULRE -m comment --comment ns5/etp:p80 -s 10.180.2.7 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNHKPMDUNBFJULRE -m comment --comment ns5/etp:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.7:80
COMMIT
)";

TEST(IptablesPlannerTest, MatchesGoldenPassThroughMix) {
  IptablesPlanner planner(UpstreamTestConfig());
  const std::string output = FullRestore(planner, PassThroughMixCluster().Snapshot(), TestNode());
  auto got = Normalize(output);
  auto want = Normalize(kPassThroughMixExpected);
  EXPECT_EQ(got, want) << "got:\n" << testing::Describe(got) << "\nwant:\n" << testing::Describe(want);
  // Stated outright, so that a golden regenerated without reading cannot enshrine them: the
  // pass-through and the ipMode: Proxy addresses get no rule at all.
  EXPECT_THAT(output, ::testing::Not(::testing::HasSubstr("1.2.3.51")));
  EXPECT_THAT(output, ::testing::Not(::testing::HasSubstr("1.2.3.52")));
}

TEST(IptablesPlannerTest, SameInputGivesSameBytes) {
  IptablesPlanner planner(UpstreamTestConfig());
  const ProxySnapshot snapshot = OverallRulesCluster().Snapshot();
  EXPECT_EQ(FullRestore(planner, snapshot, TestNode()), FullRestore(planner, snapshot, TestNode()));
}

TEST(IptablesPlannerTest, WithoutNfacctOrLocalhostNodePortsUsesPlainRules) {
  IptablesPlannerConfig config = UpstreamTestConfig();
  config.nfacct_counters = false;
  config.localhost_node_ports = false;
  config.conntrack_tcp_be_liberal = true;
  config.masquerade_random_fully = true;
  IptablesPlanner planner(config);
  const std::string out = FullRestore(planner, OverallRulesCluster().Snapshot(), TestNode());
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("nfacct")));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("KUBE-FIREWALL")));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("INVALID")));
  EXPECT_THAT(out, ::testing::HasSubstr("-j MASQUERADE --random-fully\n"));
  EXPECT_THAT(out, ::testing::HasSubstr(
                       "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS\n"));
}

TEST(IptablesPlannerTest, NodePortAddressesGiveOneRulePerSelectedAddress) {
  IptablesPlannerConfig config = UpstreamTestConfig();
  config.node_port_addresses = TestNodePortAddresses({"192.168.0.0/24", "127.0.0.0/8"});
  NodeContext node = TestNode();
  node.local_addresses = {Ip("192.168.0.2"), Ip("127.0.0.1"), Ip("10.1.1.1"), Ip("fd00::2")};
  {
    IptablesPlanner planner(config);
    const std::string out = FullRestore(planner, OverallRulesCluster().Snapshot(), node);
    EXPECT_THAT(out, ::testing::HasSubstr("this chain\" -d 192.168.0.2 -j KUBE-NODEPORTS\n"));
    EXPECT_THAT(out, ::testing::HasSubstr("this chain\" -d 127.0.0.1 -j KUBE-NODEPORTS\n"));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("-d 10.1.1.1 -j KUBE-NODEPORTS")));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("--dst-type LOCAL -j KUBE-NODEPORTS")));
  }
  config.node_port_addresses = TestNodePortAddresses({"192.168.0.0/24"});  // no loopback: localhost NodePorts are off
  {
    IptablesPlanner planner(config);
    const std::string out = FullRestore(planner, OverallRulesCluster().Snapshot(), node);
    EXPECT_THAT(out, ::testing::HasSubstr("this chain\" -d 192.168.0.2 -j KUBE-NODEPORTS\n"));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("-d 127.0.0.1 -j KUBE-NODEPORTS")));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("127.0.0.0/8 --dport")));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("KUBE-FIREWALL")));
  }
}

// The exposure of issue 15: CIDRs that match none of the node's addresses must close NodePorts of
// that family, not open them on every local address.
TEST(IptablesPlannerTest, NodePortAddressesMatchingNoAddressGiveNodePortsNoEntryPoint) {
  IptablesPlannerConfig config = UpstreamTestConfig();
  config.node_port_addresses = TestNodePortAddresses({"10.99.0.0/24", "fd00:99::/64"});
  IptablesPlanner planner(config);
  const std::string out = FullRestore(planner, OverallRulesCluster().Snapshot(), TestNode());
  ASSERT_THAT(out, ::testing::HasSubstr("-A KUBE-NODEPORTS "));  // the cluster has NodePorts
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("-j KUBE-NODEPORTS")));
  // The CIDRs leave loopback out: no localhost NodePorts, no kubelet firewall rule for them.
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("KUBE-FIREWALL")));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("127.0.0.0/8 --dport")));

  // IPv6 is restricted by its own CIDR only: with none of that family it takes every address.
  IptablesPlannerConfig v6 = config;
  v6.family = IpFamily::kIPv6;
  v6.node_port_addresses = TestNodePortAddresses({"10.99.0.0/24"}, IpFamily::kIPv6);
  IptablesPlanner v6_planner(v6);
  EXPECT_THAT(FullRestore(v6_planner, ProxySnapshot{.family = IpFamily::kIPv6}, TestNode(IpFamily::kIPv6)),
              ::testing::HasSubstr("-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS\n"));
}

// Addresses are selected again at every plan: one that appears later gets its NodePort jump at the
// next (partial) sync, and one that goes away loses it.
TEST(IptablesPlannerTest, NodePortAddressesAreSelectedAgainAtEachPlan) {
  IptablesPlannerConfig config = UpstreamTestConfig();
  config.node_port_addresses = TestNodePortAddresses({"10.99.0.0/24"});
  IptablesPlanner planner(config);
  const ProxySnapshot snapshot = OverallRulesCluster().Snapshot();
  NodeContext node = TestNode();
  auto first = planner.Plan(snapshot, node, {}, nullptr);
  EXPECT_THAT(RenderRestore(*first, RenderOptions{}).input, ::testing::Not(::testing::HasSubstr("-j KUBE-NODEPORTS")));

  node.local_addresses.push_back(Ip("10.99.0.6"));
  auto second = planner.Plan(snapshot, node, {}, first.get());
  const std::string partial = RenderRestore(*second, RenderOptions{.full = false, .applied = first.get()}).input;
  EXPECT_THAT(partial, ::testing::HasSubstr("this chain\" -d 10.99.0.6 -j KUBE-NODEPORTS\n"));
  EXPECT_THAT(partial, ::testing::Not(::testing::HasSubstr("--dst-type LOCAL -j KUBE-NODEPORTS")));

  node.local_addresses.pop_back();
  auto third = planner.Plan(snapshot, node, {}, second.get());
  EXPECT_THAT(RenderRestore(*third, RenderOptions{.full = false, .applied = second.get()}).input,
              ::testing::HasSubstr(":KUBE-SERVICES"));
  EXPECT_THAT(RenderRestore(*third, RenderOptions{}).input, ::testing::Not(::testing::HasSubstr("-j KUBE-NODEPORTS")));
}

TEST(IptablesPlannerTest, LargeClusterModeDropsEndpointComments) {
  IptablesPlannerConfig config = UpstreamTestConfig();
  config.large_cluster_endpoints_threshold = 3;  // the overall cluster has 6 endpoints
  IptablesPlanner planner(config);
  const std::string out = FullRestore(planner, OverallRulesCluster().Snapshot(), TestNode());
  EXPECT_THAT(out, ::testing::HasSubstr(
                       "-A KUBE-SEP-SXIVWICOYRO3J4NJ -s 10.180.0.1 -j KUBE-MARK-MASQ\n"
                       "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80\n"));
  EXPECT_THAT(out, ::testing::HasSubstr(
                       "-A KUBE-SVC-4SW47YFZTEDKD3PK -m statistic --mode random --probability 0.5000000000 "
                       "-j KUBE-SEP-UKSFD7AGPMPPLUHC\n"));
  // Service-level rules keep their comments.
  EXPECT_THAT(out, ::testing::HasSubstr("--comment \"ns1/svc1:p80 cluster IP\""));
}

TEST(IptablesPlannerTest, IPv6UsesBracketedDnatAndNoLocalhostNodePorts) {
  IptablesPlannerConfig config = UpstreamTestConfig();
  config.family = IpFamily::kIPv6;
  config.cluster_cidrs = {MakeCidr("fd00:10::/64")};
  IptablesPlanner planner(config);
  TestCluster cluster(IpFamily::kIPv6);
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("fd00:30::41")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"), {MakeEndpoint("fd00:10::1", 80)});
  const std::string out = FullRestore(planner, cluster.Snapshot(), TestNode(IpFamily::kIPv6));
  EXPECT_THAT(out, ::testing::HasSubstr("-j DNAT --to-destination [fd00:10::1]:80\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("-s fd00:10::1 -j KUBE-MARK-MASQ\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("! -s fd00:10::/64 -j KUBE-MARK-MASQ\n"));
  EXPECT_THAT(out, ::testing::HasSubstr("--dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS\n"));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("127.0.0.0/8")));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("KUBE-FIREWALL")));
}

TEST(IptablesPlannerTest, ProbabilitiesUseTenDecimals) {
  IptablesPlanner planner(UpstreamTestConfig());
  TestCluster cluster;
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.41")};
    AddPort(s, "", Protocol::kUDP, 53);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "", Protocol::kUDP),
                       {MakeEndpoint("10.180.0.1", 53), MakeEndpoint("10.180.0.2", 53),
                        MakeEndpoint("10.180.0.3", 53)});
  const std::string out = FullRestore(planner, cluster.Snapshot(), TestNode());
  EXPECT_THAT(out, ::testing::HasSubstr("--probability 0.3333333333 -j KUBE-SEP-"));
  EXPECT_THAT(out, ::testing::HasSubstr("--probability 0.5000000000 -j KUBE-SEP-"));
  EXPECT_THAT(out, ::testing::HasSubstr("--comment \"ns1/svc1 cluster IP\" -m udp -p udp -d 172.30.0.41 --dport 53"));
}

}  // namespace
}  // namespace kproxy::proxier::iptables
