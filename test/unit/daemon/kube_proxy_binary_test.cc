// The kube-proxy binary's command-line behaviour: help, flag errors, --write-config-to, --dry-run.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "cmd/kube-proxy/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifdef KPROXY_BINARY
namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Result RunBinary(const std::string& args) {
  std::string cmd = std::string("cd '") + KPROXY_SOURCE_DIR + "' && '" + KPROXY_BINARY + "' " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(KubeProxyBinaryTest, HelpListsFlagsAndExitsZero) {
  Result r = RunBinary("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--proxy-mode"));
  EXPECT_THAT(r.output, HasSubstr("--objects"));
  EXPECT_EQ(RunBinary("--version").exit_code, 0);
}

TEST(KubeProxyBinaryTest, UnknownFlagFails) {
  Result r = RunBinary("--bogus");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("unknown flag: --bogus"));
}

TEST(KubeProxyBinaryTest, BadModeFailsNamingTheFlag) {
  Result r = RunBinary("--proxy-mode=foo");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--proxy-mode"));
  EXPECT_THAT(r.output, HasSubstr("\"foo\""));
  Result v = RunBinary("--iptables-variant=magic --dry-run");
  EXPECT_NE(v.exit_code, 0);
  EXPECT_THAT(v.output, HasSubstr("--iptables-variant"));
}

TEST(KubeProxyBinaryTest, UnknownConfigFieldFailsNamingIt) {
  std::string path = ::testing::TempDir() + "/kp-bad-config.yaml";
  std::ofstream(path) << "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCpu: 1\n";
  Result r = RunBinary("--config=" + path);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("conntrack.maxPerCpu"));
}

TEST(KubeProxyBinaryTest, WriteConfigToWritesTheEffectiveConfig) {
  std::string path = ::testing::TempDir() + "/kp-written.yaml";
  Result r = RunBinary("--proxy-mode=ipvs --ipvs-scheduler=lc --write-config-to=" + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = ParseConfiguration(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mode, "ipvs");
  EXPECT_EQ(c->ipvs.scheduler, "lc");
  Result again = RunBinary("--config=" + path + " --objects=manifests/examples/ --hostname-override=node-a --dry-run");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("ipvs mode"));
}

TEST(KubeProxyBinaryTest, DryRunOnTheExamplesExplainsPassThrough) {
  Result r = RunBinary("--objects=manifests/examples/ --dry-run --hostname-override=node-a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("pass-through"));
  EXPECT_THAT(r.output, HasSubstr("YES (annotation kubernetes.io/elb.pass-through"));
  EXPECT_THAT(r.output, HasSubstr("Node node-a"));
}

TEST(KubeProxyBinaryTest, NftablesDryRunExplainsPassThroughAndPrintsAScriptWithoutTheLbIp) {
  Result r = RunBinary("--proxy-mode=nftables --objects=manifests/examples/ --dry-run --hostname-override=node-a");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(nftables mode)"));
  EXPECT_THAT(r.output, HasSubstr("YES (annotation kubernetes.io/elb.pass-through"));
  const size_t script = r.output.find("=== what a full sync would write (nftables mode");
  ASSERT_NE(script, std::string::npos) << r.output;
  EXPECT_THAT(r.output.substr(script), HasSubstr("table ip kube-proxy {"));
  EXPECT_THAT(r.output.substr(script), HasSubstr("10.96.128.10 . tcp . 80"));
  EXPECT_THAT(r.output.substr(script), Not(HasSubstr("203.0.113.10")));  // pass-through: no entry
}

TEST(KubeProxyBinaryTest, MissingObjectsPathFailsClearly) {
  Result r = RunBinary("--objects=/nonexistent/objects --dry-run --hostname-override=node-a");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("/nonexistent/objects"));
}

}  // namespace
}  // namespace kproxy::daemon
#endif  // KPROXY_BINARY
