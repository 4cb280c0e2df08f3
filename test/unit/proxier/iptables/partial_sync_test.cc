// Partial syncs: a plan after a change rebuilds only the changed Services' fragments, and the
// rendered restore input names only the chains whose content changed. Each step is applied to the
// iptables simulator and must leave the same tables as a full restore of the new plan.

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/iptables/chain_names.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"
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
using proxier::EndpointList;
using testing::IptablesSimulator;
using testing::kTestNodeIp;
using testing::Normalize;
using testing::TestCluster;
using testing::TestNode;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::string SvcChain(absl::string_view spn) { return absl::StrCat("KUBE-SVC-", PortProtoHash(spn, "tcp")); }
std::string SepChain(absl::string_view spn, absl::string_view ep) { return EndpointChainName(spn, "tcp", ep); }

class PartialSyncTest : public ::testing::Test {
 protected:
  PartialSyncTest() : planner_(Config()), simulator_({kTestNodeIp}) {
    for (int i = 1; i <= 3; ++i) {
      cluster_.AddService(MakeService("ns", absl::StrCat("svc", i), [i](Service& s) {
        s.type = ServiceType::kNodePort;
        s.cluster_ips = {Ip(absl::StrCat("172.30.0.", i))};
        AddPort(s, "p80", Protocol::kTCP, 80, 30000 + i);
      }));
      cluster_.SetEndpoints(MakeServicePortName("ns", absl::StrCat("svc", i), "p80"),
                            {MakeEndpoint(absl::StrCat("10.180.", i, ".1"), 80)});
    }
    Sync({}, /*full=*/true);
  }

  static IptablesPlannerConfig Config() {
    IptablesPlannerConfig config;
    config.local_detect_mode = LocalDetectMode::kClusterCidr;
    config.cluster_cidrs = {MakeCidr("10.0.0.0/8")};
    return config;
  }

  // Plans with `changed`, renders against the applied plan, applies it to the simulator, checks
  // that the result equals a full restore of the new plan, and returns the rendered input.
  std::string Sync(const ChangedServices& changed, bool full = false,
                   const absl::flat_hash_set<std::string>* existing = nullptr) {
    auto plan = planner_.Plan(cluster_.Snapshot(), TestNode(), changed, applied_.get());
    RenderOptions options;
    options.full = full;
    options.applied = applied_.get();
    options.existing_nat_chains = existing;
    RenderedRestore rendered = RenderRestore(*plan, options);
    if (!rendered.input.empty()) {
      absl::Status status = simulator_.Apply(rendered.input);
      EXPECT_TRUE(status.ok()) << status << "\n" << rendered.input;
    }
    IptablesSimulator fresh({kTestNodeIp});
    EXPECT_TRUE(fresh.Apply(RenderRestore(*plan, RenderOptions{}).input).ok());
    EXPECT_EQ(simulator_.tables(), fresh.tables()) << "after restoring:\n" << rendered.input;
    previous_ = applied_;
    applied_ = plan;
    return rendered.input;
  }

  static ServiceName Name(absl::string_view svc) { return ServiceName{"ns", std::string(svc)}; }

  IptablesPlanner planner_;
  IptablesSimulator simulator_;
  TestCluster cluster_;
  std::shared_ptr<const IptablesPlan> applied_;
  std::shared_ptr<const IptablesPlan> previous_;
};

TEST_F(PartialSyncTest, NoChangeWritesNothing) {
  EXPECT_EQ(Sync({}), "");
}

TEST_F(PartialSyncTest, EndpointChangeRewritesOnlyThatServiceChainAndNewEndpointChain) {
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc1", "p80"),
                        {MakeEndpoint("10.180.1.1", 80), MakeEndpoint("10.180.1.2", 80)});
  const std::string input = Sync({Name("svc1")});
  auto n = Normalize(input);
  EXPECT_FALSE(n.declared.contains("filter")) << input;
  EXPECT_THAT(n.declared["nat"], UnorderedElementsAre(SvcChain("ns/svc1:p80"), SepChain("ns/svc1:p80", "10.180.1.2:80")))
      << input;
  EXPECT_THAT(n.deleted, IsEmpty());
  // Unchanged Services share their fragments with the previous plan.
  EXPECT_EQ(applied_->fragments.at(MakeServicePortName("ns", "svc2", "p80")),
            previous_->fragments.at(MakeServicePortName("ns", "svc2", "p80")));
  EXPECT_NE(applied_->fragments.at(MakeServicePortName("ns", "svc1", "p80")),
            previous_->fragments.at(MakeServicePortName("ns", "svc1", "p80")));
}

TEST_F(PartialSyncTest, RemovedEndpointChainIsFlushedAndDeleted) {
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc1", "p80"),
                        {MakeEndpoint("10.180.1.1", 80), MakeEndpoint("10.180.1.2", 80)});
  Sync({Name("svc1")});
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc1", "p80"), {MakeEndpoint("10.180.1.2", 80)});
  const std::string input = Sync({Name("svc1")});
  auto n = Normalize(input);
  const std::string gone = SepChain("ns/svc1:p80", "10.180.1.1:80");
  EXPECT_THAT(n.declared["nat"], UnorderedElementsAre(SvcChain("ns/svc1:p80"), gone)) << input;
  EXPECT_THAT(n.deleted["nat"], ElementsAre(gone));
  EXPECT_FALSE(absl::StrContains(input, "KUBE-SERVICES")) << input;
}

