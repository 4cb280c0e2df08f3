#include "proxier/ipvs/ipvs_planner.h"

#include <algorithm>

#include "absl/strings/str_split.h"
#include "backends/iptables/testing/fake_iptables_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/ipvs/ipvs_test_util.h"

namespace kproxy::proxier::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

ServicePortName Web(absl::string_view name) { return MakeServicePortName("web", name, ""); }

Service ClusterIpService(absl::string_view name, absl::string_view ip, Protocol protocol = Protocol::kTCP,
                         int port = 80) {
  return MakeService("web", name, [&](Service& s) {
    s.cluster_ips = {Ip(ip)};
    AddPort(s, "", protocol, port);
  });
}

TEST(IpvsPlannerTest, ClusterIpGetsVirtualServerRealServersAddressAndIpsetEntry) {
  ProxySnapshot snap = MakeSnapshot({ClusterIpService("a", "10.96.0.10")},
                                    {{Web("a"), {MakeEndpoint("10.0.1.5", 8080), MakeEndpoint("10.0.2.5", 8080)}}});
  DesiredIpvsState state = PlanIpvs(snap, MakeNode(), {});

  ASSERT_EQ(state.services.size(), 1u);
  const IpvsService& svc = state.services.at(Key("10.96.0.10", 80));
  EXPECT_EQ(svc.server.scheduler, "rr");
  EXPECT_EQ(svc.server.flags, 0u);
  ASSERT_EQ(svc.destinations.size(), 2u);
  EXPECT_EQ(svc.destinations.at(Dest("10.0.1.5", 8080)).weight, 1u);
  EXPECT_EQ(svc.destinations.at(Dest("10.0.2.5", 8080)).weight, 1u);
  EXPECT_THAT(state.bound_addresses, ElementsAre(Ip("10.96.0.10")));
  EXPECT_TRUE(SetHas(state, "KUBE-CLUSTER-IP", "10.96.0.10,tcp:80"));
  EXPECT_TRUE(SetHas(state, "KUBE-IPVS-IPS", "10.96.0.10"));
  EXPECT_THAT(state.conflicts, IsEmpty());
}

TEST(IpvsPlannerTest, NodePortGetsVirtualServerPerNodeIpButNodeIpIsNotBound) {
  Service s = MakeService("web", "np", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("10.96.0.11")};
    AddPort(s, "", Protocol::kUDP, 53, 30053);
  });
  NodeContext node = MakeNode();
  node.node_ips.push_back(Ip("198.51.100.7"));
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}, {{MakeServicePortName("web", "np", "", Protocol::kUDP),
                                                        {MakeEndpoint("10.0.1.5", 5353)}}}),
                                    node, {});
  EXPECT_TRUE(state.services.contains(Key("192.0.2.129", 30053, Protocol::kUDP)));
  EXPECT_TRUE(state.services.contains(Key("198.51.100.7", 30053, Protocol::kUDP)));
  EXPECT_TRUE(state.services.contains(Key("10.96.0.11", 53, Protocol::kUDP)));
  EXPECT_THAT(state.bound_addresses, ElementsAre(Ip("10.96.0.11")));
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-UDP", "30053"));
  EXPECT_FALSE(SetHas(state, "KUBE-NODE-PORT-TCP", "30053"));
}

TEST(IpvsPlannerTest, LoadBalancerVipIsBoundWithVirtualServerAndIpsetEntry) {
  DesiredIpvsState state = PlanIpvs(
      MakeSnapshot({MakeLbService("lb", 10, "203.0.113.10")}, {{Web("lb"), {MakeEndpoint("10.0.1.5", 8080)}}}),
      MakeNode(), {});
  EXPECT_TRUE(state.services.contains(Key("203.0.113.10", 80)));
  EXPECT_TRUE(state.bound_addresses.contains(Ip("203.0.113.10")));
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER", "203.0.113.10,tcp:80"));
  EXPECT_TRUE(SetHas(state, "KUBE-IPVS-IPS", "203.0.113.10"));
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-TCP", "30010"));
}

