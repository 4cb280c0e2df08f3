#include "backends/iptables/iptables_restore_runner.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "backends/iptables/testing/fake_nft_batch_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::iptables {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Puts stand-in iptables tools on PATH that record their argv and stdin, so the runner's command
// lines and error handling are checked without root or a kernel.
class IptablesRestoreRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kproxy-fake-iptables-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    old_path_ = getenv("PATH") ? getenv("PATH") : "";
    setenv("PATH", (dir_ + ":" + old_path_).c_str(), 1);
    // These tests are about the tools; the direct writer would talk to this host's nf_tables.
    setenv("KPROXY_IPTABLES_NFT_DIRECT", "0", 1);
  }
  void TearDown() override {
    unsetenv("KPROXY_IPTABLES_NFT_DIRECT");
    setenv("PATH", old_path_.c_str(), 1);
    std::string rm = "rm -rf " + dir_;
    ASSERT_EQ(system(rm.c_str()), 0);
  }
  // A tool that logs "argv" to <name>.args, stdin to <name>.stdin, prints `out`, exits `code`.
  void Tool(const std::string& name, int code = 0, const std::string& out = "", const std::string& err = "") {
    std::string path = dir_ + "/" + name;
    std::ofstream f(path);
    f << "#!/bin/sh\n"
      << "echo \"$@\" >> '" << path << ".args'\n"
      << "cat > '" << path << ".stdin'\n"
      << "printf '%s' '" << out << "'\n"
      << "printf '%s' '" << err << "' >&2\n"
      << "exit " << code << "\n";
    f.close();
    chmod(path.c_str(), 0755);
  }
  // `iptables-nft --version` answers as iptables-nft `nft_version` does.
  void AllTools(const std::string& prefix, const std::string& nft_version = "1.8.9") {
    const bool nft = prefix.size() > 4 && prefix.substr(prefix.size() - 4) == "-nft";
    const std::string version =
        nft ? prefix.substr(0, prefix.find('-')) + " v" + nft_version + " (nf_tables)" : "";
    for (const char* suffix : {"", "-restore", "-save"})
      Tool(prefix + suffix, 0, *suffix ? "" : version);
  }
  std::string Read(const std::string& file) {
    std::ifstream f(dir_ + "/" + file);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  std::string dir_;
  std::string old_path_;
};

TEST_F(IptablesRestoreRunnerTest, RestoreFeedsStdinWithNoflushCountersAndTheLock) {
  AllTools("iptables-legacy");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kLegacy);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Restore("*nat\nCOMMIT\n").ok());
  EXPECT_EQ(Read("iptables-legacy-restore.args"), "--noflush --counters -w 5 -W 100000\n");
  EXPECT_EQ(Read("iptables-legacy-restore.stdin"), "*nat\nCOMMIT\n");
}

TEST_F(IptablesRestoreRunnerTest, Ipv6NftUsesIp6tablesNftWithoutTheDeprecatedWaitInterval) {
  AllTools("ip6tables-nft");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv6, IptablesVariant::kNft);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Restore("*filter\nCOMMIT\n").ok());
  EXPECT_EQ(Read("ip6tables-nft-restore.args"), "--noflush --counters -w 5\n");
}

constexpr char kPartialSync[] =
    "*nat\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-B - [0:0]\n"
    "-A KUBE-SVC-A -m comment --comment \"ns/a:p -> 10.0.0.2:80\" -j KUBE-SEP-B\n"
    "-A KUBE-SEP-B -m comment --comment ns/a:p -m tcp -p tcp -j DNAT --to-destination 10.0.0.2:80\n"
    "COMMIT\n";

TEST_F(IptablesRestoreRunnerTest, NftRestoreGoesStraightToNfTablesWithoutTheTool) {
  AllTools("iptables-nft");
  auto sink = std::make_unique<testing::FakeNftBatchSink>();
  testing::FakeNftBatchSink* fake = sink.get();
  fake->CreateTable("nat");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft, std::move(sink));
  ASSERT_TRUE(runner.ok()) << runner.status();
  // Split in the middle of a line, as the renderer's pieces may be.
  const absl::string_view pieces[] = {absl::string_view(kPartialSync).substr(0, 60),
                                      absl::string_view(kPartialSync).substr(60)};
  ASSERT_TRUE((*runner)->RestoreFromPieces(pieces).ok());
  EXPECT_EQ(fake->committed_count(), 1);
  EXPECT_EQ(fake->Chains("nat"), (std::map<std::string, size_t>{{"KUBE-SEP-B", 1}, {"KUBE-SVC-A", 1}}));
  EXPECT_EQ(Read("iptables-nft-restore.args"), "");  // the tool never ran
}

