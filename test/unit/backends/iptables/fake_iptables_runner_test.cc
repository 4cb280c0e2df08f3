#include "backends/iptables/testing/fake_iptables_runner.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::iptables::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kBase[] =
    "*nat\n"
    ":KUBE-SERVICES - [0:0]\n"
    ":KUBE-SVC-A - [0:0]\n"
    ":KUBE-SEP-A - [0:0]\n"
    "-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m udp --dport 53 -j KUBE-SVC-A\n"
    "-A KUBE-SVC-A -j KUBE-SEP-A\n"
    "-A KUBE-SEP-A -p udp -m udp -j DNAT --to-destination 10.244.1.2:53\n"
    "COMMIT\n";

TEST(FakeIptablesRunnerTest, RestoreCreatesChainsAndRulesInOrder) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  EXPECT_THAT(fake.Rules(Table::kNat, "KUBE-SVC-A"), Optional(ElementsAre("-j KUBE-SEP-A")));
  EXPECT_THAT(fake.Chains(Table::kNat), ElementsAre("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING",
                                                    "KUBE-SERVICES", "KUBE-SVC-A", "KUBE-SEP-A"));
  EXPECT_EQ(fake.restore_count(), 1);
  EXPECT_EQ(fake.last_restore_input(), kBase);
}

TEST(FakeIptablesRunnerTest, DeclaringAnExistingChainFlushesItButLeavesOthers) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  ASSERT_TRUE(fake.Restore("*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j RETURN\nCOMMIT\n").ok());
  EXPECT_THAT(fake.Rules(Table::kNat, "KUBE-SVC-A"), Optional(ElementsAre("-j RETURN")));
  EXPECT_THAT(fake.Rules(Table::kNat, "KUBE-SERVICES"), Optional(ElementsAre(HasSubstr("KUBE-SVC-A"))));
}

TEST(FakeIptablesRunnerTest, BuiltinChainDeclarationDoesNotFlushIt) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore("*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n").ok());
  ASSERT_TRUE(fake.Restore("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n").ok());
  EXPECT_THAT(fake.Rules(Table::kNat, "PREROUTING"), Optional(ElementsAre("-j KUBE-SERVICES")));
}

TEST(FakeIptablesRunnerTest, JumpToUnknownChainFailsAndLeavesTableUnchanged) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  absl::Status s = fake.Restore("*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j KUBE-SEP-NOPE\nCOMMIT\n");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("line 3"));
  EXPECT_THAT(s.message(), HasSubstr("KUBE-SEP-NOPE"));
  // The flush of KUBE-SVC-A was part of the failed transaction.
  EXPECT_THAT(fake.Rules(Table::kNat, "KUBE-SVC-A"), Optional(ElementsAre("-j KUBE-SEP-A")));
}

TEST(FakeIptablesRunnerTest, EarlierCommittedTablesStayWhenALaterTableFails) {
  FakeIptablesRunner fake;
  absl::Status s = fake.Restore(
      "*filter\n:KUBE-FORWARD - [0:0]\nCOMMIT\n"
      "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(fake.Rules(Table::kFilter, "KUBE-FORWARD"), Optional(ElementsAre()));
}

TEST(FakeIptablesRunnerTest, DeletingANonEmptyChainFails) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  EXPECT_FALSE(fake.Restore("*nat\n-X KUBE-SEP-A\nCOMMIT\n").ok());
  EXPECT_TRUE(fake.ChainExists(Table::kNat, "KUBE-SEP-A").value());
}

TEST(FakeIptablesRunnerTest, DeletingAReferencedChainFails) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  absl::Status s = fake.Restore("*nat\n:KUBE-SEP-A - [0:0]\n-X KUBE-SEP-A\nCOMMIT\n");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("referenced from KUBE-SVC-A"));
}

TEST(FakeIptablesRunnerTest, FlushedUnreferencedChainCanBeDeleted) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  ASSERT_TRUE(fake.Restore("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-A - [0:0]\n"
                           "-X KUBE-SVC-A\n-X KUBE-SEP-A\nCOMMIT\n")
                  .ok());
  EXPECT_FALSE(fake.ChainExists(Table::kNat, "KUBE-SVC-A").value());
  EXPECT_FALSE(fake.ChainExists(Table::kNat, "KUBE-SEP-A").value());
}

TEST(FakeIptablesRunnerTest, InsertAndDeleteRules) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore("*filter\n:KUBE-F - [0:0]\n-A KUBE-F -j ACCEPT\n-I KUBE-F -j DROP\n"
                           "-I KUBE-F 2 -j RETURN\nCOMMIT\n")
                  .ok());
  EXPECT_THAT(fake.Rules(Table::kFilter, "KUBE-F"), Optional(ElementsAre("-j DROP", "-j RETURN", "-j ACCEPT")));
  ASSERT_TRUE(fake.Restore("*filter\n-D KUBE-F -j RETURN\nCOMMIT\n").ok());
  EXPECT_THAT(fake.Rules(Table::kFilter, "KUBE-F"), Optional(ElementsAre("-j DROP", "-j ACCEPT")));
  EXPECT_FALSE(fake.Restore("*filter\n-D KUBE-F -j RETURN\nCOMMIT\n").ok());
}

