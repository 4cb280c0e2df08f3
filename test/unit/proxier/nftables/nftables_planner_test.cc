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

using testing::AddIngress;
using testing::AddPort;
using testing::Ip;
using testing::LocalEndpoint;
using testing::MakeCidr;
using testing::MakeEndpoint;
using testing::MakeService;
using testing::MakeServicePortName;
using testing::RichCluster;
using testing::TestCluster;
using testing::TestNode;
using testing::UpstreamTestOptions;

TEST(NftablesPlannerTest, ServicePortNameBaseMatchesUpstreamChainNames) {
  // The hashes of upstream's TestOverallNFTablesRules chain names.
  EXPECT_EQ(ServicePortNameBase(MakeServicePortName("ns1", "svc1", "p80")),
            "ULMVA6XW-ns1/svc1/tcp/p80");
  EXPECT_EQ(ServicePortNameBase(MakeServicePortName("ns2", "svc2", "p80")),
            "42NFTM6N-ns2/svc2/tcp/p80");
  EXPECT_EQ(ServicePortNameBase(MakeServicePortName("ns5", "svc5", "p80")),
            "HVFWP5L3-ns5/svc5/tcp/p80");
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

// IPv6: ip6 statements, IPv6 element texts, and session affinity split into address and port maps
// (nft 1.0.6 aborts on an ip6 update with an address . port value); an ipMode: Proxy ingress gets
// nothing. testdata/local_affinity_ipv6.nft also loads with `nft -f`.
TEST(NftablesPlannerTest, RendersIpv6LocalPolicyWithAffinityAsGolden) {
  TestCluster cluster(IpFamily::kIPv6);
  cluster.AddService(MakeService("ns1", "svc1", [](Service& s) {
    s.type = ServiceType::kLoadBalancer;
    s.external_traffic_policy = TrafficPolicy::kLocal;
    s.cluster_ips = {Ip("fd00:172:30::41")};
    s.external_ips = {Ip("2001:db8:99::11")};
    AddPort(s, "p80", Protocol::kTCP, 80, 3001);
    AddIngress(s, "2001:db8:1::4");
    AddIngress(s, "2001:db8:1::5", "Proxy");
    s.load_balancer_source_ranges = {MakeCidr("2001:db8:2::/64")};
    s.session_affinity = SessionAffinity::kClientIP;
  }));
  cluster.SetEndpoints(MakeServicePortName("ns1", "svc1", "p80"),
                       {MakeEndpoint("fd00:10:180::1", 80), LocalEndpoint("fd00:10:180::2:1", 80)});
  NftablesPlannerOptions options;
  options.local_detect_mode = LocalDetectMode::kClusterCidr;
  options.cluster_cidrs = {MakeCidr("fd00:10::/64")};
  options.node_port_addresses = {Ip("2001:db8::1")};
  options.service_cidrs = {MakeCidr("fd00:172:30::/112")};
  const std::string rendered =
      RenderNftScript(PlanNftables(cluster.Snapshot(), TestNode(IpFamily::kIPv6), options));
  const std::string golden = ReadTestdata("local_affinity_ipv6.nft");
  ASSERT_FALSE(golden.empty());
  EXPECT_EQ(rendered, golden) << "rendered:\n" << rendered;
}

TEST(NftablesPlannerTest, SameInputSameBytes) {
  const ProxySnapshot snapshot = RichCluster().Snapshot();
  EXPECT_EQ(RenderNftScript(PlanNftables(snapshot, TestNode(), UpstreamTestOptions())),
            RenderNftScript(PlanNftables(snapshot, TestNode(), UpstreamTestOptions())));
}

}  // namespace
}  // namespace kproxy::proxier::nftables
