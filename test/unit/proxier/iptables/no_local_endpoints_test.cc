// kubeproxy_sync_proxy_rules_no_local_endpoints_total: the plan counts the ServicePorts whose Local
// internal or external traffic policy finds no endpoint on this node while endpoints exist
// elsewhere (a Service without any endpoint is rejected, not counted), in full and derived plans.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proxier/iptables/iptables_planner.h"
#include "test/unit/proxier/iptables/testing/test_cluster.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier::iptables {
namespace {

using proxier::testing::AddIngress;
using proxier::testing::AddPort;
using proxier::testing::Ip;
using proxier::testing::MakeEndpoint;
using proxier::testing::MakeService;
using proxier::testing::MakeServicePortName;
using testing::LocalEndpoint;
using testing::TestCluster;
using testing::TestNode;

struct NoLocalCase {
  std::string name;
  TrafficPolicy internal_policy;
  TrafficPolicy external_policy;
  bool load_balancer;  // externally accessible (an external policy only applies then)
  EndpointList endpoints;
  size_t want_internal;
  size_t want_external;
};

Service WebService(const NoLocalCase& c) {
  return MakeService("ns", "web", [&](Service& s) {
    s.cluster_ips = {Ip("172.30.0.10")};
    s.internal_traffic_policy = c.internal_policy;
    s.external_traffic_policy = c.external_policy;
    if (c.load_balancer) {
      s.type = ServiceType::kLoadBalancer;
      AddPort(s, "http", Protocol::kTCP, 80, 30080);
      AddIngress(s, "203.0.113.10");
      s.health_check_node_port = 30500;
    } else {
      AddPort(s, "http", Protocol::kTCP, 80);
    }
  });
}

std::vector<NoLocalCase> Cases() {
  const auto remote = [] { return EndpointList{MakeEndpoint("10.0.1.1", 8080)}; };
  const auto local = [] { return EndpointList{MakeEndpoint("10.0.1.1", 8080), LocalEndpoint("10.0.2.1", 8080)}; };
  return {
      {"ClusterPoliciesAreNeverCounted", TrafficPolicy::kCluster, TrafficPolicy::kCluster, true, remote(), 0, 0},
      {"InternalLocalWithLocalEndpoint", TrafficPolicy::kLocal, TrafficPolicy::kCluster, false, local(), 0, 0},
      {"InternalLocalWithOnlyRemoteEndpoints", TrafficPolicy::kLocal, TrafficPolicy::kCluster, false, remote(), 1, 0},
      {"ExternalLocalWithLocalEndpoint", TrafficPolicy::kCluster, TrafficPolicy::kLocal, true, local(), 0, 0},
      {"ExternalLocalWithOnlyRemoteEndpoints", TrafficPolicy::kCluster, TrafficPolicy::kLocal, true, remote(), 0, 1},
      {"BothLocalWithOnlyRemoteEndpoints", TrafficPolicy::kLocal, TrafficPolicy::kLocal, true, remote(), 1, 1},
      {"BothLocalWithoutAnyEndpointIsRejectedNotCounted", TrafficPolicy::kLocal, TrafficPolicy::kLocal, true, {}, 0,
       0},
  };
}

TEST(NoLocalEndpointsTest, PlanCountsLocalPoliciesWithOnlyRemoteEndpoints) {
  for (const NoLocalCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    TestCluster cluster;
    cluster.AddService(WebService(c));
    cluster.SetEndpoints(MakeServicePortName("ns", "web", "http"), c.endpoints);
    IptablesPlanner planner{IptablesPlannerConfig{}};
    auto plan = planner.Plan(cluster.Snapshot(), TestNode(), {}, nullptr);
    EXPECT_EQ(plan->no_local_internal_endpoints, c.want_internal);
    EXPECT_EQ(plan->no_local_external_endpoints, c.want_external);
  }
}

TEST(NoLocalEndpointsTest, DerivedPlanKeepsTheCountAsEndpointsMove) {
  NoLocalCase c{"", TrafficPolicy::kLocal, TrafficPolicy::kLocal, true, {}, 0, 0};
  TestCluster cluster;
  cluster.AddService(WebService(c));
  // An unrelated Service with only remote endpoints and a Local policy: counted throughout.
  cluster.AddService(MakeService("ns", "other", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.11")};
    s.internal_traffic_policy = TrafficPolicy::kLocal;
    AddPort(s, "", Protocol::kTCP, 80);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns", "other", ""), {MakeEndpoint("10.0.3.1", 80)});
  const ServicePortName web = MakeServicePortName("ns", "web", "http");
  cluster.SetEndpoints(web, {LocalEndpoint("10.0.2.1", 8080)});
  IptablesPlanner planner{IptablesPlannerConfig{}};
  auto plan = planner.Plan(cluster.Snapshot(), TestNode(), {}, nullptr);
  EXPECT_EQ(plan->no_local_internal_endpoints, 1u);
  EXPECT_EQ(plan->no_local_external_endpoints, 0u);

  // The local pod moves to another node.
  cluster.SetEndpoints(web, {MakeEndpoint("10.0.1.1", 8080)});
  plan = planner.Plan(cluster.Snapshot(), TestNode(), {web.service}, plan.get());
  EXPECT_NE(plan->base_id, 0u) << "expected a derived plan";
  EXPECT_EQ(plan->no_local_internal_endpoints, 2u);
  EXPECT_EQ(plan->no_local_external_endpoints, 1u);

  // And the Service goes away.
  cluster.RemoveService("ns", "web");
  plan = planner.Plan(cluster.Snapshot(), TestNode(), {web.service}, plan.get());
  EXPECT_EQ(plan->no_local_internal_endpoints, 1u);
  EXPECT_EQ(plan->no_local_external_endpoints, 0u);
}

}  // namespace
}  // namespace kproxy::proxier::iptables
