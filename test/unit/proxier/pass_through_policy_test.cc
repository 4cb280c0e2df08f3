#include "proxier/pass_through_policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/service_change_tracker.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::AddIngress;
using testing::AddPort;
using testing::Ip;
using testing::MakeService;

Service LbService(const std::string& ns, const std::string& name,
                  const std::function<void(Service&)>& mutate = nullptr) {
  return MakeService(ns, name, [&](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.1")};
    AddPort(s, "http", Protocol::kTCP, 80, 30080);
    if (mutate) mutate(s);
  });
}

// --- DecidePassThrough ---

TEST(DecidePassThroughTest, TrueAndOnlyLocalEnableCaseInsensitively) {
  for (const char* value : {"true", "TRUE", "True", "onlyLocal", "onlylocal", "ONLYLOCAL"}) {
    Service s = LbService("ns", "a", [&](Service& s) { s.metadata.annotations[kPassThroughAnnotation] = value; });
    PassThroughDecision d = DecidePassThrough(s);
    EXPECT_TRUE(d.enabled) << value;
    EXPECT_EQ(d.reason, std::string("annotation kubernetes.io/elb.pass-through=\"") + value + "\"");
    EXPECT_THAT(d.warning, IsEmpty());
  }
}

TEST(DecidePassThroughTest, FalseAndAbsentDisableWithoutWarning) {
  Service absent = LbService("ns", "a");
  EXPECT_FALSE(DecidePassThrough(absent).enabled);
  EXPECT_THAT(DecidePassThrough(absent).warning, IsEmpty());
  for (const char* value : {"false", "False"}) {
    Service s = LbService("ns", "a", [&](Service& s) { s.metadata.annotations[kPassThroughAnnotation] = value; });
    PassThroughDecision d = DecidePassThrough(s);
    EXPECT_FALSE(d.enabled);
    EXPECT_THAT(d.reason, HasSubstr(value));
    EXPECT_THAT(d.warning, IsEmpty());
  }
}

TEST(DecidePassThroughTest, UnsupportedValueDisablesWithWarningNamingService) {
  Service s = LbService("shop", "web", [](Service& s) { s.metadata.annotations[kPassThroughAnnotation] = "yes"; });
  PassThroughDecision d = DecidePassThrough(s);
  EXPECT_FALSE(d.enabled);
  EXPECT_EQ(d.warning,
            "Service shop/web: annotation kubernetes.io/elb.pass-through has unsupported value \"yes\"; "
            "pass-through disabled");
}

TEST(DecidePassThroughTest, NonLoadBalancerServiceIsNeverPassThrough) {
  Service s = MakeService("ns", "np", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.metadata.annotations[kPassThroughAnnotation] = "true";
  });
  PassThroughDecision d = DecidePassThrough(s);
  EXPECT_FALSE(d.enabled);
  EXPECT_THAT(d.reason, HasSubstr("NodePort"));
  EXPECT_THAT(d.reason, HasSubstr("not LoadBalancer"));
}

// --- IngressIpModeIsProxy, IngressGetsLocalRules ---

TEST(IngressIpModeIsProxyTest, AnyModeButVipOnAnEntryWithAnIpIsProxy) {
  EXPECT_FALSE(IngressIpModeIsProxy({Ip("203.0.113.1"), "", std::nullopt}));
  EXPECT_FALSE(IngressIpModeIsProxy({Ip("203.0.113.1"), "", "VIP"}));
  EXPECT_TRUE(IngressIpModeIsProxy({Ip("203.0.113.1"), "", "Proxy"}));
  EXPECT_TRUE(IngressIpModeIsProxy({Ip("203.0.113.1"), "", "SomethingNewer"}));
  EXPECT_FALSE(IngressIpModeIsProxy({std::nullopt, "lb.example.com", "Proxy"}));
}

TEST(IngressGetsLocalRulesTest, VipOrAbsentModeWithoutPassThroughGetsRules) {
  PassThroughDecision off;
  PassThroughDecision on;
  on.enabled = true;
  LoadBalancerIngress vip{Ip("203.0.113.1"), "", std::nullopt};
  LoadBalancerIngress explicit_vip{Ip("203.0.113.1"), "", "VIP"};
  LoadBalancerIngress proxy{Ip("203.0.113.1"), "", "Proxy"};
  LoadBalancerIngress hostname_only{std::nullopt, "lb.example.com", std::nullopt};
  EXPECT_TRUE(IngressGetsLocalRules(vip, off));
  EXPECT_TRUE(IngressGetsLocalRules(explicit_vip, off));
  EXPECT_FALSE(IngressGetsLocalRules(proxy, off));
  EXPECT_FALSE(IngressGetsLocalRules(hostname_only, off));
  EXPECT_FALSE(IngressGetsLocalRules(vip, on));
}