TEST_F(IptablesRestoreRunnerTest, NftRestoreFallsBackToTheToolForUnsupportedInputOrAMissingTable) {
  AllTools("iptables-nft");
  auto sink = std::make_unique<testing::FakeNftBatchSink>();
  testing::FakeNftBatchSink* fake = sink.get();
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft, std::move(sink));
  ASSERT_TRUE(runner.ok());
  std::vector<std::string> fallbacks;
  (*runner)->set_fallback_observer(
      [&](absl::string_view reason) { fallbacks.emplace_back(reason); });
  // No nat table yet: iptables-nft-restore creates it.
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  EXPECT_EQ(Read("iptables-nft-restore.stdin"), kPartialSync);
  fake->CreateTable("nat");
  const std::string unsupported = "*nat\n-A KUBE-SVC-A -m multiport --dports 80,443 -j KUBE-SEP-B\nCOMMIT\n";
  ASSERT_TRUE((*runner)->Restore(unsupported).ok());
  EXPECT_EQ(Read("iptables-nft-restore.stdin"), unsupported);
  EXPECT_EQ(fake->apply_count(), 2);
  EXPECT_EQ(fake->committed_count(), 0);
  EXPECT_THAT(fallbacks, ElementsAre("missing_table", "unsupported_input"));
  // A restore the writer takes is no fallback.
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  EXPECT_EQ(fake->committed_count(), 1);
  EXPECT_EQ(fallbacks.size(), 2u);
}

TEST_F(IptablesRestoreRunnerTest,
       UnverifiedIptablesNftVersionRestoresWithTheToolAndCountsEachRestore) {
  AllTools("iptables-nft", "1.8.10");
  auto sink = std::make_unique<testing::FakeNftBatchSink>();
  testing::FakeNftBatchSink* fake = sink.get();
  fake->CreateTable("nat");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft,
                                              std::move(sink));
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<std::string> fallbacks;
  (*runner)->set_fallback_observer(
      [&](absl::string_view reason) { fallbacks.emplace_back(reason); });
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  EXPECT_EQ(Read("iptables-nft.args"), "--version\n");
  EXPECT_EQ(Read("iptables-nft-restore.stdin"), kPartialSync);
  EXPECT_THAT(fallbacks, ElementsAre("unsupported_version", "unsupported_version"));
}

TEST_F(IptablesRestoreRunnerTest, UnreadableIptablesNftVersionAlsoKeepsTheDirectWriterOff) {
  AllTools("iptables-nft", "");
  Tool("iptables-nft", 2, "", "iptables-nft: unknown option --version");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft,
                                              std::make_unique<testing::FakeNftBatchSink>());
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<std::string> fallbacks;
  (*runner)->set_fallback_observer(
      [&](absl::string_view reason) { fallbacks.emplace_back(reason); });
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  EXPECT_EQ(Read("iptables-nft-restore.stdin"), kPartialSync);
  EXPECT_THAT(fallbacks, ElementsAre("unsupported_version"));
}

TEST_F(IptablesRestoreRunnerTest, NftKernelErrorIsTheRestoreErrorWithoutFallback) {
  AllTools("iptables-nft");
  auto sink = std::make_unique<testing::FakeNftBatchSink>();
  testing::FakeNftBatchSink* fake = sink.get();
  fake->CreateTable("nat");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft, std::move(sink));
  ASSERT_TRUE(runner.ok());
  absl::Status s = (*runner)->Restore("*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j KUBE-SEP-MISSING\nCOMMIT\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("direct nf_tables restore (IPv4) failed"));
  EXPECT_THAT(s.message(), HasSubstr("input line 3"));
  EXPECT_TRUE(fake->Chains("nat").empty());  // atomic: KUBE-SVC-A was not created either
  EXPECT_EQ(Read("iptables-nft-restore.args"), "");
}

TEST_F(IptablesRestoreRunnerTest, LegacyNeverUsesTheDirectWriter) {
  AllTools("iptables-legacy");
  auto sink = std::make_unique<testing::FakeNftBatchSink>();
  testing::FakeNftBatchSink* fake = sink.get();
  fake->CreateTable("nat");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kLegacy, nullptr);
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  EXPECT_EQ(fake->apply_count(), 0);
  EXPECT_EQ(Read("iptables-legacy-restore.stdin"), kPartialSync);
}

