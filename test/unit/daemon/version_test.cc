// kube-proxy --version / --version=raw and kubernetes_build_info: the version comes from VERSION,
// the commit from git, and the raw form has upstream's version.Info fields in upstream's order.
#include "version/version.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
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

std::string Command(const std::string& cmd, int* exit_code = nullptr) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(VersionTest, InfoCarriesTheVersionFileAndTheSourceCommit) {
  const Info& info = Get();
  const std::string version = VersionFileValue("KPROXY_VERSION");
  ASSERT_FALSE(version.empty());
  EXPECT_THAT(info.git_version, MatchesRegex("v" + version + "(-dirty)?"));
  EXPECT_EQ(info.major + "." + info.minor, version.substr(0, version.rfind('.')));
  EXPECT_EQ(info.kubernetes_release_line, VersionFileValue("KUBERNETES_RELEASE_LINE"));
  int rc = 0;
  std::string head = Command(std::string("git -C '") + KPROXY_SOURCE_DIR + "' rev-parse HEAD", &rc);
  if (rc == 0) {
    EXPECT_EQ(info.git_commit + "\n", head);
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

#ifdef KPROXY_BINARY
TEST(VersionTest, BinaryPrintsSummaryAndRaw) {
  int rc = -1;
  std::string out = Command(std::string("'") + KPROXY_BINARY + "' --version", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, Summary(Get()) + "\n");
  EXPECT_THAT(out, HasSubstr("kproxy v" + VersionFileValue("KPROXY_VERSION")));
  out = Command(std::string("'") + KPROXY_BINARY + "' --version=raw", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, Raw(Get()) + "\n");
}
#endif

}  // namespace
}  // namespace kproxy::version
