// Config file compatibility: a KubeProxyConfiguration as kubeadm and upstream write it (every
// v1alpha1 field, nulls included) must load without a lenient-decoding warning; and the shipped
// manifest's ConfigMap and DaemonSet must be what a kubeadm kube-proxy addon replacement needs.
#include <fstream>
#include <sstream>
#include <string>

#include "cmd/kube-proxy/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace kproxy::daemon {
namespace {

using ::testing::Contains;
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

// --- manifests/kube-proxy.yaml ---

std::vector<YAML::Node> ManifestDocuments() {
  std::ifstream in(std::string(KPROXY_SOURCE_DIR) + "/manifests/kube-proxy.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return YAML::LoadAll(ss.str());
}

YAML::Node Find(const std::vector<YAML::Node>& docs, const std::string& kind,
                const std::string& name) {
  for (const YAML::Node& d : docs) {
    if (d["kind"].as<std::string>("") == kind && d["metadata"]["name"].as<std::string>("") == name)
      return d;
  }
  return YAML::Node();
}

TEST(ManifestTest, ConfigMapConfigConfLoadsAndValidates) {
  std::vector<YAML::Node> docs;
  ASSERT_NO_THROW(docs = ManifestDocuments());
  YAML::Node cm = Find(docs, "ConfigMap", "kube-proxy");
  ASSERT_TRUE(cm.IsDefined());
  EXPECT_EQ(cm["metadata"]["namespace"].as<std::string>(""), "kube-system");
  ASSERT_TRUE(cm["data"]["config.conf"].IsDefined());
  ASSERT_TRUE(cm["data"]["kubeconfig.conf"].IsDefined());
  auto c = ParseConfiguration(cm["data"]["config.conf"].as<std::string>());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(ValidateConfiguration(*c).ok()) << ValidateConfiguration(*c);
  EXPECT_EQ(c->client_connection.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
}

TEST(ManifestTest, DaemonSetMatchesKubeadmsAddon) {
  std::vector<YAML::Node> docs;
  ASSERT_NO_THROW(docs = ManifestDocuments());
  YAML::Node ds = Find(docs, "DaemonSet", "kube-proxy");
  ASSERT_TRUE(ds.IsDefined());
  EXPECT_EQ(ds["metadata"]["namespace"].as<std::string>(""), "kube-system");
  YAML::Node pod = ds["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["hostNetwork"].as<bool>(false));
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(""), "kube-proxy");
  EXPECT_EQ(pod["priorityClassName"].as<std::string>(""), "system-node-critical");
  YAML::Node container = pod["containers"][0];
  EXPECT_EQ(container["name"].as<std::string>(""), "kube-proxy");
  EXPECT_TRUE(container["securityContext"]["privileged"].as<bool>(false));
  std::vector<std::string> command =
      container["command"].as<std::vector<std::string>>(std::vector<std::string>{});
  EXPECT_THAT(command, Contains("--config=/var/lib/kube-proxy/config.conf"));
  EXPECT_THAT(command, Contains("--hostname-override=$(NODE_NAME)"));
  std::map<std::string, int> ports;
  for (const YAML::Node& p : container["ports"])
    ports[p["name"].as<std::string>("")] = p["containerPort"].as<int>(0);
  EXPECT_EQ(ports["healthz"], 10256);
  EXPECT_EQ(ports["metrics"], 10249);
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"].as<std::string>(""), "/livez");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["port"].as<int>(0), 10256);
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"].as<std::string>(""), "/healthz");
  std::map<std::string, std::string> mounts;
  for (const YAML::Node& m : container["volumeMounts"])
    mounts[m["name"].as<std::string>("")] = m["mountPath"].as<std::string>("");
  EXPECT_EQ(mounts["kube-proxy"], "/var/lib/kube-proxy");
  EXPECT_EQ(mounts["xtables-lock"], "/run/xtables.lock");
  EXPECT_EQ(mounts["lib-modules"], "/lib/modules");
  std::map<std::string, YAML::Node> volumes;
  for (const YAML::Node& v : pod["volumes"]) volumes[v["name"].as<std::string>("")] = v;
  EXPECT_EQ(volumes["kube-proxy"]["configMap"]["name"].as<std::string>(""), "kube-proxy");
  EXPECT_EQ(volumes["xtables-lock"]["hostPath"]["path"].as<std::string>(""), "/run/xtables.lock");
  EXPECT_EQ(volumes["xtables-lock"]["hostPath"]["type"].as<std::string>(""), "FileOrCreate");
  EXPECT_EQ(volumes["lib-modules"]["hostPath"]["path"].as<std::string>(""), "/lib/modules");
}

TEST(ManifestTest, ServiceAccountIsBoundToNodeProxier) {
  std::vector<YAML::Node> docs;
  ASSERT_NO_THROW(docs = ManifestDocuments());
  YAML::Node sa = Find(docs, "ServiceAccount", "kube-proxy");
  ASSERT_TRUE(sa.IsDefined());
  EXPECT_EQ(sa["metadata"]["namespace"].as<std::string>(""), "kube-system");
  YAML::Node crb = Find(docs, "ClusterRoleBinding", "kubeadm:node-proxier");
  ASSERT_TRUE(crb.IsDefined());
  EXPECT_EQ(crb["roleRef"]["kind"].as<std::string>(""), "ClusterRole");
  EXPECT_EQ(crb["roleRef"]["name"].as<std::string>(""), "system:node-proxier");
  EXPECT_EQ(crb["subjects"][0]["kind"].as<std::string>(""), "ServiceAccount");
  EXPECT_EQ(crb["subjects"][0]["name"].as<std::string>(""), "kube-proxy");
  EXPECT_EQ(crb["subjects"][0]["namespace"].as<std::string>(""), "kube-system");
}

}  // namespace
}  // namespace kproxy::daemon