TEST(IpvsPlannerTest, PassThroughAnnotationLeavesLbIpWithoutVirtualServerIpsetEntryOrAddress) {
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({MakeLbService("lb", 10, "203.0.113.10", absl::UnixEpoch(), true)},
                                                 {{Web("lb"), {MakeEndpoint("10.0.1.5", 8080)}}}),
                                    MakeNode(), {});
  EXPECT_FALSE(state.services.contains(Key("203.0.113.10", 80)));
  EXPECT_FALSE(state.bound_addresses.contains(Ip("203.0.113.10")));
  for (const auto& set : state.ipsets) {
    for (const auto& e : set.entries) EXPECT_THAT(e, Not(HasSubstr("203.0.113.10"))) << set.name;
  }
  // The ELB still reaches the Service through its NodePort and ClusterIP.
  EXPECT_TRUE(state.services.contains(Key("192.0.2.129", 30010)));
  EXPECT_TRUE(state.services.contains(Key("10.96.0.10", 80)));
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-TCP", "30010"));
}

TEST(IpvsPlannerTest, IpModeProxyLeavesLbIpUnbound) {
  Service s = MakeService("web", "lb", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("10.96.0.10")};
    AddPort(s, "", Protocol::kTCP, 80, 30010);
    AddIngress(s, "203.0.113.10", "Proxy");
  });
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  EXPECT_FALSE(state.services.contains(Key("203.0.113.10", 80)));
  EXPECT_FALSE(state.bound_addresses.contains(Ip("203.0.113.10")));
  EXPECT_FALSE(SetHas(state, "KUBE-LOAD-BALANCER", "203.0.113.10,tcp:80"));
}

TEST(IpvsPlannerTest, MixedElbGroupFollowsOldestServiceAndReportsTheOther) {
  // The oldest Service (a) is not pass-through: the whole ELB address stays local, b included.
  Service a = MakeLbService("a", 10, "203.0.113.20", absl::FromUnixSeconds(100), false);
  Service b = MakeLbService("b", 11, "203.0.113.20", absl::FromUnixSeconds(200), true);
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({a, b}), MakeNode(), {});
  EXPECT_TRUE(state.services.contains(Key("203.0.113.20", 80)));
  EXPECT_TRUE(state.services.contains(Key("203.0.113.20", 81)));
  EXPECT_TRUE(state.bound_addresses.contains(Ip("203.0.113.20")));
  ASSERT_EQ(state.conflicts.size(), 1u);
  EXPECT_EQ(state.conflicts[0].service.name, "b");
  EXPECT_FALSE(state.conflicts[0].enforced_pass_through);
}

TEST(IpvsPlannerTest, MixedElbGroupWithPassThroughOldestLeavesEveryPortToTheElb) {
  Service a = MakeLbService("a", 10, "203.0.113.20", absl::FromUnixSeconds(100), true);
  Service b = MakeLbService("b", 11, "203.0.113.20", absl::FromUnixSeconds(200), false);
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({a, b}), MakeNode(), {});
  EXPECT_FALSE(state.services.contains(Key("203.0.113.20", 80)));
  EXPECT_FALSE(state.services.contains(Key("203.0.113.20", 81)));
  EXPECT_FALSE(state.bound_addresses.contains(Ip("203.0.113.20")));
  ASSERT_EQ(state.conflicts.size(), 1u);
  EXPECT_EQ(state.conflicts[0].service.name, "b");
  EXPECT_TRUE(state.conflicts[0].enforced_pass_through);
}

TEST(IpvsPlannerTest, ClientIpAffinityIsPersistentWithTimeoutAndMhHashesSource) {
  Service s = ClusterIpService("a", "10.96.0.10");
  s.session_affinity = SessionAffinity::kClientIP;
  s.session_affinity_timeout_seconds = 600;
  IpvsPlannerConfig config;
  config.scheduler = "mh";
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), config);
  const VirtualServer& vs = state.services.at(Key("10.96.0.10", 80)).server;
  EXPECT_EQ(vs.scheduler, "mh");
  EXPECT_EQ(vs.flags, kFlagPersistent | kFlagSourceHash);
  EXPECT_EQ(vs.timeout_seconds, 600u);
}