TEST(IngressGetsLocalRulesTest, ProxyModeOnOneEntryOnlyAffectsThatEntry) {
  Service s = LbService("ns", "a", [](Service& s) {
    AddIngress(s, "203.0.113.1");
    AddIngress(s, "203.0.113.2", "Proxy");
  });
  ServicePortMap ports = ServicePortsOf(s, IpFamily::kIPv4);
  ASSERT_EQ(ports.size(), 1u);
  const ServicePort& p = *ports.begin()->second;
  EXPECT_THAT(p.load_balancer_vips, ElementsAre(Ip("203.0.113.1")));
  EXPECT_THAT(p.pass_through_vips, ElementsAre(Ip("203.0.113.2")));
}

// --- EnforceElbConsistency ---

ServicePortMap Merge(const std::vector<Service>& services) {
  ServicePortMap all;
  for (const Service& s : services) {
    for (auto& [name, port] : ServicePortsOf(s, IpFamily::kIPv4)) all[name] = port;
  }
  return all;
}

const ServicePort& PortOf(const ServicePortMap& map, const std::string& ns, const std::string& name,
                          const std::string& port = "http") {
  return *map.at(testing::MakeServicePortName(ns, name, port));
}

Service OnElb(const std::string& name, const std::string& elb_id, bool pass_through, absl::Time created,
              const std::string& ip = "203.0.113.10", int32_t port = 80) {
  return LbService("ns", name, [&](Service& s) {
    s.ports.clear();
    AddPort(s, "http", Protocol::kTCP, port, 30000 + port);
    s.metadata.creation_timestamp = created;
    if (!elb_id.empty()) s.metadata.annotations[kElbIdAnnotation] = elb_id;
    if (pass_through) s.metadata.annotations[kPassThroughAnnotation] = "true";
    AddIngress(s, ip);
  });
}

TEST(EnforceElbConsistencyTest, AgreeingGroupIsUntouchedAndSharesPointers) {
  ServicePortMap in = Merge({OnElb("a", "xyz", true, absl::FromUnixSeconds(1)),
                             OnElb("b", "xyz", true, absl::FromUnixSeconds(2), "203.0.113.10", 443)});
  ElbConsistencyResult out = EnforceElbConsistency(in);
  EXPECT_THAT(out.conflicts, IsEmpty());
  for (const auto& [name, port] : in) EXPECT_EQ(out.services.at(name).get(), port.get());
}

TEST(EnforceElbConsistencyTest, OldestServiceDecidesForWholeElb) {
  ServicePortMap in = Merge({OnElb("a", "xyz", true, absl::FromUnixSeconds(1)),
                             OnElb("b", "xyz", false, absl::FromUnixSeconds(2), "203.0.113.10", 443)});
  const ServicePort* b_before = &PortOf(in, "ns", "b");
  ElbConsistencyResult out = EnforceElbConsistency(in);

  const ServicePort& b = PortOf(out.services, "ns", "b");
  EXPECT_THAT(b.load_balancer_vips, IsEmpty());
  EXPECT_THAT(b.pass_through_vips, ElementsAre(Ip("203.0.113.10")));
  // The input is never mutated: the overridden port is a new copy.
  EXPECT_NE(&b, b_before);
  EXPECT_THAT(b_before->load_balancer_vips, ElementsAre(Ip("203.0.113.10")));

  ASSERT_EQ(out.conflicts.size(), 1u);
  const PassThroughConflict& c = out.conflicts[0];
  EXPECT_EQ(c.service, (ServiceName{"ns", "b"}));
  EXPECT_EQ(c.decided_by, (ServiceName{"ns", "a"}));
  EXPECT_EQ(c.elb, "elb.id=xyz");
  EXPECT_TRUE(c.enforced_pass_through);
  EXPECT_EQ(c.message,
            "Service ns/b: ELB elb.id=xyz is shared with ns/a, which decides pass-through=true; ns/b's "
            "setting (false) is overridden because IPVS binds the address for all ports");
}

TEST(EnforceElbConsistencyTest, OldestNonPassThroughServiceBindsAddressForAll) {
  ServicePortMap in = Merge({OnElb("a", "xyz", false, absl::FromUnixSeconds(1)),
                             OnElb("b", "xyz", true, absl::FromUnixSeconds(2), "203.0.113.10", 443)});
  ElbConsistencyResult out = EnforceElbConsistency(in);
  const ServicePort& b = PortOf(out.services, "ns", "b");
  EXPECT_THAT(b.load_balancer_vips, ElementsAre(Ip("203.0.113.10")));
  EXPECT_THAT(b.pass_through_vips, IsEmpty());
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_FALSE(out.conflicts[0].enforced_pass_through);
  EXPECT_THAT(out.conflicts[0].message, HasSubstr("decides pass-through=false; ns/b's setting (true)"));
}

