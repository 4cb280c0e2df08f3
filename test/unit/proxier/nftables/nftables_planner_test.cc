#include "proxier/nftables/nftables_planner.h"

#include <fstream>
#include <sstream>
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

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(KPROXY_NFT_TESTDATA_DIR) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The whole rendered table for upstream's TestOverallNFTablesRules Services plus pass-through,
// ipMode: Proxy, a UDP internalTrafficPolicy Local Service and terminating endpoints, read line by
// line against upstream's nftables mode (testdata/rich_ipv4.nft also loads with `nft -f`).
TEST(NftablesPlannerTest, RendersTheRichMixAsGolden) {
  const std::string rendered =
      RenderNftScript(PlanNftables(RichCluster().Snapshot(), TestNode(), UpstreamTestOptions()));
  const std::string golden = ReadTestdata("rich_ipv4.nft");
  ASSERT_FALSE(golden.empty());
  EXPECT_EQ(rendered, golden) << "rendered:\n" << rendered;
}

}  // namespace
}  // namespace kproxy::proxier::nftables
