#include "proxier/nftables/nftables_planner.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/nftables/nft_script_renderer.h"
#include "test/unit/proxier/nftables/testing_cluster.h"

namespace kproxy::proxier::nftables {
namespace {

using testing::MakeServicePortName;
using testing::RichCluster;
using testing::TestNode;
using testing::UpstreamTestOptions;

TEST(NftablesPlannerTest, ServicePortNameBaseMatchesUpstreamChainNames) {
  // The hashes of upstream's TestOverallNFTablesRules chain names.
  EXPECT_EQ(ServicePortNameBase(MakeServicePortName("ns1", "svc1", "p80")), "ULMVA6XW-ns1/svc1/tcp/p80");
  EXPECT_EQ(ServicePortNameBase(MakeServicePortName("ns2", "svc2", "p80")), "42NFTM6N-ns2/svc2/tcp/p80");
  EXPECT_EQ(ServicePortNameBase(MakeServicePortName("ns5", "svc5", "p80")), "HVFWP5L3-ns5/svc5/tcp/p80");
}

TEST(NftablesPlannerTest, DumpRich) {
  NftRuleset ruleset = PlanNftables(RichCluster().Snapshot(), TestNode(), UpstreamTestOptions());
  std::ofstream("/tmp/nftplan_t/rich.nft") << RenderNftScript(ruleset);
}

}  // namespace
}  // namespace kproxy::proxier::nftables
