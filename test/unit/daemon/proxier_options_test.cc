#include "cmd/kube-proxy/proxier_options.h"

#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

TEST(ProxierOptionsTest, ClusterCidrsOfBothFamilies) {
  std::vector<proxier::Cidr> cidrs = ClusterCidrs("10.244.0.0/16, fd00:10:244::/56");
  ASSERT_EQ(cidrs.size(), 2u);
  EXPECT_EQ(cidrs[0].family(), proxier::IpFamily::kIPv4);
  EXPECT_EQ(cidrs[1].family(), proxier::IpFamily::kIPv6);
}

TEST(ProxierOptionsTest, IpvsPlannerGetsTheSecondaryFamilysClusterCidrToo) {
  KubeProxyConfiguration config;
  config.cluster_cidr = "10.244.0.0/16,fd00:10:244::/56";
  config.ipvs.scheduler = "";
  config.ipvs.exclude_cidrs = {"192.0.2.0/24"};
  backends::ipvs::IpvsProxierOptions opts = IpvsProxierOptionsFrom(config);
  ASSERT_EQ(opts.planner.cluster_cidrs.size(), 2u);
  EXPECT_EQ(opts.planner.cluster_cidrs[1].ToString(), "fd00:10:244::/56");
  EXPECT_EQ(opts.planner.scheduler, "rr");
  ASSERT_EQ(opts.exclude_cidrs.size(), 1u);
}

// IPVS mode uses the same --detect-local-mode and --random-fully decision as iptables mode.
TEST(ProxierOptionsTest, IpvsPlannerFollowsDetectLocalModeAndRandomFully) {
  KubeProxyConfiguration config;
  config.detect_local_mode = "InterfaceNamePrefix";
  config.detect_local.interface_name_prefix = "veth";
  backends::ipvs::IpvsProxierOptions opts = IpvsProxierOptionsFrom(config);
  EXPECT_EQ(opts.planner.local_detect_mode, proxier::LocalDetectMode::kInterfaceNamePrefix);
  EXPECT_EQ(opts.planner.interface_name_prefix, "veth");
  EXPECT_EQ(opts.planner.masquerade_random_fully, MasqueradeRandomFully());
  config.detect_local_mode = "BridgeInterface";
  config.detect_local.bridge_interface = "cbr0";
  opts = IpvsProxierOptionsFrom(config);
  EXPECT_EQ(opts.planner.local_detect_mode, proxier::LocalDetectMode::kBridgeInterface);
  EXPECT_EQ(opts.planner.bridge_interface, "cbr0");
  EXPECT_EQ(LocalDetectModeFrom("NodeCIDR"), proxier::LocalDetectMode::kNodeCidr);
  EXPECT_EQ(LocalDetectModeFrom("ClusterCIDR"), proxier::LocalDetectMode::kClusterCidr);
  EXPECT_EQ(LocalDetectModeFrom(""), proxier::LocalDetectMode::kNone);
}

}  // namespace
}  // namespace kproxy::daemon
