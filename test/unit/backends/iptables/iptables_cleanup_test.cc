#include "backends/iptables/iptables_cleanup.h"

#include "backends/iptables/testing/fake_iptables_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::iptables {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;
using testing::FakeIptablesRunner;

// What upstream kube-proxy (iptables mode) plus kubelet leave on a node.
constexpr char kNode[] =
    "*nat\n"
    ":KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
    ":KUBE-MARK-DROP - [0:0]\n:KUBE-SVC-ABC - [0:0]\n:KUBE-SEP-DEF - [0:0]\n:KUBE-EXT-ABC - [0:0]\n"
    ":KUBE-PROXY-CANARY - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n:KUBE-FIREWALL - [0:0]\n:OTHER - [0:0]\n"
    "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
    "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
    "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
    "-A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\n"
    "-A OTHER -j KUBE-MARK-MASQ\n"
    "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-ABC\n"
    "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
    "-A KUBE-EXT-ABC -j KUBE-SVC-ABC\n"
    "-A KUBE-SVC-ABC -j KUBE-SEP-DEF\n"
    "-A KUBE-SEP-DEF -s 10.244.1.2/32 -j KUBE-MARK-MASQ\n"
    "-A KUBE-SEP-DEF -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:80\n"
    "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
    "-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000\n"
    "COMMIT\n"
    "*filter\n"
    ":KUBE-FIREWALL - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-SERVICES - [0:0]\n"
    ":KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
    ":KUBE-ROUTER-INPUT - [0:0]\n"
    "-A INPUT -j KUBE-FIREWALL\n"
    "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
    "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n"
    "-A INPUT -j KUBE-ROUTER-INPUT\n"
    "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
    "-A OUTPUT -j KUBE-FIREWALL\n"
    "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP\n"
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
    "COMMIT\n"
    "*mangle\n"
    ":KUBE-PROXY-CANARY - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n"
    "COMMIT\n";

TEST(IptablesCleanupTest, RemovesKubeProxyChainsAndJumpsButKeepsKubeletAndOthers) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kNode).ok());
  ASSERT_TRUE(CleanupIptables(fake).ok());
  EXPECT_THAT(fake.Chains(Table::kNat), ElementsAre("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING",
                                                    "KUBE-MARK-DROP", "OTHER"));
  EXPECT_THAT(fake.Rules(Table::kNat, "POSTROUTING"), Optional(ElementsAre("-s 172.17.0.0/16 -j MASQUERADE")));
  EXPECT_THAT(fake.Rules(Table::kNat, "PREROUTING"), Optional(ElementsAre()));
  EXPECT_THAT(fake.Rules(Table::kNat, "OTHER"), Optional(ElementsAre()));
  EXPECT_THAT(fake.Chains(Table::kFilter), ElementsAre("INPUT", "FORWARD", "OUTPUT", "KUBE-FIREWALL",
                                                       "KUBE-KUBELET-CANARY", "KUBE-ROUTER-INPUT"));
  EXPECT_THAT(fake.Rules(Table::kFilter, "INPUT"),
              Optional(ElementsAre("-j KUBE-FIREWALL", "-j KUBE-ROUTER-INPUT")));
  EXPECT_THAT(fake.Chains(Table::kMangle), ElementsAre("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
                                                       "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"));
  // One restore per table that had something to remove.
  EXPECT_EQ(fake.restore_count(), 1 + 3);
}

TEST(IptablesCleanupTest, IsIdempotent) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kNode).ok());
  ASSERT_TRUE(CleanupIptables(fake).ok());
  const int after_first = fake.restore_count();
  ASSERT_TRUE(CleanupIptables(fake).ok());
  EXPECT_EQ(fake.restore_count(), after_first);
}

TEST(IptablesCleanupTest, RestoreInputFlushesThenDeletesJumpsThenChains) {
  constexpr char kSave[] =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n"
      "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\nCOMMIT\n";
  EXPECT_EQ(BuildCleanupRestoreInput(Table::kNat, kSave),
            "*nat\n:KUBE-SERVICES - [0:0]\n"
            "-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            "-X KUBE-SERVICES\nCOMMIT\n");
  EXPECT_EQ(BuildCleanupRestoreInput(Table::kFilter, kSave), "");
}

TEST(IptablesCleanupTest, ReportsAFailingTableAndStillCleansTheOthers) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kNode).ok());
  fake.FailNextRestore(absl::InternalError("boom"));
  absl::Status s = CleanupIptables(fake);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("nat: boom"));
  EXPECT_TRUE(fake.ChainExists(Table::kNat, "KUBE-SERVICES").value());
  EXPECT_FALSE(fake.ChainExists(Table::kFilter, "KUBE-FORWARD").value());
}

}  // namespace
}  // namespace kproxy::backends::iptables
