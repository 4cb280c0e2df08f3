// At 10k Services, one endpoint change must produce restore input for that Service's chains only
// (no top-level chain rewritten) and stay small, whatever the cluster size.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "bench/synthetic_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"

namespace kproxy::bench {
namespace {

namespace pi = proxier::iptables;

class PartialSyncSizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = MakeSyntheticCluster(10000, 10);
    state_ = LoadedProxyState(cluster_);
    config_.family = proxier::IpFamily::kIPv4;
    config_.local_detect_mode = pi::LocalDetectMode::kClusterCidr;
    config_.cluster_cidrs.push_back(*proxier::Cidr::Parse("10.128.0.0/14"));
    planner_ = std::make_unique<pi::IptablesPlanner>(config_);
    auto taken = state_->TakeSnapshot();
    applied_ = planner_->Plan(*taken.snapshot, node_, taken.changed, nullptr);
  }

  // Applies `updated` as the new version of slice `index` and renders the partial sync.
  pi::RenderedRestore PartialSyncAfter(size_t index, const proxier::EndpointSlice& updated,
                                       proxier::ChangedServices* changed) {
    state_->OnEndpointSliceUpdate(cluster_.slices[index], updated);
    auto taken = state_->TakeSnapshot();
    *changed = taken.changed;
    auto plan = planner_->Plan(*taken.snapshot, node_, taken.changed, applied_.get());
    pi::RenderOptions options;
    options.full = false;
    options.applied = applied_.get();
    return pi::RenderRestore(*plan, options);
  }

  // The chain names an iptables-restore input declares (":NAME ...") or writes ("-A NAME ...").
  static std::vector<std::string> ChainsIn(const std::string& input) {
    std::vector<std::string> chains;
    for (absl::string_view line : absl::StrSplit(input, '\n')) {
      if (absl::ConsumePrefix(&line, ":") || absl::ConsumePrefix(&line, "-A ") ||
          absl::ConsumePrefix(&line, "-X ")) {
        chains.emplace_back(line.substr(0, line.find(' ')));
      }
    }
    return chains;
  }

  SyntheticCluster cluster_;
  std::unique_ptr<proxier::ProxyState> state_;
  pi::IptablesPlannerConfig config_;
  proxier::NodeContext node_ = SyntheticNodeContext();
  std::unique_ptr<pi::IptablesPlanner> planner_;
  std::shared_ptr<const pi::IptablesPlan> applied_;
};

TEST_F(PartialSyncSizeTest, OneEndpointChangeWritesOnlyThatServicesChainsUnder4KB) {
  // A ClusterIP Service with one TCP port: its chains are KUBE-SVC-* and KUBE-SEP-*.
  size_t index = 0;
  while (cluster_.services[index].type != proxier::ServiceType::kClusterIP ||
         cluster_.services[index].ports.size() != 1) {
    ++index;
  }
  proxier::EndpointSlice updated = WithOneEndpointReplaced(cluster_, index);
  proxier::ChangedServices changed;
  pi::RenderedRestore rendered = PartialSyncAfter(index, updated, &changed);

  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed.begin()->name, cluster_.services[index].metadata.name);
  EXPECT_LT(rendered.input.size(), 4096u) << rendered.input;
  EXPECT_GT(rendered.chains_written, 0u);

  const std::string new_ip = updated.endpoints[0].addresses[0].ToString();
  const std::string old_ip = cluster_.slices[index].endpoints[0].addresses[0].ToString();
  EXPECT_TRUE(absl::StrContains(rendered.input, new_ip)) << rendered.input;

  // The applied plan's chains of that Service: only those may appear, plus the new SEP chain.
  const proxier::ServicePortName port_name{
      {cluster_.services[index].metadata.namespace_name, cluster_.services[index].metadata.name},
      cluster_.services[index].ports[0].name, cluster_.services[index].ports[0].protocol};
  const auto& fragment = applied_->fragments.at(port_name);
  std::vector<std::string> allowed;
  for (const auto& chain : fragment->nat_chains) allowed.emplace_back(chain.name);
  for (const std::string& chain : ChainsIn(rendered.input)) {
    EXPECT_THAT(chain, ::testing::Not(::testing::AnyOf("KUBE-SERVICES", "KUBE-NODEPORTS",
                                                       "KUBE-EXTERNAL-SERVICES", "KUBE-POSTROUTING",
                                                       "KUBE-FORWARD", "KUBE-PROXY-FIREWALL")))
        << rendered.input;
    const bool known = std::find(allowed.begin(), allowed.end(), chain) != allowed.end();
    EXPECT_TRUE(known || absl::StartsWith(chain, "KUBE-SEP-")) << chain << " in\n" << rendered.input;
  }
  // The replaced endpoint's chain is deleted, and nothing else is.
  EXPECT_EQ(rendered.chains_deleted, 1u) << rendered.input;
  EXPECT_FALSE(absl::StrContains(rendered.input, "-j DNAT --to-destination " + old_ip)) << rendered.input;
}

}  // namespace
}  // namespace kproxy::bench