TEST(EnforceElbConsistencyTest, CreationTieIsBrokenByNamespaceAndName) {
  const absl::Time t = absl::FromUnixSeconds(5);
  ServicePortMap in = Merge({OnElb("zeta", "xyz", false, t), OnElb("alpha", "xyz", true, t, "203.0.113.10", 443)});
  ElbConsistencyResult out = EnforceElbConsistency(in);
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].decided_by, (ServiceName{"ns", "alpha"}));
  EXPECT_EQ(out.conflicts[0].service, (ServiceName{"ns", "zeta"}));
  EXPECT_THAT(PortOf(out.services, "ns", "zeta").pass_through_vips, ElementsAre(Ip("203.0.113.10")));
}

TEST(EnforceElbConsistencyTest, GroupsByElbIdEvenAcrossDifferentIps) {
  // Same elb.id, different ingress IPs (e.g. a private and an EIP): still one ELB.
  ServicePortMap in = Merge({OnElb("a", "xyz", true, absl::FromUnixSeconds(1), "203.0.113.10"),
                             OnElb("b", "xyz", false, absl::FromUnixSeconds(2), "203.0.113.11", 443)});
  ElbConsistencyResult out = EnforceElbConsistency(in);
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_THAT(PortOf(out.services, "ns", "b").pass_through_vips, ElementsAre(Ip("203.0.113.11")));
}

TEST(EnforceElbConsistencyTest, DifferentElbIdsOnSameIpAreSeparateGroups) {
  ServicePortMap in = Merge({OnElb("a", "elb-1", true, absl::FromUnixSeconds(1)),
                             OnElb("b", "elb-2", false, absl::FromUnixSeconds(2), "203.0.113.10", 443)});
  ElbConsistencyResult out = EnforceElbConsistency(in);
  EXPECT_THAT(out.conflicts, IsEmpty());
}

TEST(EnforceElbConsistencyTest, WithoutElbIdGroupsByIngressIp) {
  ServicePortMap in = Merge({OnElb("a", "", true, absl::FromUnixSeconds(1), "203.0.113.10"),
                             OnElb("b", "", false, absl::FromUnixSeconds(2), "203.0.113.10", 443),
                             OnElb("c", "", false, absl::FromUnixSeconds(0), "203.0.113.99", 8080)});
  ElbConsistencyResult out = EnforceElbConsistency(in);
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].elb, "ingress IP 203.0.113.10");
  EXPECT_THAT(out.conflicts[0].message, HasSubstr("Service ns/b: ELB ingress IP 203.0.113.10 is shared with ns/a"));
  EXPECT_THAT(PortOf(out.services, "ns", "b").pass_through_vips, ElementsAre(Ip("203.0.113.10")));
  // c is older but on another address: it has no say.
  EXPECT_THAT(PortOf(out.services, "ns", "c").load_balancer_vips, ElementsAre(Ip("203.0.113.99")));
}

TEST(EnforceElbConsistencyTest, ServiceInSeveralIpGroupsOnlyMovesTheConflictingIp) {
  Service a = OnElb("a", "", false, absl::FromUnixSeconds(1), "203.0.113.10");
  AddIngress(a, "203.0.113.20");
  Service b = OnElb("b", "", true, absl::FromUnixSeconds(0), "203.0.113.20", 443);
  ElbConsistencyResult out = EnforceElbConsistency(Merge({a, b}));
  const ServicePort& pa = PortOf(out.services, "ns", "a");
  EXPECT_THAT(pa.load_balancer_vips, ElementsAre(Ip("203.0.113.10")));
  EXPECT_THAT(pa.pass_through_vips, ElementsAre(Ip("203.0.113.20")));
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].service, (ServiceName{"ns", "a"}));
  EXPECT_EQ(out.conflicts[0].elb, "ingress IP 203.0.113.20");
}

