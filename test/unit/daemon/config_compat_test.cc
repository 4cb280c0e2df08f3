// Config file compatibility: a KubeProxyConfiguration as kubeadm and upstream write it (every
// v1alpha1 field, nulls included) must load without a lenient-decoding warning.
#include <string>

#include "cmd/kube-proxy/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;

// Every v1alpha1 field (k8s 1.31 KubeProxyConfiguration), with kubeadm's nulls and the logging
// options component-base writes.
constexpr char kFullConfig[] = R"(apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
featureGates:
  AllAlpha: false
  NFTablesProxyMode: true
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
logging:
  flushFrequency: 0
  format: text
  options:
    json:
      infoBufferSize: "0"
      splitStream: false
    text:
      infoBufferSize: "0"
      splitStream: false
  verbosity: 0
metricsBindAddress: ""
mode: ""
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
)";

TEST(ConfigCompatTest, FullUpstreamConfigurationWithNullsLoadsWithDefaults) {
  std::vector<std::string> warnings;
  auto c = ParseConfiguration(kFullConfig, &warnings);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(warnings, ::testing::IsEmpty()) << "every upstream field must be known (strict decoding)";
  const KubeProxyConfiguration d;                                  // upstream's defaults
  EXPECT_EQ(c->conntrack.max_per_core, d.conntrack.max_per_core);  // maxPerCore: null
  EXPECT_EQ(c->conntrack.min, d.conntrack.min);
  EXPECT_EQ(c->conntrack.tcp_established_timeout, d.conntrack.tcp_established_timeout);
  EXPECT_EQ(c->oom_score_adj, -999);
  EXPECT_TRUE(c->node_port_addresses.empty());
  EXPECT_TRUE(c->iptables.localhost_node_ports);
  EXPECT_EQ(c->iptables.masquerade_bit, 14);
  EXPECT_EQ(c->iptables.sync_period, absl::Seconds(30));
  EXPECT_EQ(c->mode, "iptables");
  EXPECT_EQ(c->healthz_bind_address, "0.0.0.0:10256");
  EXPECT_EQ(c->metrics_bind_address, "127.0.0.1:10249");
  EXPECT_EQ(c->detect_local_mode, "ClusterCIDR");
  EXPECT_EQ(c->client_connection.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
  EXPECT_EQ(c->cluster_cidr, "10.244.0.0/16,fd00:10:244::/56");
  EXPECT_EQ(c->feature_gates.at("NFTablesProxyMode"), true);
  EXPECT_EQ(c->logging.flush_frequency, absl::Seconds(5));  // 0 means the default
  EXPECT_TRUE(ValidateConfiguration(*c).ok()) << ValidateConfiguration(*c);
}

TEST(ConfigCompatTest, LoggingFlushFrequencyAcceptsGoDurationsAndNanoseconds) {
  std::string text = std::string(kFullConfig);
  text.replace(text.find("flushFrequency: 0"), 17, "flushFrequency: 10s");
  auto c = ParseConfiguration(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->logging.flush_frequency, absl::Seconds(10));
  text.replace(text.find("flushFrequency: 10s"), 19, "flushFrequency: 2000000000");
  c = ParseConfiguration(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->logging.flush_frequency, absl::Seconds(2));
}

// A newer kubeadm's ConfigMap (fields this version does not know) must not stop the proxy: as
// upstream, strict decoding fails, lenient decoding succeeds, and a warning names the fields.
TEST(ConfigCompatTest, UnknownFieldsAreIgnoredWithAWarning) {
  std::string text = std::string(kFullConfig) + "notAField: 1\n";
  text.replace(text.find("  enableDSR: false"), 17, "  enableDSRx: false");
  std::vector<std::string> warnings;
  auto c = ParseConfiguration(text, &warnings);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("notAField"));
  EXPECT_THAT(warnings[0], HasSubstr("winkernel.enableDSRx"));
  auto strict = ParseConfiguration(kFullConfig, &warnings);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(*c, *strict) << "the unknown fields changed the decoded configuration";
}

TEST(ConfigCompatTest, VmoduleFromTheConfigFileIsParsedAndAMalformedOneNamesTheField) {
  std::string text = std::string(kFullConfig);
  text.replace(text.find("  verbosity: 0"), 14,
               "  verbosity: 2\n  vmodule:\n  - filePattern: proxier*\n    verbosity: 5");
  auto c = ParseConfiguration(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->logging.vmodule, ::testing::ElementsAre("proxier*=5"));

  text = std::string(kFullConfig);
  text.replace(text.find("  verbosity: 0"), 14,
               "  verbosity: 2\n  vmodule:\n  - filePattern: proxier*\n    verbosity: loud");
  c = ParseConfiguration(text);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Status invalid = ValidateConfiguration(*c);
  EXPECT_THAT(invalid.message(), HasSubstr("logging.vmodule"));
  EXPECT_THAT(invalid.message(), HasSubstr("proxier*=loud"));
}

// The manifests (manifests/) are checked against the binary by test/deploy/test_manifests.py.

}  // namespace
}  // namespace kproxy::daemon