TEST(FakeIptablesRunnerTest, CountersPrefixAndQuotedCommentsAreParsed) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore("*nat\n:KUBE-SERVICES - [0:0]\n"
                           "[0:0] -A KUBE-SERVICES -m comment --comment \"ns/svc:dns cluster IP\" -j RETURN\n"
                           "COMMIT\n")
                  .ok());
  EXPECT_THAT(fake.Rules(Table::kNat, "KUBE-SERVICES"),
              Optional(ElementsAre("-m comment --comment \"ns/svc:dns cluster IP\" -j RETURN")));
}

TEST(FakeIptablesRunnerTest, MissingCommitFails) {
  FakeIptablesRunner fake;
  EXPECT_FALSE(fake.Restore("*nat\n:KUBE-SERVICES - [0:0]\n").ok());
  EXPECT_FALSE(fake.ChainExists(Table::kNat, "KUBE-SERVICES").value());
}

TEST(FakeIptablesRunnerTest, FailNextRestoreFailsOnceAndChangesNothing) {
  FakeIptablesRunner fake;
  fake.FailNextRestore(absl::UnavailableError("xtables lock"));
  EXPECT_EQ(fake.Restore(kBase).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(fake.ChainExists(Table::kNat, "KUBE-SERVICES").value());
  EXPECT_TRUE(fake.Restore(kBase).ok());
  EXPECT_EQ(fake.restore_count(), 2);
}

TEST(FakeIptablesRunnerTest, DropChainSimulatesTheCanaryDisappearing) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.EnsureChain(Table::kMangle, "KUBE-PROXY-CANARY").ok());
  EXPECT_TRUE(fake.ChainExists(Table::kMangle, "KUBE-PROXY-CANARY").value());
  fake.DropChain(Table::kMangle, "KUBE-PROXY-CANARY");
  EXPECT_FALSE(fake.ChainExists(Table::kMangle, "KUBE-PROXY-CANARY").value());
}

TEST(FakeIptablesRunnerTest, DropChainAlsoRemovesJumpsToIt) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  ASSERT_TRUE(fake.EnsureRule(Table::kNat, "PREROUTING", {"-j", "KUBE-SERVICES"}).ok());
  fake.DropChain(Table::kNat, "KUBE-SVC-A");
  EXPECT_THAT(fake.Rules(Table::kNat, "KUBE-SERVICES"), Optional(ElementsAre()));
  EXPECT_THAT(fake.Rules(Table::kNat, "PREROUTING"), Optional(ElementsAre("-j KUBE-SERVICES")));
  fake.FlushTable(Table::kNat);
  EXPECT_THAT(fake.Chains(Table::kNat), ElementsAre("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"));
  EXPECT_THAT(fake.Rules(Table::kNat, "PREROUTING"), Optional(ElementsAre()));
}

TEST(FakeIptablesRunnerTest, EnsureRuleIsIdempotentAndInsertsAtTop) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore("*filter\n:KUBE-FORWARD - [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n").ok());
  std::vector<std::string> rule = {"-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"};
  ASSERT_TRUE(fake.EnsureRule(Table::kFilter, "FORWARD", rule).ok());
  ASSERT_TRUE(fake.EnsureRule(Table::kFilter, "FORWARD", rule).ok());
  EXPECT_THAT(fake.Rules(Table::kFilter, "FORWARD"),
              Optional(ElementsAre("-m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
                                   "-j ACCEPT")));
}

TEST(FakeIptablesRunnerTest, EnsureRuleIntoMissingChainFails) {
  FakeIptablesRunner fake;
  EXPECT_FALSE(fake.EnsureRule(Table::kNat, "KUBE-NOPE", {"-j", "ACCEPT"}).ok());
  EXPECT_FALSE(fake.EnsureRule(Table::kNat, "PREROUTING", {"-j", "KUBE-SERVICES"}).ok());
}

TEST(FakeIptablesRunnerTest, SaveTableRoundTripsThroughRestore) {
  FakeIptablesRunner fake;
  ASSERT_TRUE(fake.Restore(kBase).ok());
  std::string saved = fake.SaveTable(Table::kNat).value();
  FakeIptablesRunner other;
  ASSERT_TRUE(other.Restore(saved).ok()) << saved;
  EXPECT_EQ(other.SaveTable(Table::kNat).value(), saved);
}

}  // namespace
}  // namespace kproxy::backends::iptables::testing
