#include "proxier/endpoint_selector.h"

#include <algorithm>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

struct Ep {
  std::string ip;
  std::vector<std::string> zone_hints;
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  bool local = false;
  std::vector<std::string> node_hints;
};

struct Policy {
  bool internal_local = false;
  bool external_local = false;
  int32_t node_port = 0;
};

// One row of upstream's TestCategorizeEndpoints (pkg/proxy/topology_test.go), plus the
// same-node rows its newer hints logic implies.
struct Case {
  std::string name;
  std::string zone;
  Policy policy;
  std::vector<Ep> endpoints;
  std::set<std::string> cluster;
  std::set<std::string> local;
  std::set<std::string> all;
  bool only_remote = false;  // has_any_endpoints despite nothing reachable from this node
};

constexpr char kNode[] = "node-a";

// gtest prints failing parameters; the row name says more than its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

EndpointList BuildEndpoints(const std::vector<Ep>& eps) {
  EndpointList out;
  for (const Ep& ep : eps) {
    auto colon = ep.ip.rfind(':');
    out.push_back(testing::MakeEndpoint(ep.ip.substr(0, colon), std::stoi(ep.ip.substr(colon + 1)),
                                        [&](Endpoint& e) {
                                          e.ready = ep.ready;
                                          e.serving = ep.serving;
                                          e.terminating = ep.terminating;
                                          e.is_local = ep.local;
                                          e.node_name = ep.local ? kNode : "node-other";
                                          e.SetHints(ep.zone_hints, ep.node_hints);
                                        }));
  }
  return out;
}

std::vector<std::string> Names(const EndpointList& list) {
  std::vector<std::string> out;
  for (const auto& ep : list) out.push_back(ep->IpPort());
  return out;
}

class CategorizeEndpointsTest : public ::testing::TestWithParam<Case> {};

TEST_P(CategorizeEndpointsTest, MatchesUpstream) {
  const Case& c = GetParam();
  ServicePort port;
  port.internal_policy_local = c.policy.internal_local;
  port.external_policy_local = c.policy.external_local;
  port.node_port = c.policy.node_port;
  NodeContext node;
  node.node_name = kNode;
  node.zone = c.zone;

  CategorizedEndpoints got = CategorizeEndpoints(BuildEndpoints(c.endpoints), port, node);
  EXPECT_THAT(Names(got.cluster_endpoints), UnorderedElementsAreArray(c.cluster)) << "cluster";
  EXPECT_THAT(Names(got.local_endpoints), UnorderedElementsAreArray(c.local)) << "local";
  EXPECT_THAT(Names(got.all_reachable_endpoints), UnorderedElementsAreArray(c.all)) << "all";
  EXPECT_EQ(got.has_any_endpoints, !c.all.empty() || c.only_remote);
  // Deterministic order: every list is in IpPort order.
  for (const EndpointList* list : {&got.cluster_endpoints, &got.local_endpoints, &got.all_reachable_endpoints}) {
    std::vector<std::string> names = Names(*list);
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  }
}

const Policy kCluster{};
const Policy kEtpLocalNodePort{false, true, 8080};
const Policy kItpLocalNodePort{true, false, 8080};
const Policy kItpLocal{true, false, 0};
const Policy kBothLocalNodePort{true, true, 8080};

