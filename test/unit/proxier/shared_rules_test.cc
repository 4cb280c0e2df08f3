#include "proxier/shared_rules.h"

#include "gtest/gtest.h"

namespace kproxy::proxier {
namespace {

TEST(SharedRulesTest, MarkIsFormattedAsUpstreamsGoPercentHash08x) {
  EXPECT_EQ(SharedRules(SharedRulesConfig{.masquerade_bit = 14}).mark(), "0x00004000");
  EXPECT_EQ(SharedRules(SharedRulesConfig{.masquerade_bit = 0}).mark(), "0x00000001");
  EXPECT_EQ(SharedRules(SharedRulesConfig{.masquerade_bit = 31}).mark(), "0x80000000");
}

TEST(SharedRulesTest, MarkMasqOrsTheMarkAndPostroutingMasqueradesAndClearsIt) {
  const SharedRules rules(SharedRulesConfig{.masquerade_bit = 14});
  EXPECT_EQ(rules.MarkMasqRules(), "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n");
  EXPECT_EQ(rules.PostroutingRules(),
            "-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN\n"
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000\n"
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" "
            "-j MASQUERADE\n");
}

TEST(SharedRulesTest, RandomFullyIsAddedToTheMasqueradeRuleOnly) {
  const SharedRules rules(
      SharedRulesConfig{.masquerade_bit = 5, .masquerade_random_fully = true});
  EXPECT_EQ(rules.PostroutingRules(),
            "-A KUBE-POSTROUTING -m mark ! --mark 0x00000020/0x00000020 -j RETURN\n"
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00000020\n"
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" "
            "-j MASQUERADE --random-fully\n");
}

TEST(SharedRulesTest, ForwardDropsInvalidOnlyWhenAskedAndCountsItWithNfacct) {
  const std::string accept =
      "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark "
      "0x00004000/0x00004000 -j ACCEPT\n"
      "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack "
      "--ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  EXPECT_EQ(SharedRules(SharedRulesConfig{}).ForwardRules(), accept);
  EXPECT_EQ(SharedRules(SharedRulesConfig{.drop_invalid_forward = true}).ForwardRules(),
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n" + accept);
  EXPECT_EQ(SharedRules(SharedRulesConfig{.drop_invalid_forward = true, .nfacct_counters = true})
                .ForwardRules(),
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name "
            "ct_state_invalid_dropped_pkts -j DROP\n" +
                accept);
}

}  // namespace
}  // namespace kproxy::proxier
