#include "cmd/kube-proxy/options.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "cmd/kube-proxy/go_duration.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

TEST(GoDurationTest, ParsesGoSyntax) {
  EXPECT_EQ(*ParseGoDuration("30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseGoDuration("1m0s"), absl::Minutes(1));
  EXPECT_EQ(*ParseGoDuration("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseGoDuration("1h"), absl::Hours(1));
  EXPECT_EQ(*ParseGoDuration("2h22m"), absl::Hours(2) + absl::Minutes(22));
  EXPECT_EQ(*ParseGoDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseGoDuration("0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseGoDuration("-1s"), absl::Seconds(-1));
  EXPECT_FALSE(ParseGoDuration("30").ok());
  EXPECT_FALSE(ParseGoDuration("1d").ok());
  EXPECT_FALSE(ParseGoDuration("").ok());
  EXPECT_FALSE(ParseGoDuration("s").ok());
}

TEST(GoDurationTest, FormatsLikeGo) {
  EXPECT_EQ(FormatGoDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(30)), "30s");
  EXPECT_EQ(FormatGoDuration(absl::Minutes(1)), "1m0s");
  EXPECT_EQ(FormatGoDuration(absl::Hours(24)), "24h0m0s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(absl::Minutes(15)), "15m0s");
}

TEST(OptionsTest, DefaultsMatchUpstream) {
  auto o = ParseOptions({});
  ASSERT_TRUE(o.ok()) << o.status();
  const KubeProxyConfiguration& c = o->config;
  EXPECT_EQ(c.mode, "iptables");
  EXPECT_EQ(c.bind_address, "0.0.0.0");
  EXPECT_EQ(c.healthz_bind_address, "0.0.0.0:10256");
  EXPECT_EQ(c.metrics_bind_address, "127.0.0.1:10249");
  EXPECT_EQ(c.iptables.masquerade_bit, 14);
  EXPECT_TRUE(c.iptables.localhost_node_ports);
  EXPECT_EQ(c.iptables.sync_period, absl::Seconds(30));
  EXPECT_EQ(c.iptables.min_sync_period, absl::Seconds(1));
  EXPECT_EQ(c.oom_score_adj, -999);
  EXPECT_EQ(c.conntrack.max_per_core, 32768);
  EXPECT_EQ(c.conntrack.min, 131072);
  EXPECT_EQ(c.conntrack.tcp_established_timeout, absl::Hours(24));
  EXPECT_EQ(c.conntrack.tcp_close_wait_timeout, absl::Hours(1));
  EXPECT_EQ(c.config_sync_period, absl::Minutes(15));
  EXPECT_TRUE(ValidateConfiguration(c).ok());
}

TEST(OptionsTest, ParsesEveryFlagType) {
  auto o = ParseOptions({"--proxy-mode=ipvs", "--iptables-masquerade-bit", "12", "--masquerade-all",
                         "--iptables-localhost-nodeports=false", "--ipvs-sync-period=1m0s",
                         "--ipvs-min-sync-period", "500ms", "--kube-api-qps=7.5",
                         "--nodeport-addresses=10.0.0.0/8, 192.168.0.0/16", "--feature-gates=A=true,B=false",
                         "-v=4", "--objects=/tmp/x", "--once", "--dry-run=true", "--iptables-variant=nft",
                         "--hostname-override= Node-A "});
  ASSERT_TRUE(o.ok()) << o.status();
  const KubeProxyConfiguration& c = o->config;
  EXPECT_EQ(c.mode, "ipvs");
  EXPECT_EQ(c.iptables.masquerade_bit, 12);
  EXPECT_TRUE(c.iptables.masquerade_all);
  EXPECT_FALSE(c.iptables.localhost_node_ports);
  EXPECT_EQ(c.ipvs.sync_period, absl::Minutes(1));
  EXPECT_EQ(c.ipvs.min_sync_period, absl::Milliseconds(500));
  EXPECT_EQ(c.SyncPeriod(), absl::Minutes(1));
  EXPECT_EQ(c.MinSyncPeriod(), absl::Milliseconds(500));
  EXPECT_DOUBLE_EQ(c.client_connection.qps, 7.5);
  EXPECT_EQ(c.node_port_addresses, (std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16"}));
  EXPECT_EQ(c.feature_gates, (std::map<std::string, bool>{{"A", true}, {"B", false}}));
  EXPECT_EQ(c.logging.verbosity, 4);
  EXPECT_EQ(c.hostname_override, "node-a");
  EXPECT_EQ(o->objects, "/tmp/x");
  EXPECT_TRUE(o->once);
  EXPECT_TRUE(o->dry_run);
  EXPECT_EQ(o->iptables_variant, "nft");
}

TEST(OptionsTest, UnknownFlagIsNamed) {
  auto o = ParseOptions({"--bogus"});
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.status().message(), HasSubstr("unknown flag: --bogus"));
}

TEST(OptionsTest, BadValuesNameTheFlag) {
  auto dur = ParseOptions({"--iptables-sync-period=30"});
  ASSERT_FALSE(dur.ok());
  EXPECT_THAT(dur.status().message(), HasSubstr("--iptables-sync-period"));
  EXPECT_THAT(dur.status().message(), HasSubstr("missing unit"));
  auto num = ParseOptions({"--oom-score-adj=abc"});
  ASSERT_FALSE(num.ok());
  EXPECT_THAT(num.status().message(), HasSubstr("--oom-score-adj"));
  auto b = ParseOptions({"--masquerade-all=maybe"});
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("--masquerade-all"));
  auto missing = ParseOptions({"--proxy-mode"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("flag needs an argument: --proxy-mode"));
  EXPECT_FALSE(ParseOptions({"--hostname-override=  "}).ok());
}

TEST(OptionsTest, DeprecatedPortFlagsRewriteAddresses) {
  auto o = ParseOptions({"--healthz-port=0", "--metrics-port=9999"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config.healthz_bind_address, "");
  EXPECT_EQ(o->config.metrics_bind_address, "127.0.0.1:9999");
  EXPECT_EQ(o->deprecation_warnings.size(), 2u);
}

TEST(ValidationTest, ErrorsNameFieldAndFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  } cases[] = {
      {{"--proxy-mode=foo"}, "mode (--proxy-mode): invalid value \"foo\""},
      {{"--cluster-cidr=10.0.0.0/33"}, "clusterCIDR (--cluster-cidr)"},
      {{"--nodeport-addresses=10.0.0.0/8,nope"}, "nodePortAddresses[1] (--nodeport-addresses)"},
      {{"--ipvs-exclude-cidrs=1.2.3.4"}, "ipvs.excludeCIDRs[0]"},
      {{"--iptables-sync-period=0s"}, "iptables.syncPeriod (--iptables-sync-period): invalid value \"0s\": must be greater than 0"},
      {{"--iptables-sync-period=-5s"}, "iptables.syncPeriod"},
      {{"--iptables-min-sync-period=1m", "--iptables-sync-period=30s"}, "must be greater than or equal to iptables.minSyncPeriod"},
      {{"--iptables-masquerade-bit=32"}, "iptables.masqueradeBit (--iptables-masquerade-bit): invalid value \"32\": must be within the range [0, 31]"},
      {{"--iptables-masquerade-bit=-1"}, "iptables.masqueradeBit"},
      {{"--bind-address=1.2.3"}, "bindAddress (--bind-address)"},
      {{"--healthz-bind-address=localhost:1"}, "healthzBindAddress"},
      {{"--metrics-bind-address=1.2.3.4"}, "metricsBindAddress"},
      {{"--oom-score-adj=1001"}, "oomScoreAdj"},
      {{"--config-sync-period=0s"}, "configSyncPeriod"},
      {{"--logging-format=xml"}, "logging.format"},
      {{"--ipvs-scheduler=fast"}, "ipvs.scheduler"},
      {{"--detect-local-mode=Magic"}, "detectLocalMode"},
  };
  for (const Case& c : cases) {
    auto o = ParseOptions(c.args);
    ASSERT_TRUE(o.ok()) << c.args[0] << ": " << o.status();
    absl::Status s = ValidateConfiguration(o->config);
    EXPECT_FALSE(s.ok()) << c.args[0];
    EXPECT_THAT(s.message(), HasSubstr(c.want)) << c.args[0];
  }
  auto ok = ParseOptions({"--nodeport-addresses=primary", "--cluster-cidr=10.0.0.0/8,fd00::/48",
                          "--metrics-bind-address=", "--bind-address=fd00::1"});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ValidateConfiguration(ok->config).ok()) << ValidateConfiguration(ok->config);
}

TEST(ConfigFileTest, FileOverridesFlagsExceptHostnameAndLogging) {
  std::string path = WriteTemp("kp-config.yaml", R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
hostnameOverride: from-file
clusterCIDR: 10.244.0.0/16
iptables:
  masqueradeBit: 10
ipvs:
  scheduler: lc
conntrack:
  maxPerCore: 0
)");
  auto o = ParseOptions({"--config", path, "--proxy-mode=iptables", "--hostname-override=from-flag", "-v=3",
                         "--masquerade-all"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->config.mode, "ipvs");
  EXPECT_EQ(o->config.hostname_override, "from-flag");
  EXPECT_EQ(o->config.logging.verbosity, 3);
  EXPECT_FALSE(o->config.iptables.masquerade_all);
  EXPECT_EQ(o->config.iptables.masquerade_bit, 10);
  EXPECT_EQ(o->config.ipvs.scheduler, "lc");
  EXPECT_EQ(o->config.conntrack.max_per_core, 0);
  EXPECT_EQ(o->config.conntrack.min, 131072);  // default kept
  EXPECT_EQ(o->config.iptables.sync_period, absl::Seconds(30));
  EXPECT_THAT(o->ignored_flags, ::testing::ElementsAre("--proxy-mode", "--masquerade-all"));
}

TEST(ConfigFileTest, AcceptsJson) {
  auto c = ParseConfiguration(
      R"({"apiVersion":"kubeproxy.config.k8s.io/v1alpha1","kind":"KubeProxyConfiguration","mode":"iptables","iptables":{"syncPeriod":"10s","minSyncPeriod":"0s"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->iptables.sync_period, absl::Seconds(10));
  EXPECT_EQ(c->iptables.min_sync_period, absl::Seconds(1));  // zero is defaulted, as upstream
}

// Upstream decodes strictly, then on unknown or duplicate fields only leniently, with a warning.
TEST(ConfigFileTest, UnknownAndDuplicateFieldsAreDecodedLenientlyWithAWarningNamingThem) {
  std::vector<std::string> warnings;
  auto c = ParseConfiguration(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nbogus: 1\n"
      "mode: ipvs\niptables:\n  syncPeriodd: 1s\n  syncPeriod: 7s\n  syncPeriod: 9s\n",
      &warnings);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mode, "ipvs");
  EXPECT_EQ(c->iptables.sync_period, absl::Seconds(9));  // the last duplicate wins
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("unknown field \"bogus\""));
  EXPECT_THAT(warnings[0], HasSubstr("unknown field \"iptables.syncPeriodd\""));
  EXPECT_THAT(warnings[0], HasSubstr("duplicate field \"iptables.syncPeriod\""));
  warnings.clear();
  ASSERT_TRUE(ParseConfiguration("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n",
                                 &warnings).ok());
  EXPECT_THAT(warnings, ::testing::IsEmpty());
  // Through the command line the warning reaches the options (main logs it).
  const std::string path = ::testing::TempDir() + "/kp-lenient.yaml";
  std::ofstream(path) << "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                         "newerField: {a: 1}\n";
  auto o = ParseOptions({"--config=" + path});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->config_warnings.size(), 1u);
  EXPECT_THAT(o->config_warnings[0], HasSubstr("unknown field \"newerField\""));
}

TEST(ConfigFileTest, BadValuesStillFailNamingTheField) {
  auto bad = ParseConfiguration(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nconntrack:\n  tcpCloseWaitTimeout: soon\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("conntrack.tcpCloseWaitTimeout"));
  auto kind = ParseConfiguration("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: Pod\n");
  ASSERT_FALSE(kind.ok());
  EXPECT_THAT(kind.status().message(), HasSubstr("kind"));
  EXPECT_FALSE(ParseConfiguration("{{{").ok());
  auto missing = ParseOptions({"--config=/nonexistent/kp.yaml"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/kp.yaml"));
}

TEST(ConfigFileTest, WriteConfigRoundTrips) {
  auto o = ParseOptions({"--proxy-mode=ipvs", "--ipvs-exclude-cidrs=10.0.0.0/8", "--feature-gates=X=true",
                         "--conntrack-udp-timeout=30s", "--hostname-override=n1", "--nodeport-addresses=primary"});
  ASSERT_TRUE(o.ok());
  std::string yaml = ConfigurationToYaml(o->config);
  EXPECT_THAT(yaml, HasSubstr("kind: KubeProxyConfiguration"));
  EXPECT_THAT(yaml, HasSubstr("syncPeriod: 30s"));
  auto back = ParseConfiguration(yaml);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  EXPECT_TRUE(*back == o->config) << yaml;
  auto defaults = ParseConfiguration(ConfigurationToYaml(KubeProxyConfiguration()));
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(*defaults == KubeProxyConfiguration());
}

TEST(HelpTest, ListsEveryFlagWithDefaults) {
  std::string help = HelpText();
  for (const char* flag : {"--proxy-mode", "--config", "--cleanup", "--objects", "--once", "--dry-run",
                           "--iptables-variant", "--conntrack-max-per-core", "--healthz-port", "-v"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
  EXPECT_THAT(help, HasSubstr("(default \"iptables\")"));
  EXPECT_THAT(help, HasSubstr("(default 30s)"));
  EXPECT_THAT(help, HasSubstr("DEPRECATED"));
}

}  // namespace
}  // namespace kproxy::daemon

namespace kproxy::daemon {
namespace {

TEST(ConfigFileTest, JsonForConfigzKeepsTypes) {
  KubeProxyConfiguration c;
  c.hostname_override = "node \"a\"";
  std::string json = ConfigurationToJson(c);
  EXPECT_THAT(json, ::testing::HasSubstr("\"mode\":\"iptables\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"masqueradeBit\":14"));
  EXPECT_THAT(json, ::testing::HasSubstr("\"localhostNodePorts\":true"));
  EXPECT_THAT(json, ::testing::HasSubstr("\"syncPeriod\":\"30s\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"bindAddress\":\"0.0.0.0\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"hostnameOverride\":\"node \\\"a\\\"\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"featureGates\":{}"));
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
}

}  // namespace
}  // namespace kproxy::daemon