TEST(IpvsPlannerTest, ExternalTrafficPolicyLocalUsesLocalEndpointsForExternalVirtualServers) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  s.external_traffic_policy = TrafficPolicy::kLocal;
  s.health_check_node_port = 32000;
  auto local = MakeEndpoint("10.0.1.5", 8080, [](Endpoint& e) {
    e.is_local = true;
    e.node_name = "node-a";
  });
  auto remote = MakeEndpoint("10.0.2.5", 8080, [](Endpoint& e) { e.node_name = "node-b"; });
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}, {{Web("lb"), {local, remote}}}), MakeNode(), {});
  EXPECT_EQ(state.services.at(Key("203.0.113.10", 80)).destinations.size(), 1u);
  EXPECT_TRUE(state.services.at(Key("203.0.113.10", 80)).destinations.contains(Dest("10.0.1.5", 8080)));
  EXPECT_EQ(state.services.at(Key("192.0.2.129", 30010)).destinations.size(), 1u);
  EXPECT_EQ(state.services.at(Key("10.96.0.10", 80)).destinations.size(), 2u);
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-LOCAL", "203.0.113.10,tcp:80"));
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-LOCAL-TCP", "30010"));
  EXPECT_TRUE(SetHas(state, "KUBE-HEALTH-CHECK-NODE-PORT", "32000"));
  EXPECT_TRUE(SetHas(state, "KUBE-LOOP-BACK", "10.0.1.5,tcp:8080,10.0.1.5"));
}

TEST(IpvsPlannerTest, SourceRangesFillFirewallSets) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  s.load_balancer_source_ranges = {MakeCidr("198.51.100.0/24"), MakeCidr("192.0.2.0/24")};
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-FW", "203.0.113.10,tcp:80"));
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.10,tcp:80,198.51.100.0/24"));
  // The node's own IP is in a range: traffic from the node to the LB IP is allowed too.
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-SOURCE-IP", "203.0.113.10,tcp:80,203.0.113.10"));
}

TEST(IpvsPlannerTest, SourceRangesWithoutTheNodeDropTheNodesOwnTrafficToTheVip) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  s.load_balancer_source_ranges = {MakeCidr("198.51.100.0/24")};  // not the node (192.0.2.129)
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  EXPECT_FALSE(SetHas(state, "KUBE-LOAD-BALANCER-SOURCE-IP", "203.0.113.10,tcp:80,203.0.113.10"));
  EXPECT_THAT(state.iptables_restore,
              HasSubstr("-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10 -m ipvs --vaddr 203.0.113.10 --vproto tcp "
                        "--vport 80 -j DROP\n"));

  s.load_balancer_source_ranges = {MakeCidr("192.0.2.0/24")};  // the node is allowed
  state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  EXPECT_THAT(state.iptables_restore, Not(HasSubstr("-A KUBE-IPVS-OUT-FILTER")));
}

// The IPVS counterpart of HostileObjectsTest.OnlyInvalidLoadBalancerSourceRangesFailClosed: an LB IP
// whose every loadBalancerSourceRanges entry is invalid admits nobody (issue 15); with a valid entry
// beside the invalid ones, the valid one applies (upstream drops the invalid ones).
TEST(IpvsPlannerTest, OnlyInvalidLoadBalancerSourceRangesFailClosed) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  s.invalid_source_ranges = {"not-a-cidr", "10.0.0.0/33"};
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  // The VIP still has its virtual server, behind the source-ranges firewall...
  EXPECT_TRUE(state.services.contains(Key("203.0.113.10", 80)));
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-FW", "203.0.113.10,tcp:80"));
  // ...which no source leaves with RETURN: every packet reaches its final DROP, the node's too.
  for (const char* allowed : {"KUBE-LOAD-BALANCER-SOURCE-CIDR", "KUBE-LOAD-BALANCER-SOURCE-IP"}) {
    const IpsetSpec* set = FindSet(state, allowed);
    ASSERT_NE(set, nullptr) << allowed;
    EXPECT_THAT(set->entries, IsEmpty()) << allowed;
  }
  EXPECT_THAT(state.iptables_restore, HasSubstr("-A KUBE-SOURCE-RANGES-FIREWALL -j DROP\n"));
  EXPECT_THAT(state.iptables_restore,
              HasSubstr("-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10 -m ipvs --vaddr 203.0.113.10 --vproto tcp "
                        "--vport 80 -j DROP\n"));

  s.load_balancer_source_ranges = {MakeCidr("198.51.100.0/24")};
  state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.10,tcp:80,198.51.100.0/24"));
  EXPECT_EQ(FindSet(state, "KUBE-LOAD-BALANCER-SOURCE-CIDR")->entries.size(), 1u);
}

