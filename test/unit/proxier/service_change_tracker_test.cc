#include "proxier/service_change_tracker.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using testing::AddIngress;
using testing::AddPort;
using testing::Ip;
using testing::MakeCidr;
using testing::MakeService;
using testing::MakeServicePortName;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

Service DualStack(const std::function<void(Service&)>& mutate = nullptr) {
  return MakeService("ns", "svc", [&](Service& s) {
    s.cluster_ips = {Ip("172.30.0.1"), Ip("fd00::1")};
    AddPort(s, "http", Protocol::kTCP, 80);
    if (mutate) mutate(s);
  });
}

// --- ServicePortsOf ---

// Holds the port (not a reference into a temporary map).
std::shared_ptr<const ServicePort> FirstPort(const Service& service, IpFamily family) {
  ServicePortMap ports = ServicePortsOf(service, family);
  return ports.empty() ? nullptr : ports.begin()->second;
}

TEST(ServicePortsOfTest, OnePortPerSpecPortWithUpstreamName) {
  Service s = DualStack([](Service& s) {
    AddPort(s, "dns", Protocol::kUDP, 53);
    s.ports.push_back({"", Protocol::kSCTP, 9999, 0});
  });
  ServicePortMap ports = ServicePortsOf(s, IpFamily::kIPv4);
  ASSERT_EQ(ports.size(), 3u);
  const ServicePort& http = *ports.at(MakeServicePortName("ns", "svc", "http"));
  EXPECT_EQ(http.cluster_ip, Ip("172.30.0.1"));
  EXPECT_EQ(http.port, 80);
  EXPECT_EQ(http.protocol, Protocol::kTCP);
  EXPECT_EQ(http.name.ToString(), "ns/svc:http");
  EXPECT_EQ(http.family, IpFamily::kIPv4);
  EXPECT_EQ(ports.at(MakeServicePortName("ns", "svc", "dns", Protocol::kUDP))->port, 53);
  EXPECT_EQ(ports.at(MakeServicePortName("ns", "svc", "", Protocol::kSCTP))->name.ToString(), "ns/svc");
}

TEST(ServicePortsOfTest, PicksClusterIpOfRequestedFamily) {
  Service s = DualStack();
  EXPECT_EQ(ServicePortsOf(s, IpFamily::kIPv6).begin()->second->cluster_ip, Ip("fd00::1"));
  Service v4_only = MakeService("ns", "v4", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.2")};
    AddPort(s, "", Protocol::kTCP, 80);
  });
  EXPECT_THAT(ServicePortsOf(v4_only, IpFamily::kIPv6), IsEmpty());
}

TEST(ServicePortsOfTest, SkipsServicesAProxyMustNotProgram) {
  EXPECT_THAT(ServicePortsOf(DualStack([](Service& s) {
                s.headless = true;
                s.cluster_ips.clear();
              }), IpFamily::kIPv4),
              IsEmpty());
  EXPECT_THAT(ServicePortsOf(DualStack([](Service& s) { s.type = ServiceType::kExternalName; }), IpFamily::kIPv4),
              IsEmpty());
  EXPECT_THAT(ServicePortsOf(DualStack([](Service& s) {
                s.metadata.labels["service.kubernetes.io/service-proxy-name"] = "other-proxy";
              }), IpFamily::kIPv4),
              IsEmpty());
  EXPECT_THAT(ServicePortsOf(DualStack([](Service& s) { s.metadata.labels["service.kubernetes.io/headless"] = ""; }),
                             IpFamily::kIPv4),
              IsEmpty());
  EXPECT_THAT(ServicePortsOf(DualStack([](Service& s) { s.cluster_ips.clear(); }), IpFamily::kIPv4), IsEmpty());
}

TEST(ServicePortsOfTest, FiltersExternalAndIngressIpsByFamily) {
  Service s = DualStack([](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_ips = {Ip("192.0.2.1"), Ip("2001:db8::1")};
    AddIngress(s, "203.0.113.1");
    AddIngress(s, "2001:db8::99");
    s.load_balancer_ingress.push_back({std::nullopt, "lb.example.com", std::nullopt});
  });
  const auto v4 = FirstPort(s, IpFamily::kIPv4);
  EXPECT_THAT(v4->external_ips, ElementsAre(Ip("192.0.2.1")));
  EXPECT_THAT(v4->load_balancer_vips, ElementsAre(Ip("203.0.113.1")));
  EXPECT_THAT(v4->pass_through_vips, IsEmpty());
  const auto v6 = FirstPort(s, IpFamily::kIPv6);
  EXPECT_THAT(v6->external_ips, ElementsAre(Ip("2001:db8::1")));
  EXPECT_THAT(v6->load_balancer_vips, ElementsAre(Ip("2001:db8::99")));
}

