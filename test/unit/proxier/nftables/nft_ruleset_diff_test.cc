#include "proxier/nftables/nft_ruleset_diff.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/nftables/nftables_planner.h"
#include "test/unit/proxier/nftables/testing_cluster.h"

namespace kproxy::proxier::nftables {
namespace {

using ::testing::ElementsAre;
using testing::Ip;
using ::testing::IsEmpty;
using testing::LocalEndpoint;
using testing::MakeEndpoint;
using testing::MakeService;
using testing::MakeServicePortName;
using testing::RichCluster;
using testing::TerminatingEndpoint;
using testing::TestCluster;
using testing::TestNode;
using ::testing::UnorderedElementsAre;
using testing::UpstreamTestOptions;

NftRuleset Plan(const TestCluster& cluster) {
  return PlanNftables(cluster.Snapshot(), TestNode(), UpstreamTestOptions());
}

// Element changes that touch a verdict map: those make the kernel validate the whole table.
int VerdictElementChanges(const NftRuleset& desired, const NftChange& change) {
  int count = 0;
  for (const auto* elements : {&change.elements_to_add, &change.elements_to_delete}) {
    for (const auto& [set, list] : *elements) {
      const NftSet* declared = desired.FindSet(set);
      if (declared != nullptr && declared->value_types == std::vector<std::string>{"verdict"}) {
        count += list.size();
      }
    }
  }
  return count;
}

// The key property of the ruleset's shape: an endpoint change of an existing Service sends data
// elements only (no chain, no rule, no set, no verdict element).
void ExpectOnlyDataElements(const NftRuleset& before, const NftRuleset& after) {
  const NftChange change = DiffNftRulesets(before, after);
  EXPECT_FALSE(change.empty());
  EXPECT_TRUE(change.OnlyElements()) << RenderNftChange(change);
  EXPECT_EQ(VerdictElementChanges(after, change), 0) << RenderNftChange(change);
}

TEST(NftRulesetDiffTest, SameRulesetGivesEmptyChange) {
  const NftRuleset ruleset = Plan(RichCluster());
  EXPECT_TRUE(DiffNftRulesets(ruleset, ruleset).empty());
}

TEST(NftRulesetDiffTest, FirstSyncCreatesEverything) {
  const NftRuleset ruleset = Plan(RichCluster());
  const NftChange change = DiffNftRulesets(NftRuleset{}, ruleset);
  EXPECT_TRUE(change.create_table);
  EXPECT_EQ(change.chains_to_add.size(), ruleset.chains.size());
  EXPECT_EQ(change.sets_to_add.size(), ruleset.sets.size());
  EXPECT_EQ(change.elements_to_add, ruleset.elements);
}

TEST(NftRulesetDiffTest, EndpointAddedChangesOnlyDataElements) {
  TestCluster cluster = RichCluster();
  const NftRuleset before = Plan(cluster);
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"),
                       {MakeEndpoint("10.180.0.1", 80), MakeEndpoint("10.180.2.1", 80)});
  const NftRuleset after = Plan(cluster);
  ExpectOnlyDataElements(before, after);
  const NftChange change = DiffNftRulesets(before, after);
  const std::string map = "endpoints-ULMVA6XW-ns1/svc1/tcp/p80";
  ASSERT_TRUE(change.elements_to_add.contains(map));
  EXPECT_THAT(change.elements_to_add.at(map),
              ElementsAre(NftElement{{"0-360359"}, {"10.180.0.1", "80"}, ""},
                          NftElement{{"360360-720719"}, {"10.180.2.1", "80"}, ""}));
  EXPECT_THAT(change.elements_to_delete.at(map),
              ElementsAre(NftElement{{"0-720719"}, {"10.180.0.1", "80"}, ""}));
  EXPECT_THAT(change.elements_to_add.at("hairpin-connections"),
              ElementsAre(NftElement{{"10.180.2.1", "10.180.2.1", "tcp", "80"}, {}, ""}));
  EXPECT_THAT(change.sets_to_flush, IsEmpty());
}

TEST(NftRulesetDiffTest, EndpointRemovedChangesOnlyDataElementsAndFlushesAffinity) {
  TestCluster cluster = RichCluster();
  cluster.SetEndpoints(MakeServicePortName("ns5", "svc5", "p80"),
                       {MakeEndpoint("10.180.0.3", 80), MakeEndpoint("10.180.5.1", 80)});
  const NftRuleset before = Plan(cluster);
  cluster.SetEndpoints(MakeServicePortName("ns5", "svc5", "p80"), {MakeEndpoint("10.180.0.3", 80)});
  const NftRuleset after = Plan(cluster);
  ExpectOnlyDataElements(before, after);
  // A client stuck to 10.180.5.1 must not be sent there any more.
  EXPECT_THAT(DiffNftRulesets(before, after).sets_to_flush,
              ElementsAre("affinity-HVFWP5L3-ns5/svc5/tcp/p80"));
}

TEST(NftRulesetDiffTest, EndpointAddedKeepsAffinity) {
  TestCluster cluster = RichCluster();
  const NftRuleset before = Plan(cluster);
  cluster.SetEndpoints(MakeServicePortName("ns5", "svc5", "p80"),
                       {MakeEndpoint("10.180.0.3", 80), MakeEndpoint("10.180.5.1", 80)});
  EXPECT_THAT(DiffNftRulesets(before, Plan(cluster)).sets_to_flush, IsEmpty());
}

TEST(NftRulesetDiffTest, EndpointTurningTerminatingChangesOnlyDataElements) {
  TestCluster cluster = RichCluster();
  const auto name = MakeServicePortName("ns4", "svc4", "p80");
  const NftRuleset before = Plan(cluster);
  cluster.SetEndpoints(name,
                       {TerminatingEndpoint("10.180.0.4", 80), LocalEndpoint("10.180.0.5", 80)});
  const NftRuleset after = Plan(cluster);
  ExpectOnlyDataElements(before, after);
  // The ready endpoint takes every slot; the terminating one is left out.
  EXPECT_THAT(after.elements.at("endpoints-LAUZTJTB-ns4/svc4/tcp/p80"),
              ElementsAre(NftElement{{"0-720719"}, {"10.180.0.5", "80"}, ""}));
}

TEST(NftRulesetDiffTest, LastEndpointGoingAndComingBackChangesOnlyDataElements) {
  TestCluster cluster = RichCluster();
  const auto name = MakeServicePortName("ns1", "svc1", "p80");
  const NftRuleset with = Plan(cluster);
  cluster.SetEndpoints(name, {});
  const NftRuleset without = Plan(cluster);
  ExpectOnlyDataElements(with, without);
  ExpectOnlyDataElements(without, with);
  EXPECT_THAT(DiffNftRulesets(with, without).elements_to_add.at("no-endpoint-services-reject"),
              ElementsAre(NftElement{{"172.30.0.41", "tcp", "80"}, {}, "ns1/svc1:p80"}));
}

TEST(NftRulesetDiffTest, LocalEndpointOfLocalPolicyChangesOnlyDataElements) {
  TestCluster cluster = RichCluster();
  const auto name = MakeServicePortName("ns2", "svc2", "p80");
  const NftRuleset before = Plan(cluster);
  cluster.SetEndpoints(name, {MakeEndpoint("10.180.0.2", 80), LocalEndpoint("10.180.2.2", 80)});
  const NftRuleset after = Plan(cluster);
  ExpectOnlyDataElements(before, after);
  // The drop entries for the Local policy went away with the local endpoint's arrival.
  const NftChange change = DiffNftRulesets(before, after);
  EXPECT_TRUE(change.elements_to_delete.contains("no-endpoint-services-drop"));
  EXPECT_TRUE(change.elements_to_delete.contains("no-endpoint-nodeports-drop"));
}

TEST(NftRulesetDiffTest, AddingAServiceAddsAConstantNumberOfRules) {
  TestCluster cluster = RichCluster();
  const NftRuleset before = Plan(cluster);
  cluster.AddService(MakeService("ns20", "svc20", [](Service& s) {
    s.type = ServiceType::kNodePort;
    s.cluster_ips = {Ip("172.30.0.60")};
    testing::AddPort(s, "p80", Protocol::kTCP, 80, 3020);
  }));
  cluster.SetEndpoints(MakeServicePortName("ns20", "svc20", "p80"),
                       {MakeEndpoint("10.180.20.1", 80), MakeEndpoint("10.180.20.2", 80),
                        MakeEndpoint("10.180.20.3", 80)});
  const NftRuleset after = Plan(cluster);
  const NftChange change = DiffNftRulesets(before, after);
  // Its service and external chains (2 + 2 rules) and its endpoints map; no existing chain
  // changes; two verdict elements (ClusterIP and NodePort), whatever the endpoint count.
  ASSERT_EQ(change.chains_to_add.size(), 2u);
  EXPECT_EQ(change.chains_to_add[0].name,
            "external-" + ServicePortNameBase(MakeServicePortName("ns20", "svc20", "p80")));
  EXPECT_EQ(change.chains_to_add[0].rules.size() + change.chains_to_add[1].rules.size(), 4u);
  EXPECT_THAT(change.chains_to_refill, IsEmpty());
  EXPECT_EQ(change.sets_to_add.size(), 1u);
  EXPECT_EQ(VerdictElementChanges(after, change), 2);
}

TEST(NftRulesetDiffTest, RemovedServiceChainsAreFlushedThenDeletedNextSync) {
  TestCluster cluster = RichCluster();
  const NftRuleset before = Plan(cluster);
  cluster.RemoveService("ns3", "svc3");
  const NftRuleset after = Plan(cluster);
  const NftChange change = DiffNftRulesets(before, after);
  EXPECT_THAT(change.chains_to_flush, UnorderedElementsAre("external-4AT6LBPK-ns3/svc3/tcp/p80",
                                                           "service-4AT6LBPK-ns3/svc3/tcp/p80"));
  EXPECT_THAT(change.chains_to_delete, IsEmpty());
  EXPECT_THAT(change.sets_to_delete, ElementsAre("endpoints-4AT6LBPK-ns3/svc3/tcp/p80"));
  EXPECT_EQ(VerdictElementChanges(after, change), 2);  // its ClusterIP and its NodePort

  const NftRuleset applied = AppliedRuleset(after, change);
  const NftChange next = DiffNftRulesets(applied, after);
  EXPECT_THAT(next.chains_to_delete, UnorderedElementsAre("external-4AT6LBPK-ns3/svc3/tcp/p80",
                                                          "service-4AT6LBPK-ns3/svc3/tcp/p80"));
  EXPECT_TRUE(next.chains_to_flush.empty());
  EXPECT_TRUE(DiffNftRulesets(AppliedRuleset(after, next), after).empty());
}

TEST(NftRulesetDiffTest, ServiceBackBeforeItsStaleChainsWereDeletedRefillsThem) {
  TestCluster cluster = RichCluster();
  const NftRuleset with = Plan(cluster);
  TestCluster without_cluster = cluster;
  without_cluster.RemoveService("ns3", "svc3");
  const NftRuleset without = Plan(without_cluster);
  const NftRuleset applied = AppliedRuleset(without, DiffNftRulesets(with, without));
  const NftChange back = DiffNftRulesets(applied, with);
  EXPECT_THAT(back.chains_to_delete, IsEmpty());
  EXPECT_THAT(back.chains_to_add, IsEmpty());
  EXPECT_EQ(back.chains_to_refill.size(), 2u);
}

TEST(NftRulesetDiffTest, ChangedAffinityTimeoutRecreatesTheMapAndRefillsItsReaders) {
  TestCluster cluster = RichCluster();
  const NftRuleset before = Plan(cluster);
  cluster.AddService(MakeService("ns5", "svc5", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.cluster_ips = {Ip("172.30.0.45")};
    testing::AddPort(s, "p80", Protocol::kTCP, 80, 3002);
    testing::AddIngress(s, "5.6.7.8");
    s.load_balancer_source_ranges = {testing::MakeCidr("203.0.113.0/25")};
    s.session_affinity = SessionAffinity::kClientIP;
    s.session_affinity_timeout_seconds = 60;
  }));
  const NftRuleset after = Plan(cluster);
  const NftChange change = DiffNftRulesets(before, after);
  const std::string map = "affinity-HVFWP5L3-ns5/svc5/tcp/p80";
  EXPECT_THAT(change.sets_to_delete, ElementsAre(map));
  ASSERT_EQ(change.sets_to_add.size(), 1u);
  EXPECT_EQ(change.sets_to_add[0].default_timeout, absl::Seconds(60));
  std::vector<std::string> refilled;
  for (const NftChain& chain : change.chains_to_refill) refilled.push_back(chain.name);
  EXPECT_THAT(refilled, UnorderedElementsAre("affinity-update-HVFWP5L3-ns5/svc5/tcp/p80",
                                             "service-HVFWP5L3-ns5/svc5/tcp/p80"));
}

}  // namespace
}  // namespace kproxy::proxier::nftables