TEST(IpvsPlannerTest, ExternalIpsGoToExternalSetAndAreBound) {
  Service s = ClusterIpService("a", "10.96.0.10");
  s.external_ips = {Ip("198.51.100.50")};
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  EXPECT_TRUE(state.services.contains(Key("198.51.100.50", 80)));
  EXPECT_TRUE(state.bound_addresses.contains(Ip("198.51.100.50")));
  EXPECT_TRUE(SetHas(state, "KUBE-EXTERNAL-IP", "198.51.100.50,tcp:80"));
}

TEST(IpvsPlannerTest, Ipv6UsesKube6SetNames) {
  Service s = MakeService("web", "a", [](Service& s) {
    s.cluster_ips = {Ip("fd00::10")};
    AddPort(s, "", Protocol::kTCP, 80);
  });
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}, {}, IpFamily::kIPv6), MakeNode(IpFamily::kIPv6), {});
  EXPECT_TRUE(SetHas(state, "KUBE-6-CLUSTER-IP", "fd00::10,tcp:80"));
  EXPECT_EQ(FindSet(state, "KUBE-CLUSTER-IP"), nullptr);
  for (const auto& set : state.ipsets) EXPECT_LE(set.name.size(), 31u) << set.name;
  EXPECT_NE(FindSet(state, "KUBE-6-LOAD-BALANCER-SOURCE-CID"), nullptr);
  EXPECT_THAT(state.iptables_restore, HasSubstr("-A KUBE-SERVICES -s ::1/128 -j RETURN"));
}

TEST(IpvsPlannerTest, IptablesRulesRestoreCleanlyAndMatchUpstreamText) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {});
  const std::string& rules = state.iptables_restore;
  EXPECT_THAT(rules, HasSubstr("-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\n"));
  EXPECT_THAT(rules, HasSubstr("-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for "
                               "masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ\n"));
  EXPECT_THAT(rules, HasSubstr("-A KUBE-SERVICES -m comment --comment \"Kubernetes service lb portal\" -m set "
                               "--match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER\n"));
  EXPECT_THAT(rules, HasSubstr("-A KUBE-NODE-PORT -p tcp -m comment --comment \"Kubernetes nodeport TCP port for "
                               "masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\n"));
  EXPECT_THAT(rules, HasSubstr("-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst "
                               "-j REJECT\n"));
  // The mark as upstream formats it in IPVS mode too (Go's %#08x); iptables-save prints 0x4000.
  EXPECT_THAT(rules, HasSubstr("-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN\n"));
  EXPECT_THAT(rules, HasSubstr("-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n"));

  backends::iptables::testing::FakeIptablesRunner runner;
  // The jump rules' chains must exist before restore in a real kernel too; the fake checks targets.
  ASSERT_TRUE(runner.Restore(rules).ok()) << runner.Restore(rules);
}

TEST(IpvsPlannerTest, IptablesRuleCountDoesNotGrowWithServices) {
  auto count = [](int services) {
    std::vector<Service> list;
    for (int i = 0; i < services; ++i) {
      list.push_back(MakeLbService(absl::StrCat("s", i), 10 + i, absl::StrCat("203.0.113.", 10 + i)));
    }
    std::string rules = PlanIpvs(MakeSnapshot(list), MakeNode(), {}).iptables_restore;
    return std::count(rules.begin(), rules.end(), '\n');
  };
  EXPECT_EQ(count(1), count(40));
}

TEST(IpvsPlannerTest, SameInputGivesSameOutput) {
  ProxySnapshot snap = MakeSnapshot({MakeLbService("a", 10, "203.0.113.10"), ClusterIpService("b", "10.96.0.99")},
                                    {{Web("a"), {MakeEndpoint("10.0.1.5", 8080)}}});
  DesiredIpvsState one = PlanIpvs(snap, MakeNode(), {});
  DesiredIpvsState two = PlanIpvs(snap, MakeNode(), {});
  EXPECT_EQ(one.iptables_restore, two.iptables_restore);
  EXPECT_EQ(one.ipsets, two.ipsets);
  EXPECT_EQ(one.bound_addresses, two.bound_addresses);
  ASSERT_EQ(one.services.size(), two.services.size());
}