TEST(ServicePortsOfTest, PassThroughAnnotationMovesIngressIpsOutOfLocalRules) {
  Service s = DualStack([](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.metadata.annotations["kubernetes.io/elb.pass-through"] = "true";
    s.metadata.annotations["kubernetes.io/elb.id"] = "elb-123";
    AddIngress(s, "203.0.113.1");
    AddIngress(s, "2001:db8::99");
  });
  const auto v4 = FirstPort(s, IpFamily::kIPv4);
  EXPECT_THAT(v4->load_balancer_vips, IsEmpty());
  EXPECT_THAT(v4->pass_through_vips, ElementsAre(Ip("203.0.113.1")));
  EXPECT_TRUE(v4->pass_through.enabled);
  EXPECT_EQ(v4->elb_id, "elb-123");
  EXPECT_FALSE(v4->ExternallyAccessible());  // no nodePort, no VIP: only the ELB path remains
}

TEST(ServicePortsOfTest, SourceRangesOfFamilyAndFailClosedOnGarbage) {
  Service s = DualStack([](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.load_balancer_source_ranges = {MakeCidr("10.0.0.0/8"), MakeCidr("fd00::/64")};
  });
  EXPECT_THAT(ServicePortsOf(s, IpFamily::kIPv4).begin()->second->load_balancer_source_ranges,
              ElementsAre(MakeCidr("10.0.0.0/8")));
  EXPECT_FALSE(ServicePortsOf(s, IpFamily::kIPv4).begin()->second->source_ranges_deny_all);

  // A valid range of this family next to garbage: use the valid one.
  s.invalid_source_ranges = {"10.0.0.0/33"};
  EXPECT_FALSE(ServicePortsOf(s, IpFamily::kIPv4).begin()->second->source_ranges_deny_all);

  // Only garbage for this family: allow nobody instead of everybody.
  Service garbage = DualStack([](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.load_balancer_source_ranges = {MakeCidr("fd00::/64")};
    s.invalid_source_ranges = {"10.0.0.0/33"};
  });
  const auto v4 = FirstPort(garbage, IpFamily::kIPv4);
  EXPECT_TRUE(v4->source_ranges_deny_all);
  EXPECT_THAT(v4->load_balancer_source_ranges, IsEmpty());

  // No ranges at all: open, as upstream.
  EXPECT_FALSE(ServicePortsOf(DualStack(), IpFamily::kIPv4).begin()->second->source_ranges_deny_all);
}

TEST(ServicePortsOfTest, ExternalPolicyLocalOnlyWhenExternallyReachable) {
  auto etp_local = [](ServiceType type, bool external_ips) {
    return ServicePortsOf(DualStack([&](Service& s) {
                            s.type = type;
                            s.external_traffic_policy = TrafficPolicy::kLocal;
                            s.health_check_node_port = 31000;
                            if (external_ips) s.external_ips = {Ip("192.0.2.1")};
                          }),
                          IpFamily::kIPv4)
        .begin()
        ->second;
  };
  EXPECT_FALSE(etp_local(ServiceType::kClusterIP, false)->external_policy_local);
  EXPECT_TRUE(etp_local(ServiceType::kClusterIP, true)->external_policy_local);
  EXPECT_TRUE(etp_local(ServiceType::kNodePort, false)->external_policy_local);
  EXPECT_TRUE(etp_local(ServiceType::kLoadBalancer, false)->external_policy_local);
  // Health-check node port only for LoadBalancer + Local (upstream NeedsHealthCheck).
  EXPECT_EQ(etp_local(ServiceType::kNodePort, false)->health_check_node_port, 0);
  EXPECT_EQ(etp_local(ServiceType::kLoadBalancer, false)->health_check_node_port, 31000);
}

TEST(ServicePortsOfTest, CopiesPoliciesAffinityAndMetadata) {
  Service s = DualStack([](Service& s) {
    s.type = ServiceType::kNodePort;
    s.ports[0].node_port = 30080;
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    s.session_affinity = SessionAffinity::kClientIP;
    s.session_affinity_timeout_seconds = 600;
    s.traffic_distribution = "PreferClose";
    s.metadata.creation_timestamp = kT0;
  });
  const auto p = FirstPort(s, IpFamily::kIPv4);
  EXPECT_EQ(p->node_port, 30080);
  EXPECT_TRUE(p->internal_policy_local);
  EXPECT_TRUE(p->session_affinity_client_ip);
  EXPECT_EQ(p->sticky_max_age_seconds, 600);
  EXPECT_EQ(p->traffic_distribution, "PreferClose");
  EXPECT_EQ(p->type, ServiceType::kNodePort);
  EXPECT_EQ(p->creation_timestamp, kT0);

  Service no_affinity = DualStack([](Service& s) { s.session_affinity_timeout_seconds = 600; });
  EXPECT_EQ(ServicePortsOf(no_affinity, IpFamily::kIPv4).begin()->second->sticky_max_age_seconds, 0);
}

// --- ServiceChangeTracker ---

