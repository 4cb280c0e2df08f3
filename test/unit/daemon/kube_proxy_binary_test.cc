// The kube-proxy binary's command-line behaviour: help, flag errors, --write-config-to, --dry-run.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cmd/kube-proxy/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "version/version.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Output is stdout and stderr, or stdout alone without `with_stderr`.
Result RunBinary(const std::string& args, bool with_stderr = true) {
  std::string cmd = std::string("cd '") + KPROXY_SOURCE_DIR + "' && '" + KPROXY_BINARY + "' " + args +
                    (with_stderr ? " 2>&1" : " 2>/dev/null");
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

TEST(KubeProxyBinaryTest, SplitStreamWritesInfoLinesToStdout) {
  const std::string path = ::testing::TempDir() + "/kp-split.yaml";
  const Result split = RunBinary(
      "--write-config-to=" + path + " --log-text-split-stream --feature-gates=LoggingAlphaOptions=true", false);
  EXPECT_THAT(split.output, HasSubstr("Wrote configuration to"));
  EXPECT_THAT(RunBinary("--write-config-to=" + path, false).output, Not(HasSubstr("Wrote configuration to")));
  Result refused = RunBinary("--log-text-split-stream");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("LoggingAlphaOptions"));
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

TEST(KubeProxyBinaryTest, UnknownConfigFieldIsAWarningNamingIt) {
  std::string path = ::testing::TempDir() + "/kp-bad-config.yaml";
  std::ofstream(path) << "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCpu: 1\n";
  Result r = RunBinary("--config=" + path + " --write-config-to=" + ::testing::TempDir() + "/kp-lenient-out.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("W"));
  EXPECT_THAT(r.output, HasSubstr("unknown field \"conntrack.maxPerCpu\""));
  std::ofstream(path) << "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  maxPerCore: many\n";
  Result bad = RunBinary("--config=" + path);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.output, HasSubstr("conntrack.maxPerCore"));
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

// A node whose addresses --nodeport-addresses does not match, and a LoadBalancer Service whose only
// source range is not a CIDR (issue 15): the dry run shows no NodePort entry point, the LB IP
// behind a firewall chain that accepts nobody, and the warning naming the Service.
TEST(KubeProxyBinaryTest, DryRunClosesUnmatchedNodePortsAndReportsInvalidSourceRanges) {
  const std::string dir = ::testing::TempDir() + "/kproxy-binary-test-objects";
  ASSERT_EQ(std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str()), 0);
  std::ofstream(dir + "/objects.json")
      << R"({"apiVersion":"v1","kind":"List","items":[)"
         R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a"},)"
         R"("status":{"addresses":[{"type":"InternalIP","address":"192.0.2.129"}]}},)"
         R"({"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default","name":"lbbad","uid":"u1"},)"
         R"("spec":{"type":"LoadBalancer","clusterIP":"10.96.0.16","clusterIPs":["10.96.0.16"],)"
         R"("ipFamilies":["IPv4"],"externalTrafficPolicy":"Cluster","loadBalancerSourceRanges":["not-a-cidr"],)"
         R"("ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}]},)"
         R"("status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.51"}]}}},)"
         R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"default",)"
         R"("name":"lbbad-1","labels":{"kubernetes.io/service-name":"lbbad"}},"addressType":"IPv4",)"
         R"("endpoints":[{"addresses":["10.244.1.10"],"conditions":{"ready":true}}],)"
         R"("ports":[{"name":"http","protocol":"TCP","port":8080}]}]})";
  // TEST-NET-3 is on no interface of a test machine.
  Result r = RunBinary("--proxy-mode=iptables --objects=" + dir +
                       " --dry-run --hostname-override=node-a --nodeport-addresses=203.0.113.0/24");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("-A KUBE-NODEPORTS "));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("-j KUBE-NODEPORTS")));
  EXPECT_THAT(r.output, HasSubstr("nodePortAddresses [203.0.113.0/24] match no IPv4 address of this node"));
  EXPECT_THAT(r.output, HasSubstr("Service default/lbbad: loadBalancerSourceRanges entries that are not CIDRs "
                                  "are ignored: \"not-a-cidr\""));
  EXPECT_THAT(r.output, HasSubstr("admit no source (fail closed)"));
  EXPECT_THAT(r.output, HasSubstr("-d 198.51.100.51 --dport 80 -j DROP"));
  std::system(("rm -rf '" + dir + "'").c_str());
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

TEST(KubeProxyBinaryTest, VersionPrintsSummaryAndRawPrintsUpstreamsStruct) {
  Result plain = RunBinary("--version");
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_EQ(plain.output, version::Summary(version::Get()) + "\n");
  Result raw = RunBinary("--version=raw");
  EXPECT_EQ(raw.exit_code, 0);
  EXPECT_EQ(raw.output, version::Raw(version::Get()) + "\n");
}

}  // namespace
}  // namespace kproxy::daemon