TEST(IpvsPlannerTest, JumpRulesHookEveryUpstreamBuiltinChain) {
  std::vector<JumpRule> rules = IpvsJumpRules();
  ASSERT_EQ(rules.size(), 9u);
  EXPECT_EQ(rules[0].table, "nat");
  EXPECT_EQ(rules[0].chain, "OUTPUT");
  EXPECT_EQ(rules[7].rule.back(), "KUBE-IPVS-FILTER");
}

}  // namespace
}  // namespace kproxy::proxier::ipvs

namespace kproxy::proxier::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT

TEST(IpvsPlannerTest, ClusterCidrOfThePlannedFamilyMasqueradesOffClusterTraffic) {
  Service s = MakeService("web", "a", [](Service& s) {
    s.cluster_ips = {Ip("10.96.0.10")};
    AddPort(s, "", Protocol::kTCP, 80);
  });
  IpvsPlannerConfig config;
  config.cluster_cidrs = {MakeCidr("fd00:10::/64"), MakeCidr("10.244.0.0/16")};
  std::string rules = PlanIpvs(MakeSnapshot({s}), MakeNode(), config).iptables_restore;
  EXPECT_THAT(rules, ::testing::HasSubstr("--match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ"));
  config.masquerade_all = true;
  rules = PlanIpvs(MakeSnapshot({s}), MakeNode(), config).iptables_restore;
  EXPECT_THAT(rules, ::testing::HasSubstr("--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"));
}

}  // namespace
}  // namespace kproxy::proxier::ipvs

namespace kproxy::proxier::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT

// Two Services naming the same externalIP and port plan one virtual server: the destinations of
// both, as when the map was updated in place per ServicePort.
TEST(IpvsPlannerTest, VirtualServerSharedByTwoServicesGetsBothServicesDestinations) {
  auto with_external_ip = [](absl::string_view name, absl::string_view cluster_ip) {
    return MakeService("web", name, [&](Service& s) {
      s.cluster_ips = {Ip(cluster_ip)};
      s.external_ips = {Ip("198.51.100.50")};
      AddPort(s, "", Protocol::kTCP, 80);
    });
  };
  DesiredIpvsState state =
      PlanIpvs(MakeSnapshot({with_external_ip("a", "10.96.0.20"), with_external_ip("b", "10.96.0.21")},
                            {{MakeServicePortName("web", "a", ""), {MakeEndpoint("10.0.1.5", 8080)}},
                             {MakeServicePortName("web", "b", ""), {MakeEndpoint("10.0.2.6", 8080)}}}),
               MakeNode(), {});
  ASSERT_EQ(state.services.size(), 3u);
  const IpvsService& shared = state.services.at(Key("198.51.100.50", 80));
  EXPECT_EQ(shared.destinations.size(), 2u);
  EXPECT_TRUE(shared.destinations.contains(Dest("10.0.1.5", 8080)));
  EXPECT_TRUE(shared.destinations.contains(Dest("10.0.2.6", 8080)));
  EXPECT_EQ(state.services.at(Key("10.96.0.20", 80)).destinations.size(), 1u);
  EXPECT_EQ(state.services.begin()->first, Key("10.96.0.20", 80));  // address order
}

}  // namespace
}  // namespace kproxy::proxier::ipvs

namespace kproxy::proxier::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT

// Upstream's IPVS proxier counts Services (not ServicePorts) whose Local policy finds only remote
// endpoints; a Service without any endpoint is not counted.
TEST(IpvsPlannerTest, CountsServicesWithLocalPolicyAndOnlyRemoteEndpoints) {
  auto local_service = [](absl::string_view name, absl::string_view ip) {
    return MakeService("web", name, [&](Service& s) {
      s.type = ServiceType::kLoadBalancer;
      s.cluster_ips = {Ip(ip)};
      s.internal_traffic_policy = TrafficPolicy::kLocal;
      s.external_traffic_policy = TrafficPolicy::kLocal;
      AddPort(s, "a", Protocol::kTCP, 80, 30080);
      AddPort(s, "b", Protocol::kTCP, 81, 30081);
    });
  };
  const EndpointList remote = {MakeEndpoint("10.0.1.5", 8080)};
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({local_service("remote", "10.96.0.20"), local_service("none", "10.96.0.21")},
                                                 {{MakeServicePortName("web", "remote", "a"), remote},
                                                  {MakeServicePortName("web", "remote", "b"), remote}}),
                                    MakeNode(), {});
  EXPECT_EQ(state.no_local_internal_endpoints, 1u);
  EXPECT_EQ(state.no_local_external_endpoints, 1u);
}

}  // namespace
}  // namespace kproxy::proxier::ipvs