std::vector<Case> Cases() {
  const std::vector<Ep> four_zoned = {
      {"10.1.2.3:80", {"zone-a"}, true},
      {"10.1.2.4:80", {"zone-b"}, true},
      {"10.1.2.5:80", {"zone-c"}, true},
      {"10.1.2.6:80", {"zone-a"}, true},
  };
  const std::vector<Ep> four_zoned_two_local = {
      {"10.1.2.3:80", {"zone-a"}, true, false, false, true},
      {"10.1.2.4:80", {"zone-b"}, true, false, false, true},
      {"10.1.2.5:80", {"zone-c"}, true},
      {"10.1.2.6:80", {"zone-a"}, true},
  };
  return {
      {"UsesTopologyWhenAllEndpointsHaveHintsAndOneMatchesNodeZone", "zone-a", kCluster, four_zoned,
       {"10.1.2.3:80", "10.1.2.6:80"}, {}, {"10.1.2.3:80", "10.1.2.6:80"}},
      {"ExternalPolicyLocalIgnoresTopologyForLocalEndpoints", "zone-a", kEtpLocalNodePort,
       four_zoned_two_local, {"10.1.2.3:80", "10.1.2.6:80"}, {"10.1.2.3:80", "10.1.2.4:80"},
       {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}},
      {"InternalPolicyLocalIgnoresTopologyForLocalEndpoints", "zone-a", kItpLocalNodePort,
       four_zoned_two_local, {"10.1.2.3:80", "10.1.2.6:80"}, {"10.1.2.3:80", "10.1.2.4:80"},
       {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}},
      {"EmptyNodeLabelsDisableTopology", "", kCluster, {{"10.1.2.3:80", {"zone-a"}, true}},
       {"10.1.2.3:80"}, {}, {"10.1.2.3:80"}},
      {"NodeInOtherZoneDisablesTopology", "zone-b", kCluster, {{"10.1.2.3:80", {"zone-a"}, true}},
       {"10.1.2.3:80"}, {}, {"10.1.2.3:80"}},
      {"UnreadyEndpointInZoneIsDropped", "zone-a", kCluster,
       {{"10.1.2.3:80", {"zone-a"}, true},
        {"10.1.2.4:80", {"zone-b"}, true},
        {"10.1.2.5:80", {"zone-c"}, true},
        {"10.1.2.6:80", {"zone-a"}, false}},
       {"10.1.2.3:80"}, {}, {"10.1.2.3:80"}},
      {"OnlyUnreadyEndpointsInSameZoneDisableTopology", "zone-a", kCluster,
       {{"10.1.2.3:80", {"zone-a"}, false},
        {"10.1.2.4:80", {"zone-b"}, true},
        {"10.1.2.5:80", {"zone-c"}, true},
        {"10.1.2.6:80", {"zone-a"}, false}},
       {"10.1.2.4:80", "10.1.2.5:80"}, {}, {"10.1.2.4:80", "10.1.2.5:80"}},
      {"EndpointMissingHintDisablesTopology", "zone-a", kCluster,
       {{"10.1.2.3:80", {"zone-a"}, true},
        {"10.1.2.4:80", {"zone-b"}, true},
        {"10.1.2.5:80", {}, true},
        {"10.1.2.6:80", {"zone-a"}, true}},
       {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}, {},
       {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}},
      {"EndpointWithSeveralZoneHintsServesEachOfThem", "zone-c", kCluster,
       {{"10.1.2.3:80", {"zone-a", "zone-b", "zone-c"}, true},
        {"10.1.2.4:80", {"zone-b", "zone-c"}, true},
        {"10.1.2.5:80", {"zone-b", "zone-d"}, true},
        {"10.1.2.6:80", {"zone-c"}, true}},
       {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}, {},
       {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}},
      {"ConflictingTopologyAndLocalnessMergeAllEndpoints", "zone-a", kEtpLocalNodePort,
       {{"10.0.0.0:80", {"zone-a"}, true, false, false, true},
        {"10.0.0.1:80", {"zone-b"}, true, false, false, true},
        {"10.0.0.2:80", {"zone-a"}, true},
        {"10.0.0.3:80", {"zone-b"}, true}},
       {"10.0.0.0:80", "10.0.0.2:80"}, {"10.0.0.0:80", "10.0.0.1:80"},
       {"10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80"}},
      {"InternalPolicyLocalWithNoEndpoints", "", kItpLocal, {}, {}, {}, {}},
      {"InternalPolicyLocalWithOnlyRemoteEndpoints", "", kItpLocal,
       {{"10.0.0.0:80", {}, true}, {"10.0.0.1:80", {}, true}}, {}, {}, {}, /*only_remote=*/true},
      {"InternalPolicyLocalWithAllEndpointsLocal", "", kItpLocal,
       {{"10.0.0.0:80", {}, true, false, false, true}, {"10.0.0.1:80", {}, true, false, false, true}},
       {}, {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80", "10.0.0.1:80"}},
      {"InternalPolicyLocalWithSomeEndpointsLocal", "", kItpLocal,
       {{"10.0.0.0:80", {}, true, false, false, true}, {"10.0.0.1:80", {}, true}}, {},
       {"10.0.0.0:80"}, {"10.0.0.0:80"}},
      {"ClusterPolicyWithNoReadyEndpointsHasNone", "", kCluster,
       {{"10.0.0.0:80", {}, false}, {"10.0.0.1:80", {}, false}}, {}, {}, {}},
      {"ClusterPolicyUsesOnlyReadyEndpoints", "", kCluster,
       {{"10.0.0.0:80", {}, false}, {"10.0.0.1:80", {}, true}}, {"10.0.0.1:80"}, {}, {"10.0.0.1:80"}},
      {"ClusterPolicyFallsBackToServingTerminatingWhenNoneReady", "", kCluster,
       {{"10.0.0.0:80", {}, false, true, true, true}, {"10.0.0.1:80", {}, false, true, true, false}},
       {"10.0.0.0:80", "10.0.0.1:80"}, {}, {"10.0.0.0:80", "10.0.0.1:80"}},
      {"InternalLocalExternalClusterSomeLocal", "", kItpLocalNodePort,
       {{"10.0.0.0:80", {}, true, false, false, true}, {"10.0.0.1:80", {}, true}},
       {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80"}, {"10.0.0.0:80", "10.0.0.1:80"}},
      {"InternalClusterExternalLocalSomeLocal", "", kEtpLocalNodePort,
       {{"10.0.0.0:80", {}, true, false, false, true}, {"10.0.0.1:80", {}, true}},
       {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80"}, {"10.0.0.0:80", "10.0.0.1:80"}},
      {"BothPoliciesLocalSomeLocal", "", kBothLocalNodePort,
       {{"10.0.0.0:80", {}, true, false, false, true}, {"10.0.0.1:80", {}, true}},
       {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80"}, {"10.0.0.0:80", "10.0.0.1:80"}},
      {"BothPoliciesLocalAllRemote", "", kBothLocalNodePort,
       {{"10.0.0.0:80", {}, true}, {"10.0.0.1:80", {}, true}}, {"10.0.0.0:80", "10.0.0.1:80"}, {},
       {"10.0.0.0:80", "10.0.0.1:80"}},
      {"BothPoliciesLocalAllRemoteAndTerminating", "", kBothLocalNodePort,
       {{"10.0.0.0:80", {}, false, true, true}, {"10.0.0.1:80", {}, false, true, true}},
       {"10.0.0.0:80", "10.0.0.1:80"}, {}, {"10.0.0.0:80", "10.0.0.1:80"}, /*only_remote=*/true},
      {"ExternalLocalFallsBackToLocalServingTerminating", "", kEtpLocalNodePort,
       {{"10.0.0.0:80", {}, true},
        {"10.0.0.1:80", {}, false, false, false, true},
        {"10.0.0.2:80", {}, false, true, true, true},
        {"10.0.0.3:80", {}, false, true, true, false}},
       {"10.0.0.0:80"}, {"10.0.0.2:80"}, {"10.0.0.0:80", "10.0.0.2:80"}},
      {"ExternalPolicyIgnoredWhenNotExternallyAccessible", "", Policy{false, true, 0},
       {{"10.0.0.0:80", {}, true}, {"10.0.0.1:80", {}, true, false, false, true}},
       {"10.0.0.0:80", "10.0.0.1:80"}, {}, {"10.0.0.0:80", "10.0.0.1:80"}},
      {"NoClusterEndpointsForInternalOnlyLocalService", "", kItpLocal,
       {{"10.0.0.0:80", {}, true}, {"10.0.0.1:80", {}, true, false, false, true}}, {},
       {"10.0.0.1:80"}, {"10.0.0.1:80"}},
      // Same-node hints (trafficDistribution: PreferSameNode), upstream topologyModeFromHints.
      {"PrefersSameNodeWhenAllHaveNodeHintsAndOneNamesThisNode", "zone-a", kCluster,
       {{"10.0.0.1:80", {"zone-a"}, true, false, false, true, {kNode}},
        {"10.0.0.2:80", {"zone-a"}, true, false, false, false, {"node-b"}},
        {"10.0.0.3:80", {"zone-b"}, true, false, false, false, {"node-c"}}},
       {"10.0.0.1:80"}, {}, {"10.0.0.1:80"}},
      {"FallsBackToSameZoneWhenNoNodeHintNamesThisNode", "zone-a", kCluster,
       {{"10.0.0.1:80", {"zone-a"}, true, false, false, false, {"node-b"}},
        {"10.0.0.2:80", {"zone-a"}, true, false, false, false, {"node-b"}},
        {"10.0.0.3:80", {"zone-b"}, true, false, false, false, {"node-c"}}},
       {"10.0.0.1:80", "10.0.0.2:80"}, {}, {"10.0.0.1:80", "10.0.0.2:80"}},
      {"IgnoresNodeHintsWhenOneReadyEndpointLacksThem", "zone-b", kCluster,
       {{"10.0.0.1:80", {"zone-a"}, true, false, false, true, {kNode}},
        {"10.0.0.2:80", {"zone-b"}, true}},
       {"10.0.0.2:80"}, {}, {"10.0.0.2:80"}},
      {"UnreadyEndpointsDoNotVetoNodeHints", "", kCluster,
       {{"10.0.0.1:80", {}, true, false, false, true, {kNode}},
        {"10.0.0.2:80", {}, false},
        {"10.0.0.3:80", {}, true, false, false, false, {"node-c"}}},
       {"10.0.0.1:80"}, {}, {"10.0.0.1:80"}},
  };
}

INSTANTIATE_TEST_SUITE_P(TopologyTable, CategorizeEndpointsTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(EndpointSelectorTest, NoEndpointsMeansNothingReachable) {
  ServicePort port;
  NodeContext node;
  CategorizedEndpoints got = CategorizeEndpoints({}, port, node);
  EXPECT_THAT(got.cluster_endpoints, IsEmpty());
  EXPECT_THAT(got.all_reachable_endpoints, IsEmpty());
  EXPECT_FALSE(got.has_any_endpoints);
}

TEST(EndpointSelectorTest, FallsBackToServingTerminatingIgnoringTopology) {
  // No ready endpoint: topology is never chosen, and every serving-terminating one is used.
  ServicePort port;
  NodeContext node;
  node.node_name = kNode;
  node.zone = "zone-a";
  EndpointList eps = {
      testing::MakeEndpoint("10.0.0.1", 80, [](Endpoint& e) {
        e.ready = false;
        e.terminating = true;
        e.SetHints({"zone-b"}, {});
      }),
      testing::MakeEndpoint("10.0.0.2", 80, [](Endpoint& e) {
        e.ready = false;
        e.serving = false;
        e.terminating = true;
      }),
  };
  CategorizedEndpoints got = CategorizeEndpoints(eps, port, node);
  EXPECT_THAT(Names(got.cluster_endpoints), ElementsAre("10.0.0.1:80"));
  EXPECT_TRUE(got.has_any_endpoints);
}

TEST(EndpointSelectorTest, MergedReachableListIsSortedAndSharesPointers) {
  ServicePort port;
  port.node_port = 30000;
  port.external_policy_local = true;
  NodeContext node;
  node.node_name = kNode;
  node.zone = "zone-a";
  EndpointList eps = BuildEndpoints({{"10.0.0.9:80", {"zone-a"}, true},
                                     {"10.0.0.10:80", {"zone-b"}, true, false, false, true}});
  CategorizedEndpoints got = CategorizeEndpoints(eps, port, node);
  EXPECT_THAT(Names(got.all_reachable_endpoints), ElementsAre("10.0.0.10:80", "10.0.0.9:80"));
  EXPECT_EQ(got.all_reachable_endpoints[0].get(), eps[1].get());
}

}  // namespace
}  // namespace kproxy::proxier