TEST_F(IptablesRestoreRunnerTest, EnvironmentSwitchDisablesTheDirectWriter) {
  // SetUp sets KPROXY_IPTABLES_NFT_DIRECT=0: the plain Create must use the tool even with a table
  // on this host.
  AllTools("iptables-nft");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft);
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Restore(kPartialSync).ok());
  EXPECT_EQ(Read("iptables-nft-restore.stdin"), kPartialSync);
}

TEST_F(IptablesRestoreRunnerTest, MissingToolsFailCreate) {
  Tool("iptables-nft-restore");
  setenv("PATH", dir_.c_str(), 1);  // hide the host's real tools
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft);
  EXPECT_EQ(runner.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(IptablesRestoreRunnerTest, FailedRestoreQuotesTheBlamedInputLine) {
  AllTools("iptables-nft");
  Tool("iptables-nft-restore", 2, "", "iptables-nft-restore v1.8.9 (nf_tables): Chain KUBE-X does not exist\n"
                                      "Error occurred at line: 2\n");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft);
  ASSERT_TRUE(runner.ok());
  absl::Status s = (*runner)->Restore("*nat\n-A PREROUTING -j KUBE-X\nCOMMIT\n");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("input line 2 (-A PREROUTING -j KUBE-X)"));
  EXPECT_THAT(s.message(), HasSubstr("Chain KUBE-X does not exist"));
  EXPECT_THAT(s.message(), HasSubstr("exit status 2"));
}

TEST_F(IptablesRestoreRunnerTest, ListChainsParsesSaveOutput) {
  AllTools("iptables-nft");
  Tool("iptables-nft-save", 0, "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\nCOMMIT\n");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft);
  ASSERT_TRUE(runner.ok());
  auto chains = (*runner)->ListChains(Table::kNat);
  ASSERT_TRUE(chains.ok()) << chains.status();
  EXPECT_EQ(*chains, (absl::flat_hash_set<std::string>{"PREROUTING", "KUBE-SERVICES"}));
  EXPECT_EQ(Read("iptables-nft-save.args"), "-t nat\n");
}

TEST_F(IptablesRestoreRunnerTest, ChainExistsMapsExitStatusOne) {
  AllTools("iptables-nft");
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft);
  ASSERT_TRUE(runner.ok());
  EXPECT_TRUE((*runner)->ChainExists(Table::kMangle, "KUBE-PROXY-CANARY").value());
  EXPECT_EQ(Read("iptables-nft.args"), "-t mangle -w 5 -S KUBE-PROXY-CANARY\n");
  Tool("iptables-nft", 1);
  EXPECT_FALSE((*runner)->ChainExists(Table::kMangle, "KUBE-PROXY-CANARY").value());
  Tool("iptables-nft", 4, "", "Another app is currently holding the xtables lock");
  EXPECT_FALSE((*runner)->ChainExists(Table::kMangle, "KUBE-PROXY-CANARY").ok());
}

TEST_F(IptablesRestoreRunnerTest, EnsureRuleChecksBeforeInserting) {
  AllTools("iptables-nft");
  Tool("iptables-nft", 1);  // -C: not there -> -I (which "fails" with 1 too here: reported)
  auto runner = IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, IptablesVariant::kNft);
  ASSERT_TRUE(runner.ok());
  absl::Status s = (*runner)->EnsureRule(Table::kNat, "PREROUTING", {"-m", "comment", "--comment", "a b", "-j", "X"});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Read("iptables-nft.args"),
            "-t nat -w 5 -C PREROUTING -m comment --comment a b -j X\n"
            "-t nat -w 5 -I PREROUTING -m comment --comment a b -j X\n");
}

TEST_F(IptablesRestoreRunnerTest, FindsTheFailedLineInBothToolsMessages) {
  EXPECT_EQ(IptablesRestoreRunner::FailedLineFromStderr(
                "iptables-restore v1.8.9 (legacy): Couldn't load target `KUBE-NOPE':No such file or directory\n\n"
                "Error occurred at line: 3\nTry `iptables-restore -h' for more information.\n"),
            3);
  EXPECT_EQ(IptablesRestoreRunner::FailedLineFromStderr("iptables-restore: line 12 failed\n"), 12);
  EXPECT_EQ(IptablesRestoreRunner::FailedLineFromStderr("Another app is currently holding the xtables lock."), 0);
}

}  // namespace
}  // namespace kproxy::backends::iptables