namespace kproxy::proxier::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT

std::shared_ptr<const Endpoint> RemoteEndpoint(absl::string_view ip) {
  return MakeEndpoint(ip, 8080, [](Endpoint& e) { e.node_name = "node-b"; });
}

// A LoadBalancer web/lb (10.96.0.10:80, nodePort 30010, ingress 203.0.113.10, externalIP
// 198.51.100.10) with the given policies.
Service PolicyService(TrafficPolicy external, TrafficPolicy internal) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  s.external_ips = {Ip("198.51.100.10")};
  s.external_traffic_policy = external;
  s.internal_traffic_policy = internal;
  return s;
}

// Upstream PR 97081: a Local policy with no endpoint on this node falls back to the cluster
// endpoints, so pods here can still reach the Service through the external addresses.
TEST(IpvsPlannerTest, ExternalPolicyLocalWithoutLocalEndpointsFallsBackToClusterEndpoints) {
  Service s = PolicyService(TrafficPolicy::kLocal, TrafficPolicy::kCluster);
  DesiredIpvsState state = PlanIpvs(
      MakeSnapshot({s}, {{Web("lb"), {RemoteEndpoint("10.0.2.5"), RemoteEndpoint("10.0.3.5")}}}), MakeNode(), {});
  for (const VirtualServerKey& key : {Key("203.0.113.10", 80), Key("198.51.100.10", 80), Key("192.0.2.129", 30010),
                                      Key("10.96.0.10", 80)}) {
    ASSERT_TRUE(state.services.contains(key)) << key.ToString();
    EXPECT_EQ(state.services.at(key).destinations.size(), 2u) << key.ToString();
  }
  EXPECT_EQ(state.no_local_external_endpoints, 1u);
  EXPECT_EQ(state.no_local_internal_endpoints, 0u);
  // The ipsets still say Local: external traffic is not masqueraded.
  EXPECT_TRUE(SetHas(state, "KUBE-LOAD-BALANCER-LOCAL", "203.0.113.10,tcp:80"));
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-LOCAL-TCP", "30010"));
}

TEST(IpvsPlannerTest, InternalPolicyLocalWithoutLocalEndpointsFallsBackToClusterEndpoints) {
  Service s = PolicyService(TrafficPolicy::kCluster, TrafficPolicy::kLocal);
  DesiredIpvsState state =
      PlanIpvs(MakeSnapshot({s}, {{Web("lb"), {RemoteEndpoint("10.0.2.5")}}}), MakeNode(), {});
  EXPECT_EQ(state.services.at(Key("10.96.0.10", 80)).destinations.size(), 1u);
  EXPECT_EQ(state.no_local_internal_endpoints, 1u);
  EXPECT_EQ(state.no_local_external_endpoints, 0u);
}

// With both policies Local an externally reachable ServicePort still has cluster endpoints (for
// the short-circuit of in-cluster traffic), so every virtual server falls back to them.
TEST(IpvsPlannerTest, BothPoliciesLocalWithoutLocalEndpointsFallBackToClusterEndpoints) {
  Service s = PolicyService(TrafficPolicy::kLocal, TrafficPolicy::kLocal);
  DesiredIpvsState state =
      PlanIpvs(MakeSnapshot({s}, {{Web("lb"), {RemoteEndpoint("10.0.2.5")}}}), MakeNode(), {});
  EXPECT_EQ(state.services.at(Key("10.96.0.10", 80)).destinations.size(), 1u);
  EXPECT_EQ(state.services.at(Key("203.0.113.10", 80)).destinations.size(), 1u);
  EXPECT_EQ(state.no_local_internal_endpoints, 1u);
  EXPECT_EQ(state.no_local_external_endpoints, 1u);
}

