#include "proxier/kube_chains.h"

#include "gtest/gtest.h"

namespace kproxy::proxier {
namespace {

TEST(KubeChainsTest, KubeProxyChainsOfBothModesAreRecognisedAndKubeletsAreNot) {
  EXPECT_TRUE(IsKubeProxyChain("nat", "KUBE-SERVICES"));
  EXPECT_TRUE(IsKubeProxyChain("nat", "KUBE-SVL-ABCDEF"));
  EXPECT_TRUE(IsKubeProxyChain("nat", "KUBE-XLB-ABCDEF"));  // old releases
  EXPECT_TRUE(IsKubeProxyChain("nat", "KUBE-FIREWALL"));    // old IPVS mode
  EXPECT_TRUE(IsKubeProxyChain("filter", "KUBE-IPVS-OUT-FILTER"));
  EXPECT_TRUE(IsKubeProxyChain("nat", "KUBE-LOAD-BALANCER"));
  EXPECT_FALSE(IsKubeProxyChain("filter", "KUBE-FIREWALL"));
  EXPECT_FALSE(IsKubeProxyChain("filter", "KUBE-KUBELET-CANARY"));
  EXPECT_FALSE(IsKubeProxyChain("mangle", "KUBE-IPTABLES-HINT"));
  EXPECT_FALSE(IsKubeProxyChain("nat", "KUBE-MARK-DROP"));
  EXPECT_FALSE(IsKubeProxyChain("filter", "KUBE-ROUTER-INPUT"));
}

TEST(KubeChainsTest, EveryFixedChainEitherModeWritesIsOneCleanupRemoves) {
  for (const char* chain :
       {kServicesChain, kPostroutingChain, kMarkMasqChain, kForwardChain, kProxyFirewallChain,
        kExternalServicesChain, kNodePortsChain, kProxyCanaryChain, kIpvsNodePortChain,
        kLoadBalancerChain, kSourceRangesFirewallChain, kIpvsFilterChain, kIpvsOutFilterChain}) {
    EXPECT_TRUE(IsKubeProxyChain("nat", chain)) << chain;
    EXPECT_TRUE(IsKubeProxyChain("filter", chain)) << chain;
  }
}

}  // namespace
}  // namespace kproxy::proxier
