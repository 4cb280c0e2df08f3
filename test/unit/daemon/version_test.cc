// --version / --version=raw and kubernetes_build_info: the version comes from VERSION, the commit
// from git, and the raw form has upstream's version.Info fields in upstream's order. (The binary's
// own output: kube_proxy_binary_test.cc.)
#include "version/version.h"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>

#include "cmd/kube-proxy/metrics.h"
#include "cmd/kube-proxy/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::version {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// KPROXY_VERSION and KUBERNETES_RELEASE_LINE from the VERSION file.
std::string VersionFileValue(const std::string& key) {
  std::ifstream in(std::string(KPROXY_SOURCE_DIR) + "/VERSION");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

// `git rev-parse HEAD` of the source tree, or "" outside git.
std::string SourceCommit() {
  const std::string out = ::testing::TempDir() + "/kproxy-version-test-head";
  const std::string cmd = std::string("git -C '") + KPROXY_SOURCE_DIR + "' rev-parse HEAD > '" + out +
                          "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream in(out);
  std::string head;
  std::getline(in, head);
  return head;
}

TEST(VersionTest, InfoCarriesTheVersionFileAndTheSourceCommit) {
  const Info& info = Get();
  const std::string version = VersionFileValue("KPROXY_VERSION");
  ASSERT_FALSE(version.empty());
  EXPECT_THAT(info.git_version, MatchesRegex("v" + version + "(-dirty)?"));
  EXPECT_EQ(info.major + "." + info.minor, version.substr(0, version.rfind('.')));
  EXPECT_EQ(info.kubernetes_release_line, VersionFileValue("KUBERNETES_RELEASE_LINE"));
  if (std::string head = SourceCommit(); !head.empty()) {
    EXPECT_EQ(info.git_commit, head);
    EXPECT_THAT(info.git_tree_state, MatchesRegex("clean|dirty"));
  }
  EXPECT_THAT(info.build_date, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  EXPECT_THAT(info.platform, MatchesRegex("linux/[a-z0-9_]+"));
}

TEST(VersionTest, SummaryNamesVersionCommitAndReleaseLine) {
  Info info{.git_version = "v1.2.3", .git_commit = "abc", .git_tree_state = "clean",
            .kubernetes_release_line = "v1.33-v1.35"};
  EXPECT_EQ(Summary(info), "kproxy v1.2.3 (commit abc, clean tree), kube-proxy of Kubernetes v1.33-v1.35");
}

TEST(VersionTest, RawIsUpstreamsGoSyntaxInfoWithQuotesEscaped) {
  Info info{.major = "0", .minor = "1", .git_version = "v0.1.0", .git_commit = "a\"b\\c",
            .git_tree_state = "clean", .build_date = "2026-01-02T03:04:05Z", .go_version = "gcc 12.2.0",
            .compiler = "gcc", .platform = "linux/amd64"};
  EXPECT_EQ(Raw(info),
            "version.Info{Major:\"0\", Minor:\"1\", EmulationMajor:\"\", EmulationMinor:\"\", "
            "MinCompatibilityMajor:\"\", MinCompatibilityMinor:\"\", GitVersion:\"v0.1.0\", "
            "GitCommit:\"a\\\"b\\\\c\", GitTreeState:\"clean\", BuildDate:\"2026-01-02T03:04:05Z\", "
            "GoVersion:\"gcc 12.2.0\", Compiler:\"gcc\", Platform:\"linux/amd64\"}");
}

TEST(VersionTest, VersionFlagTakesBoolOrRawAndRejectsOtherWords) {
  auto plain = daemon::ParseOptions({"--version"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->version);
  EXPECT_FALSE(plain->version_raw);
  auto raw = daemon::ParseOptions({"--version=raw"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_TRUE(raw->version);
  EXPECT_TRUE(raw->version_raw);
  auto off = daemon::ParseOptions({"--version=raw", "--version=false"});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->version);
  EXPECT_FALSE(off->version_raw);
  auto bad = daemon::ParseOptions({"--version=loud"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--version"));
}

TEST(VersionTest, BuildInfoMetricIsOneWithUpstreamsLabels) {
  daemon::Metrics metrics("iptables");
  const Info& info = Get();
  std::string text = metrics.SerializeText();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("\nkubernetes_build_info\\{([^}]*)\\} 1\n"))) << text;
  for (const auto& [label, value] :
       {std::pair{"major", info.major}, {"minor", info.minor}, {"git_version", info.git_version},
        {"git_commit", info.git_commit}, {"git_tree_state", info.git_tree_state},
        {"build_date", info.build_date}, {"go_version", info.go_version},
        {"compiler", info.compiler}, {"platform", info.platform}}) {
    EXPECT_THAT(m[1].str(), HasSubstr(std::string(label) + "=\"" + value + "\"")) << label;
  }
}


}  // namespace
}  // namespace kproxy::version