// A ClusterIP-only ServicePort with internalTrafficPolicy: Local uses no cluster endpoints
// (upstream's CategorizeEndpoints computes none), so the fallback finds nothing.
TEST(IpvsPlannerTest, InternalPolicyLocalClusterIpOnlyWithoutLocalEndpointsHasNoDestination) {
  Service s = ClusterIpService("a", "10.96.0.10");
  s.internal_traffic_policy = TrafficPolicy::kLocal;
  DesiredIpvsState state =
      PlanIpvs(MakeSnapshot({s}, {{Web("a"), {RemoteEndpoint("10.0.2.5")}}}), MakeNode(), {});
  EXPECT_THAT(state.services.at(Key("10.96.0.10", 80)).destinations, IsEmpty());
  EXPECT_EQ(state.no_local_internal_endpoints, 1u);
}

// NodePort virtual servers go on the addresses the host has (read at each sync), not the Node
// object's InternalIP; and an external IP / LB VIP the host already has is not bound.
TEST(IpvsPlannerTest, NodePortVirtualServersGoOnTheHostAddressesGiven) {
  Service s = MakeService("web", "np", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("10.96.0.11")};
    AddPort(s, "", Protocol::kSCTP, 80, 30080);
  });
  IpvsHostAddresses host;
  host.node_port_addresses = {Ip("10.1.0.4"), Ip("172.16.0.1"), Ip("127.0.0.1"), Ip("2001:db8::4")};
  host.local_addresses = host.node_port_addresses;
  DesiredIpvsState state = PlanIpvs(
      MakeSnapshot({s}, {{MakeServicePortName("web", "np", "", Protocol::kSCTP), {MakeEndpoint("10.0.1.5", 80)}}}),
      MakeNode(), {}, host);
  EXPECT_TRUE(state.services.contains(Key("10.1.0.4", 30080, Protocol::kSCTP)));
  EXPECT_TRUE(state.services.contains(Key("172.16.0.1", 30080, Protocol::kSCTP)));
  // Not the Node object's IP, never loopback, never the other family.
  EXPECT_FALSE(state.services.contains(Key("192.0.2.129", 30080, Protocol::kSCTP)));
  EXPECT_FALSE(state.services.contains(Key("127.0.0.1", 30080, Protocol::kSCTP)));
  EXPECT_EQ(state.services.size(), 3u);
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-SCTP-HASH", "10.1.0.4,sctp:30080"));
  EXPECT_TRUE(SetHas(state, "KUBE-NODE-PORT-SCTP-HASH", "172.16.0.1,sctp:30080"));
  EXPECT_FALSE(SetHas(state, "KUBE-NODE-PORT-SCTP-HASH", "192.0.2.129,sctp:30080"));
}

TEST(IpvsPlannerTest, NoNodePortAddressGivesNoNodePortVirtualServerNorIpsetEntry) {
  Service s = MakeService("web", "np", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("10.96.0.11")};
    s.external_traffic_policy = TrafficPolicy::kLocal;
    AddPort(s, "", Protocol::kTCP, 80, 30080);
  });
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({s}), MakeNode(), {}, IpvsHostAddresses{});
  EXPECT_EQ(state.services.size(), 1u);  // the ClusterIP only
  EXPECT_THAT(FindSet(state, "KUBE-NODE-PORT-TCP")->entries, IsEmpty());
  EXPECT_THAT(FindSet(state, "KUBE-NODE-PORT-LOCAL-TCP")->entries, IsEmpty());
  EXPECT_THAT(state.iptables_restore, Not(HasSubstr("KUBE-NODE-PORT-TCP")));
}

TEST(IpvsPlannerTest, ExternalIpOrVipOnAnyHostInterfaceIsNotBound) {
  Service s = MakeLbService("lb", 10, "203.0.113.10");
  s.external_ips = {Ip("198.51.100.10"), Ip("198.51.100.11")};
  IpvsHostAddresses host;
  host.node_port_addresses = {Ip("192.0.2.129")};
  // Neither is the Node object's IP: one is on some other interface (a VIP held by keepalived, say).
  host.local_addresses = {Ip("192.0.2.129"), Ip("198.51.100.11"), Ip("203.0.113.10")};
  DesiredIpvsState state =
      PlanIpvs(MakeSnapshot({s}, {{Web("lb"), {MakeEndpoint("10.0.1.5", 8080)}}}), MakeNode(), {}, host);
  EXPECT_THAT(state.bound_addresses, ElementsAre(Ip("10.96.0.10"), Ip("198.51.100.10")));
  // Their virtual servers exist all the same.
  EXPECT_TRUE(state.services.contains(Key("198.51.100.11", 80)));
  EXPECT_TRUE(state.services.contains(Key("203.0.113.10", 80)));
}