TEST_F(PartialSyncTest, AddedServiceWritesKubeServices) {
  cluster_.AddService(MakeService("ns", "svc4", [](Service& s) {
    s.cluster_ips = {Ip("172.30.0.4")};
    AddPort(s, "p80", Protocol::kTCP, 80);
  }));
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc4", "p80"), {MakeEndpoint("10.180.4.1", 80)});
  const std::string input = Sync({Name("svc4")});
  auto n = Normalize(input);
  EXPECT_THAT(n.declared["nat"], UnorderedElementsAre("KUBE-SERVICES", SvcChain("ns/svc4:p80"),
                                                      SepChain("ns/svc4:p80", "10.180.4.1:80")))
      << input;
  EXPECT_FALSE(n.declared.contains("filter")) << input;
}

TEST_F(PartialSyncTest, RemovedServiceChainsAreFlushedAndDeleted) {
  cluster_.RemoveService("ns", "svc2");
  const std::string input = Sync({Name("svc2")});
  auto n = Normalize(input);
  const std::string svc = SvcChain("ns/svc2:p80");
  const std::string ext = absl::StrCat("KUBE-EXT-", PortProtoHash("ns/svc2:p80", "tcp"));
  const std::string sep = SepChain("ns/svc2:p80", "10.180.2.1:80");
  EXPECT_THAT(n.deleted["nat"], UnorderedElementsAre(svc, ext, sep)) << input;
  EXPECT_THAT(n.declared["nat"], UnorderedElementsAre("KUBE-SERVICES", "KUBE-NODEPORTS", svc, ext, sep));
  // -X comes after the rewritten chains that referenced the deleted ones.
  EXPECT_LT(input.find("-A KUBE-SERVICES"), input.find("-X "));
}

TEST_F(PartialSyncTest, ServiceLosingEndpointsMovesToFilterReject) {
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc3", "p80"), {});
  const std::string input = Sync({Name("svc3")});
  auto n = Normalize(input);
  EXPECT_THAT(n.declared["filter"], UnorderedElementsAre("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES")) << input;
  EXPECT_THAT(n.deleted["nat"], UnorderedElementsAre(SvcChain("ns/svc3:p80"),
                                                     absl::StrCat("KUBE-EXT-", PortProtoHash("ns/svc3:p80", "tcp")),
                                                     SepChain("ns/svc3:p80", "10.180.3.1:80")));
}

TEST_F(PartialSyncTest, ManyEndpointsUseIndexedDiffs) {
  EndpointList many;
  for (int i = 1; i <= 20; ++i) many.push_back(MakeEndpoint(absl::StrCat("10.180.1.", i), 80));
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc1", "p80"), many);
  Sync({Name("svc1")});
  EXPECT_EQ(simulator_.Trace({"10.0.0.2", "172.30.0.1", 80}).endpoints.size(), 20u);
  many.erase(many.begin() + 4);  // 10.180.1.5
  cluster_.SetEndpoints(MakeServicePortName("ns", "svc1", "p80"), many);
  const std::string input = Sync({Name("svc1")});
  auto n = Normalize(input);
  const std::string gone = SepChain("ns/svc1:p80", "10.180.1.5:80");
  EXPECT_THAT(n.declared["nat"], UnorderedElementsAre(SvcChain("ns/svc1:p80"), gone)) << input;
  EXPECT_THAT(n.deleted["nat"], ElementsAre(gone));
  EXPECT_EQ(simulator_.Trace({"10.0.0.2", "172.30.0.1", 80}).endpoints.size(), 19u);
}

TEST_F(PartialSyncTest, FlipToPassThroughRemovesOnlyTheVipRules) {
  auto lb = [](bool pass_through) {
    return MakeService("ns", "lb", [pass_through](Service& s) {
      s.type = ServiceType::kLoadBalancer;
      if (pass_through) s.metadata.annotations["kubernetes.io/elb.pass-through"] = "true";
      s.cluster_ips = {Ip("172.30.0.9")};
      AddPort(s, "p80", Protocol::kTCP, 80, 30009);
      AddIngress(s, "1.2.3.4");
    });
  };
  cluster_.AddService(lb(false));
  cluster_.SetEndpoints(MakeServicePortName("ns", "lb", "p80"), {MakeEndpoint("10.180.9.1", 80)});
  Sync({Name("lb")});
  EXPECT_EQ(simulator_.Trace({"10.0.0.2", "1.2.3.4", 80}).ToString(), "10.180.9.1:80 (masq)");
  cluster_.AddService(lb(true));
  const std::string input = Sync({Name("lb")});
  EXPECT_THAT(Normalize(input).declared["nat"], UnorderedElementsAre("KUBE-SERVICES")) << input;
  EXPECT_FALSE(absl::StrContains(input, "1.2.3.4")) << input;
  EXPECT_EQ(simulator_.Trace({"10.0.0.2", "1.2.3.4", 80}).ToString(), "not intercepted");
  EXPECT_EQ(simulator_.Trace({"10.0.0.2", "172.30.0.9", 80}).ToString(), "10.180.9.1:80");
  EXPECT_EQ(simulator_.Trace({"203.0.113.1", kTestNodeIp, 30009}).ToString(), "10.180.9.1:80 (masq)");
}