TEST(EnforceElbConsistencyTest, IpModeProxyCountsAsPassThroughForItsIp) {
  // b has no annotation, but its entry for the shared IP is ipMode: Proxy.
  Service a = OnElb("a", "", false, absl::FromUnixSeconds(1), "203.0.113.10");
  Service b = LbService("ns", "b", [](Service& s) {
    s.metadata.creation_timestamp = absl::FromUnixSeconds(0);
    AddIngress(s, "203.0.113.10", "Proxy");
  });
  ElbConsistencyResult out = EnforceElbConsistency(Merge({a, b}));
  ASSERT_EQ(out.conflicts.size(), 1u);
  EXPECT_EQ(out.conflicts[0].decided_by, (ServiceName{"ns", "b"}));
  EXPECT_TRUE(out.conflicts[0].enforced_pass_through);
  EXPECT_THAT(PortOf(out.services, "ns", "a").pass_through_vips, ElementsAre(Ip("203.0.113.10")));
}

TEST(EnforceElbConsistencyTest, EveryPortOfAConflictingServiceIsOverriddenOnceReported) {
  Service a = OnElb("a", "xyz", true, absl::FromUnixSeconds(1));
  Service b = OnElb("b", "xyz", false, absl::FromUnixSeconds(2), "203.0.113.10", 443);
  AddPort(b, "metrics", Protocol::kTCP, 9090, 30909);
  AddPort(b, "dns", Protocol::kUDP, 53, 30053);
  ElbConsistencyResult out = EnforceElbConsistency(Merge({a, b}));
  for (const char* port : {"http", "metrics"}) {
    EXPECT_THAT(PortOf(out.services, "ns", "b", port).pass_through_vips, ElementsAre(Ip("203.0.113.10")));
  }
  EXPECT_THAT(out.services.at(testing::MakeServicePortName("ns", "b", "dns", Protocol::kUDP))->pass_through_vips,
              ElementsAre(Ip("203.0.113.10")));
  EXPECT_EQ(out.conflicts.size(), 1u);
}

TEST(EnforceElbConsistencyTest, ConflictsAreSortedAndOutputIsDeterministic) {
  std::vector<Service> services = {OnElb("a", "xyz", true, absl::FromUnixSeconds(1)),
                                   OnElb("d", "xyz", false, absl::FromUnixSeconds(4), "203.0.113.10", 81),
                                   OnElb("c", "xyz", false, absl::FromUnixSeconds(3), "203.0.113.10", 82),
                                   OnElb("b", "", false, absl::FromUnixSeconds(9), "203.0.113.50", 83),
                                   OnElb("e", "", true, absl::FromUnixSeconds(8), "203.0.113.50", 84)};
  ElbConsistencyResult first = EnforceElbConsistency(Merge(services));
  std::reverse(services.begin(), services.end());
  ElbConsistencyResult second = EnforceElbConsistency(Merge(services));
  std::vector<std::string> names;
  for (const auto& c : first.conflicts) names.push_back(c.service.ToString());
  EXPECT_THAT(names, ElementsAre("ns/b", "ns/c", "ns/d"));
  EXPECT_EQ(first.conflicts, second.conflicts);
  ASSERT_EQ(first.services.size(), second.services.size());
  for (const auto& [name, port] : first.services) EXPECT_EQ(*port, *second.services.at(name));
}

TEST(EnforceElbConsistencyTest, NonLoadBalancerServicesAreIgnored) {
  Service a = OnElb("a", "", true, absl::FromUnixSeconds(1), "203.0.113.10");
  // A NodePort Service that still carries a stale ingress status for the same IP.
  Service b = MakeService("ns", "b", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("172.30.0.2")};
    AddPort(s, "http", Protocol::kTCP, 80, 30081);
    AddIngress(s, "203.0.113.10");
  });
  ElbConsistencyResult out = EnforceElbConsistency(Merge({a, b}));
  EXPECT_THAT(out.conflicts, IsEmpty());
}

TEST(EnforceElbConsistencyTest, IptablesModeWithoutEnforcementKeepsEachServicesSetting) {
  // The same disagreeing ELB as above; iptables mode never calls EnforceElbConsistency, so each
  // Service keeps what ServicePortsOf decided from its own annotation.
  ServicePortMap ports = Merge({OnElb("a", "xyz", true, absl::FromUnixSeconds(1)),
                                OnElb("b", "xyz", false, absl::FromUnixSeconds(2), "203.0.113.10", 443)});
  EXPECT_THAT(PortOf(ports, "ns", "a").pass_through_vips, ElementsAre(Ip("203.0.113.10")));
  EXPECT_THAT(PortOf(ports, "ns", "a").load_balancer_vips, IsEmpty());
  EXPECT_THAT(PortOf(ports, "ns", "b").load_balancer_vips, ElementsAre(Ip("203.0.113.10")));
  EXPECT_THAT(PortOf(ports, "ns", "b").pass_through_vips, IsEmpty());
}

}  // namespace
}  // namespace kproxy::proxier
