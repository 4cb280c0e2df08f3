// A plan derived from the previous one (only changed Services rebuilt, top-level chains shared
// while unchanged) must be byte for byte the plan built from scratch, and the renderer's shortcut
// for derived plans must write exactly what the full comparison writes.
#include <memory>
#include <string>

#include "bench/synthetic_cluster.h"
#include "gtest/gtest.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"

namespace kproxy::proxier::iptables {
namespace {

class IncrementalPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = bench::MakeSyntheticCluster(200, 3);
    state_ = bench::LoadedProxyState(cluster_);
    config_.family = IpFamily::kIPv4;
    config_.local_detect_mode = LocalDetectMode::kClusterCidr;
    config_.cluster_cidrs.push_back(*Cidr::Parse("10.128.0.0/14"));
    auto taken = state_->TakeSnapshot();
    // Just above today's total: adding a few Services crosses it.
    config_.large_cluster_endpoints_threshold =
        IptablesPlanner(config_).Plan(*taken.snapshot, node_, {}, nullptr)->total_endpoints + 5;
    planner_ = std::make_unique<IptablesPlanner>(config_);
    applied_ = planner_->Plan(*taken.snapshot, node_, taken.changed, nullptr);
  }

  // Plans the pending changes incrementally and checks it against a plan from scratch; returns
  // the partial restore input.
  std::string SyncAndCompare() {
    auto taken = state_->TakeSnapshot();
    auto plan = planner_->Plan(*taken.snapshot, node_, taken.changed, applied_.get());
    auto scratch = planner_->Plan(*taken.snapshot, node_, {}, nullptr);
    EXPECT_EQ(plan->large_cluster_mode, scratch->large_cluster_mode);
    EXPECT_EQ(plan->total_endpoints, scratch->total_endpoints);
    EXPECT_EQ(RenderRestore(*plan, RenderOptions{}).input, RenderRestore(*scratch, RenderOptions{}).input);

    RenderOptions options;
    options.full = false;
    options.applied = applied_.get();
    const std::string partial = RenderRestore(*plan, options).input;
    // Without the base link the renderer compares every fragment and top-level chain.
    IptablesPlan unlinked = *plan;
    unlinked.base_id = 0;
    EXPECT_EQ(RenderRestore(unlinked, options).input, partial);
    IptablesPlan scratch_copy = *scratch;
    EXPECT_EQ(RenderRestore(scratch_copy, options).input, partial);
    applied_ = std::move(plan);
    return partial;
  }

  bench::SyntheticCluster cluster_;
  std::unique_ptr<ProxyState> state_;
  IptablesPlannerConfig config_;
  NodeContext node_ = bench::SyntheticNodeContext();
  std::unique_ptr<IptablesPlanner> planner_;
  std::shared_ptr<const IptablesPlan> applied_;
};

TEST_F(IncrementalPlanTest, EndpointChangeMatchesPlanFromScratchAndSharesTopLevelChains) {
  EXPECT_FALSE(applied_->large_cluster_mode);
  auto before = applied_;
  EndpointSlice updated = bench::WithOneEndpointReplaced(cluster_, 7);
  state_->OnEndpointSliceUpdate(cluster_.slices[7], updated);
  cluster_.slices[7] = updated;
  const std::string partial = SyncAndCompare();
  EXPECT_NE(partial.find("KUBE-SEP-"), std::string::npos);
  EXPECT_EQ(partial.find("KUBE-SERVICES"), std::string::npos) << partial;
  EXPECT_EQ(applied_->base_id, before->id);
  for (size_t i = 0; i < applied_->nat_chains.size(); ++i) {
    EXPECT_EQ(applied_->nat_chains.shared(i), before->nat_chains.shared(i)) << applied_->nat_chains[i].name;
  }
}

TEST_F(IncrementalPlanTest, ServicesRemovedAndAddedMatchPlanFromScratch) {
  // All endpoints gone: the Service's lines move from nat to filter KUBE-SERVICES.
  state_->OnEndpointSliceDelete(cluster_.slices[3]);
  EXPECT_NE(SyncAndCompare().find("KUBE-SERVICES"), std::string::npos);
  state_->OnServiceDelete(cluster_.services[4]);
  state_->OnEndpointSliceDelete(cluster_.slices[4]);
  SyncAndCompare();
  state_->OnEndpointSliceAdd(cluster_.slices[3]);
  SyncAndCompare();
  // Adding Services crosses the large-cluster threshold: every SVC/SEP chain loses its comments.
  const size_t first_new = cluster_.services.size();
  for (int i = 0; i < 10; ++i) bench::AddSyntheticService(cluster_, static_cast<int>(first_new) + i, 3);
  for (size_t i = first_new; i < cluster_.services.size(); ++i) {
    state_->OnServiceAdd(cluster_.services[i]);
    state_->OnEndpointSliceAdd(cluster_.slices[i]);
  }
  SyncAndCompare();
  EXPECT_TRUE(applied_->large_cluster_mode);
  EXPECT_EQ(applied_->base_id, 0u);  // rebuilt from scratch
  // Nothing pending: the same tables, nothing written.
  EXPECT_EQ(SyncAndCompare(), "");
}

}  // namespace
}  // namespace kproxy::proxier::iptables
