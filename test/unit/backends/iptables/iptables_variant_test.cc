#include "backends/iptables/iptables_variant.h"

#include "gtest/gtest.h"

namespace kproxy::backends::iptables {
namespace {

constexpr char kEmptyNat[] =
    "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n";

constexpr char kKubeletLegacy[] =
    "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";

constexpr char kDockerRules[] =
    "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n"
    "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n";

constexpr char kOldKubeProxyLegacy[] =
    "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
    "-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n";

TEST(IptablesVariantTest, EmptyHostDefaultsToNft) {
  EXPECT_EQ(DetectVariantFromSaves("", ""), IptablesVariant::kNft);
  EXPECT_EQ(DetectVariantFromSaves(kEmptyNat, kEmptyNat), IptablesVariant::kNft);
}

TEST(IptablesVariantTest, KubeletHintChainsInLegacyWin) {
  EXPECT_EQ(DetectVariantFromSaves(kKubeletLegacy, kDockerRules), IptablesVariant::kLegacy);
}

TEST(IptablesVariantTest, KubeletHintChainsInNftWinOverLegacy) {
  EXPECT_EQ(DetectVariantFromSaves(kKubeletLegacy, kKubeletLegacy), IptablesVariant::kNft);
}

TEST(IptablesVariantTest, KubeChainsWinOverMoreRules) {
  EXPECT_EQ(DetectVariantFromSaves(kOldKubeProxyLegacy, kDockerRules), IptablesVariant::kLegacy);
}

TEST(IptablesVariantTest, MoreRulesWinWhenNoKubeChains) {
  EXPECT_EQ(DetectVariantFromSaves(kDockerRules, kEmptyNat), IptablesVariant::kLegacy);
  EXPECT_EQ(DetectVariantFromSaves(kEmptyNat, kDockerRules), IptablesVariant::kNft);
}

TEST(IptablesVariantTest, ParsesFlagValues) {
  EXPECT_EQ(ParseIptablesVariant("legacy").value(), IptablesVariant::kLegacy);
  EXPECT_EQ(ParseIptablesVariant("nft").value(), IptablesVariant::kNft);
  EXPECT_EQ(ParseIptablesVariant("auto").value(), IptablesVariant::kAuto);
  EXPECT_FALSE(ParseIptablesVariant("xtables").ok());
}

}  // namespace
}  // namespace kproxy::backends::iptables