TEST(ServiceChangeTrackerTest, AddThenApplyFillsMapAndReportsService) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service s = DualStack();
  EXPECT_TRUE(tracker.Update(nullptr, &s, kT0));
  ServicePortMap map;
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.changed, UnorderedElementsAre(ServiceName{"ns", "svc"}));
  EXPECT_THAT(result.change_times, ElementsAre(kT0));
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(tracker.PendingCount(), 0u);
  EXPECT_THAT(tracker.Apply(map).changed, IsEmpty());
}

TEST(ServiceChangeTrackerTest, UpdateBackToPreviousStateIsDropped) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service v1 = DualStack();
  ServicePortMap map;
  tracker.Update(nullptr, &v1, kT0);
  tracker.Apply(map);

  Service v2 = DualStack([](Service& s) { s.ports[0].port = 8080; });
  EXPECT_TRUE(tracker.Update(&v1, &v2, kT0 + absl::Seconds(1)));
  EXPECT_FALSE(tracker.Update(&v2, &v1, kT0 + absl::Seconds(2)));
  EXPECT_EQ(tracker.PendingCount(), 0u);
  EXPECT_THAT(tracker.Apply(map).changed, IsEmpty());
}

TEST(ServiceChangeTrackerTest, UpdateThatChangesNothingTheProxyUsesIsNoOp) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service v1 = DualStack();
  Service v2 = DualStack([](Service& s) {
    s.metadata.resource_version = "42";
    s.metadata.annotations["unrelated"] = "x";
  });
  EXPECT_FALSE(tracker.Update(&v1, &v2, kT0));
  // A change in the other family only is a no-op for this tracker.
  Service v3 = DualStack([](Service& s) { s.cluster_ips[1] = Ip("fd00::2"); });
  EXPECT_FALSE(tracker.Update(&v2, &v3, kT0));
}

TEST(ServiceChangeTrackerTest, KeepsFirstSeenTimeAcrossRepeatedChanges) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service v1 = DualStack();
  Service v2 = DualStack([](Service& s) { s.ports[0].port = 81; });
  Service v3 = DualStack([](Service& s) { s.ports[0].port = 82; });
  tracker.Update(nullptr, &v1, kT0);
  tracker.Update(&v1, &v2, kT0 + absl::Seconds(5));
  tracker.Update(&v2, &v3, kT0 + absl::Seconds(9));
  ServicePortMap map;
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.change_times, ElementsAre(kT0));
  EXPECT_EQ(map.begin()->second->port, 82);
}

TEST(ServiceChangeTrackerTest, AddThenDeleteBeforeApplyCancelsOut) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service s = DualStack();
  EXPECT_TRUE(tracker.Update(nullptr, &s, kT0));
  EXPECT_FALSE(tracker.Update(&s, nullptr, kT0));
  ServicePortMap map;
  EXPECT_THAT(tracker.Apply(map).changed, IsEmpty());
  EXPECT_THAT(map, IsEmpty());
}

TEST(ServiceChangeTrackerTest, RemovedAndRenamedPortsLeaveTheMap) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service v1 = DualStack([](Service& s) { AddPort(s, "https", Protocol::kTCP, 443); });
  Service other = MakeService("ns", "svc2", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.9")};
    AddPort(s, "", Protocol::kTCP, 80);
  });
  ServicePortMap map;
  tracker.Update(nullptr, &v1, kT0);
  tracker.Update(nullptr, &other, kT0);
  tracker.Apply(map);
  ASSERT_EQ(map.size(), 3u);

  Service v2 = DualStack([](Service& s) { s.ports[0].name = "web"; });
  tracker.Update(&v1, &v2, kT0);
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.changed, UnorderedElementsAre(ServiceName{"ns", "svc"}));
  std::vector<std::string> names;
  for (const auto& [name, port] : map) names.push_back(name.ToString());
  EXPECT_THAT(names, ElementsAre("ns/svc:web", "ns/svc2"));

  tracker.Update(&v2, nullptr, kT0);
  tracker.Apply(map);
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map.begin()->first.ToString(), "ns/svc2");
}

TEST(ServiceChangeTrackerTest, ServiceBecomingHeadlessIsRemoved) {
  ServiceChangeTracker tracker(IpFamily::kIPv4);
  Service v1 = DualStack();
  Service v2 = DualStack([](Service& s) { s.metadata.labels["service.kubernetes.io/service-proxy-name"] = "x"; });
  ServicePortMap map;
  tracker.Update(nullptr, &v1, kT0);
  tracker.Apply(map);
  EXPECT_TRUE(tracker.Update(&v1, &v2, kT0));
  EXPECT_THAT(tracker.Apply(map).changed, UnorderedElementsAre(ServiceName{"ns", "svc"}));
  EXPECT_THAT(map, IsEmpty());
}

}  // namespace
}  // namespace kproxy::proxier