TEST_F(PartialSyncTest, FullSyncDeletesStaleServiceChainsOnly) {
  // Chains a previous process left behind: ours by prefix get deleted, others stay.
  ASSERT_TRUE(simulator_.Apply("*nat\n:KUBE-SVC-STALE0000000000 - [0:0]\n:KUBE-SEP-STALE0000000000 - [0:0]\n"
                               ":OTHER-CHAIN - [0:0]\n-A KUBE-SVC-STALE0000000000 -j KUBE-SEP-STALE0000000000\n"
                               "COMMIT\n")
                  .ok());
  absl::flat_hash_set<std::string> existing;
  for (const auto& [chain, rules] : simulator_.tables().at("nat")) existing.insert(chain);
  auto plan = planner_.Plan(cluster_.Snapshot(), TestNode(), {}, applied_.get());
  RenderOptions options;
  options.full = true;
  options.applied = applied_.get();
  options.existing_nat_chains = &existing;
  const std::string input = RenderRestore(*plan, options).input;
  EXPECT_THAT(Normalize(input).deleted["nat"],
              UnorderedElementsAre("KUBE-SEP-STALE0000000000", "KUBE-SVC-STALE0000000000"));
  ASSERT_TRUE(simulator_.Apply(input).ok()) << input;
  EXPECT_TRUE(simulator_.tables().at("nat").contains("OTHER-CHAIN"));
  EXPECT_FALSE(simulator_.tables().at("nat").contains("KUBE-SVC-STALE0000000000"));
}

TEST_F(PartialSyncTest, NodeChangeRebuildsEveryFragment) {
  auto plan = planner_.Plan(cluster_.Snapshot(), TestNode(), {}, applied_.get());
  EXPECT_EQ(plan->fragments.begin()->second, applied_->fragments.begin()->second);
  NodeContext moved = TestNode();
  moved.labels["topology.kubernetes.io/zone"] = "b";
  plan = planner_.Plan(cluster_.Snapshot(), moved, {}, applied_.get());
  EXPECT_NE(plan->fragments.begin()->second, applied_->fragments.begin()->second);
}

// 10k Services x 10 endpoints: a full render writes every chain, a partial sync after one
// endpoint change only that Service's. How long either takes is measured in
// bench/iptables_sync_benchmark.cc, not here (unit tests have no wall-clock limits).
TEST(IptablesPlannerScaleTest, TenThousandServicesRenderInFullAndThenOnlyWhatChanged) {
  TestCluster cluster;
  for (int i = 0; i < 10000; ++i) {
    const std::string name = absl::StrCat("svc", i);
    cluster.AddService(MakeService("ns", name, [i](Service& s) {
      s.type = ServiceType::kNodePort;
      s.cluster_ips = {Ip(absl::StrCat("172.30.", i / 250, ".", i % 250 + 1))};
      AddPort(s, "http", Protocol::kTCP, 80, 30000 + i % 2000);
    }));
    EndpointList endpoints;
    for (int e = 0; e < 10; ++e) {
      endpoints.push_back(MakeEndpoint(absl::StrCat("10.", i / 250, ".", i % 250, ".", e + 1), 8080));
    }
    cluster.SetEndpoints(MakeServicePortName("ns", name, "http"), std::move(endpoints));
  }
  const ProxySnapshot snapshot = cluster.Snapshot();
  IptablesPlannerConfig config;
  config.local_detect_mode = LocalDetectMode::kClusterCidr;
  config.cluster_cidrs = {MakeCidr("10.0.0.0/8")};
  IptablesPlanner planner(config);
  const NodeContext node = TestNode();
  auto base = planner.Plan(snapshot, node, {}, nullptr);
  EXPECT_EQ(RenderRestore(*base, RenderOptions{}).chains_written, 10 + 10000 * 12u);
  // A partial sync after one endpoint change.
  ChangedServices changed{ServiceName{"ns", "svc42"}};
  cluster.SetEndpoints(MakeServicePortName("ns", "svc42", "http"), {MakeEndpoint("10.0.42.99", 8080)});
  const ProxySnapshot changed_snapshot = cluster.Snapshot();
  auto plan = planner.Plan(changed_snapshot, node, changed, base.get());
  RenderOptions partial;
  partial.full = false;
  partial.applied = base.get();
  RenderedRestore rendered = RenderRestore(*plan, partial);
  EXPECT_EQ(rendered.chains_written, 2u);   // SVC + new SEP
  EXPECT_EQ(rendered.chains_deleted, 10u);  // the ten old SEPs
}

}  // namespace
}  // namespace kproxy::proxier::iptables