// The ClusterIP masquerade rule uses the same --detect-local-mode matches as iptables mode.
TEST(IpvsPlannerTest, ClusterIpMasqueradeFollowsDetectLocalMode) {
  Service s = ClusterIpService("a", "10.96.0.10");
  IpvsPlannerConfig config;
  config.cluster_cidrs = {MakeCidr("10.244.0.0/16")};
  NodeContext node = MakeNode();
  node.pod_cidrs = {MakeCidr("10.244.3.0/24")};
  const std::string prefix = "-m set --match-set KUBE-CLUSTER-IP dst,dst ";

  config.local_detect_mode = LocalDetectMode::kNodeCidr;
  EXPECT_THAT(PlanIpvs(MakeSnapshot({s}), node, config).iptables_restore,
              HasSubstr(prefix + "! -s 10.244.3.0/24 -j KUBE-MARK-MASQ"));
  config.local_detect_mode = LocalDetectMode::kInterfaceNamePrefix;
  config.interface_name_prefix = "veth";
  EXPECT_THAT(PlanIpvs(MakeSnapshot({s}), node, config).iptables_restore,
              HasSubstr(prefix + "! -i veth+ -j KUBE-MARK-MASQ"));
  config.local_detect_mode = LocalDetectMode::kBridgeInterface;
  config.bridge_interface = "cbr0";
  EXPECT_THAT(PlanIpvs(MakeSnapshot({s}), node, config).iptables_restore,
              HasSubstr(prefix + "! -i cbr0 -j KUBE-MARK-MASQ"));
  // Nothing to match on: upstream's fallback for node-originated traffic from a VIP.
  config.local_detect_mode = LocalDetectMode::kNone;
  EXPECT_THAT(PlanIpvs(MakeSnapshot({s}), node, config).iptables_restore,
              HasSubstr("-m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ"));
}

TEST(IpvsPlannerTest, MasqueradeRandomFullyOnlyWhenConfigured) {
  IpvsPlannerConfig config;
  const std::string masquerade = "\"kubernetes service traffic requiring SNAT\" -j MASQUERADE";
  EXPECT_THAT(PlanIpvs(MakeSnapshot({}), MakeNode(), config).iptables_restore, HasSubstr(masquerade + "\n"));
  config.masquerade_random_fully = true;
  EXPECT_THAT(PlanIpvs(MakeSnapshot({}), MakeNode(), config).iptables_restore,
              HasSubstr(masquerade + " --random-fully\n"));
}

// The stale UDP flow cleanup gets the UDP ServicePorts with the ELB setting enforced.
TEST(IpvsPlannerTest, UdpServicePortsCarryTheEnforcedPassThroughSetting) {
  auto udp_lb = [](absl::string_view name, int n, absl::Time created, bool pass_through) {
    Service s = MakeLbService(name, n, "203.0.113.10", created, pass_through);
    s.ports.clear();
    AddPort(s, "", Protocol::kUDP, 53, 30000 + n);
    return s;
  };
  // The older Service binds the shared address, so the newer one's own pass-through is overridden.
  DesiredIpvsState state = PlanIpvs(MakeSnapshot({udp_lb("old", 10, absl::FromUnixSeconds(1), false),
                                                  udp_lb("new", 11, absl::FromUnixSeconds(2), true),
                                                  ClusterIpService("tcp", "10.96.0.30")}),
                                    MakeNode(), {});
  ASSERT_EQ(state.udp_service_ports.size(), 2u);
  const auto& overridden = state.udp_service_ports.at(MakeServicePortName("web", "new", "", Protocol::kUDP));
  EXPECT_THAT(overridden->pass_through_vips, IsEmpty());
  EXPECT_THAT(overridden->load_balancer_vips, ElementsAre(Ip("203.0.113.10")));
}
}  // namespace
}  // namespace kproxy::proxier::ipvs
