#include "apiclient/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "apiclient/rest_client.h"
#include "logging/log.h"

namespace kproxy::apiclient {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kproxy-kubeconfig-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

constexpr char kTokenConfig[] = R"(apiVersion: v1
kind: Config
current-context: main
clusters:
- name: other
  cluster:
    server: https://other:6443
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.crt
    tls-server-name: kubernetes.default.svc
contexts:
- name: main
  context:
    cluster: prod
    user: proxy
users:
- name: proxy
  user:
    token: s3cr3t-token
)";

TEST_F(KubeconfigTest, ResolvesCurrentContextClusterAndUser) {
  Write("ca.crt", "PEM");
  std::string path = Write("kubeconfig", kTokenConfig);
  absl::StatusOr<ClientConfig> config = LoadKubeconfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");
  EXPECT_EQ(config->ca_file, dir_ + "/ca.crt");  // relative to the kubeconfig's folder
  EXPECT_EQ(config->tls_server_name, "kubernetes.default.svc");
  EXPECT_EQ(config->bearer_token, "s3cr3t-token");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST_F(KubeconfigTest, DecodesBase64DataFields) {
  const std::string yaml = absl::StrCat(R"(current-context: c
clusters:
- name: k
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )", absl::Base64Escape("CA-PEM"), R"(
    insecure-skip-tls-verify: true
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user:
    client-certificate-data: )", absl::Base64Escape("CERT-PEM"), R"(
    client-key-data: )", absl::Base64Escape("KEY-PEM"), "\n");
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "/k.conf", "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_data, "CA-PEM");
  EXPECT_EQ(config->client_cert_data, "CERT-PEM");
  EXPECT_EQ(config->client_key_data, "KEY-PEM");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
}

TEST_F(KubeconfigTest, BadBase64NamesFileAndField) {
  const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate-data: "%%%", client-key-data: "%%%"}}]
)";
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "/etc/k.conf", "/etc");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("/etc/k.conf"));
  EXPECT_THAT(config.status().message(), HasSubstr("users[\"u\"].user.client-certificate-data"));
}

TEST_F(KubeconfigTest, MissingFileFieldNamesTheFieldAndPath) {
  const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x", certificate-authority: /nonexistent/ca.crt}}]
contexts: [{name: c, context: {cluster: k}}]
)";
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "/k.conf", "/");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("clusters[\"k\"].cluster.certificate-authority"));
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/ca.crt"));
}

TEST_F(KubeconfigTest, ErrorsNameMissingContextClusterServer) {
  EXPECT_THAT(ParseKubeconfig("clusters: []\n", "/k", "/").status().message(), HasSubstr("current-context"));
  EXPECT_THAT(ParseKubeconfig("current-context: nope\ncontexts: []\n", "/k", "/").status().message(),
              HasSubstr("contexts: no entry named \"nope\""));
  EXPECT_THAT(ParseKubeconfig(R"(current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {insecure-skip-tls-verify: true}}]
)", "/k", "/").status().message(),
              HasSubstr("clusters[\"k\"].cluster.server: not set"));
  EXPECT_THAT(ParseKubeconfig("a: [", "/k", "/").status().message(), HasSubstr("kubeconfig /k"));
}

TEST_F(KubeconfigTest, CertificateWithoutKeyIsRejected) {
  const std::string yaml = absl::StrCat(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {client-certificate-data: ")", absl::Base64Escape("C"), "\"}}]\n");
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "/k", "/");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("client-key"));
}

TEST_F(KubeconfigTest, ExecPluginIsReadWithArgsEnvAndClusterInfo) {
  const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: bin/get-token
      args: [--cluster, prod]
      env: [{name: REGION, value: eu-1}]
      interactiveMode: Never
      provideClusterInfo: true
      installHint: install get-token
)";
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "/etc/k/config", "/etc/k");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->exec.has_value());
  EXPECT_EQ(config->exec->api_version, "client.authentication.k8s.io/v1");
  EXPECT_EQ(config->exec->command, "/etc/k/bin/get-token");  // relative with a folder: resolved
  EXPECT_EQ(config->exec->args, (std::vector<std::string>{"--cluster", "prod"}));
  ASSERT_EQ(config->exec->env.size(), 1u);
  EXPECT_EQ(config->exec->env[0], (std::pair<std::string, std::string>{"REGION", "eu-1"}));
  EXPECT_TRUE(config->exec->provide_cluster_info);
  EXPECT_EQ(config->exec->interactive_mode, "Never");
  EXPECT_EQ(config->exec->install_hint, "install get-token");
  EXPECT_THAT(config->DebugString(), HasSubstr("exec: /etc/k/bin/get-token"));
}

TEST_F(KubeconfigTest, ExecPluginOnPathKeepsItsBareName) {
  const std::string yaml = R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}}}]
)";
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "/k", "/etc");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->exec->command, "aws");
  EXPECT_EQ(config->exec->interactive_mode, "IfAvailable");  // v1beta1's default
}

TEST_F(KubeconfigTest, ExecPluginErrorsNameTheField) {
  auto parse = [](const std::string& exec) {
    return ParseKubeconfig(absl::StrCat(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {exec: )",
                                        exec, "}}]\n"),
                           "/k", "/");
  };
  absl::StatusOr<ClientConfig> config = parse("{command: aws}");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("users[\"u\"].user.exec.apiVersion"));
  config = parse("{apiVersion: client.authentication.k8s.io/v1, command: aws}");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("exec.interactiveMode: must be set"));
  config =
      parse("{apiVersion: client.authentication.k8s.io/v1, command: aws, interactiveMode: Always}");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(config.status().message(), HasSubstr("interactiveMode: Always is not supported"));
}

TEST_F(KubeconfigTest, AuthProviderAndImpersonationAreRefusedByName) {
  for (const std::string user : {"{auth-provider: {name: gcp}}", "{token: t, as: admin}"}) {
    absl::StatusOr<ClientConfig> config = ParseKubeconfig(absl::StrCat(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: )",
                                                                       user, "}]\n"),
                                                          "/k", "/");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kUnimplemented) << user;
    EXPECT_THAT(config.status().message(),
                HasSubstr(user[1] == 'a' ? "user.auth-provider: not supported" : "user.as:"));
  }
}

TEST_F(KubeconfigTest, ProxyUrlIsReadAndItsSchemeChecked) {
  auto parse = [](const std::string& proxy) {
    return ParseKubeconfig(absl::StrCat(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x", proxy-url: ")",
                                        proxy, R"("}}]
contexts: [{name: c, context: {cluster: k}}]
)"),
                           "/k", "/");
  };
  for (const char* ok : {"http://10.0.0.1:3128", "https://proxy:443", "socks5://127.0.0.1:1080"}) {
    absl::StatusOr<ClientConfig> config = parse(ok);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->proxy_url, ok);
  }
  absl::StatusOr<ClientConfig> config = parse("ftp://proxy");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("clusters[\"k\"].cluster.proxy-url"));
}

TEST_F(KubeconfigTest, TokenFileIsResolvedAndMustExist) {
  Write("token", "abc");
  std::string path = Write("kubeconfig", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {tokenFile: token}}]
)");
  absl::StatusOr<ClientConfig> config = LoadKubeconfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bearer_token_file, dir_ + "/token");
  unlink((dir_ + "/token").c_str());
  config = LoadKubeconfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("users[\"u\"].user.tokenFile"));
}

TEST_F(KubeconfigTest, MasterOverridesServerAndFlagsSetQps) {
  Write("ca.crt", "PEM");
  ConnectionFlags flags;
  flags.kubeconfig = Write("kubeconfig", kTokenConfig);
  flags.master = "https://192.0.2.10:443";
  flags.qps = 50;
  flags.burst = 100;
  absl::StatusOr<ClientConfig> config = BuildClientConfig(flags, InClusterEnvironment{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://192.0.2.10:443");
  EXPECT_EQ(config->bearer_token, "s3cr3t-token");
  EXPECT_EQ(config->qps, 50);
  EXPECT_EQ(config->burst, 100);
}

TEST_F(KubeconfigTest, MasterAloneNeedsNoKubeconfig) {
  ConnectionFlags flags;
  flags.master = "http://127.0.0.1:8080";
  absl::StatusOr<ClientConfig> config = BuildClientConfig(flags, InClusterEnvironment{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "http://127.0.0.1:8080");
  EXPECT_TRUE(config->bearer_token.empty());
}

TEST_F(KubeconfigTest, InClusterUsesServiceEnvironmentAndSecretsDir) {
  Write("token", "sa-token\n");
  Write("ca.crt", "PEM");
  InClusterEnvironment env{"fd00::1", "443", dir_};
  absl::StatusOr<ClientConfig> config = BuildClientConfig(ConnectionFlags{}, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->bearer_token_file, dir_ + "/token");
  EXPECT_EQ(config->ca_file, dir_ + "/ca.crt");
  EXPECT_EQ(config->origin, "in-cluster");
}

TEST_F(KubeconfigTest, InClusterWithoutEnvironmentExplainsWhatToPass) {
  absl::StatusOr<ClientConfig> config = BuildClientConfig(ConnectionFlags{}, InClusterEnvironment{"", "", dir_});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("KUBERNETES_SERVICE_HOST"));
  EXPECT_THAT(config.status().message(), HasSubstr("--kubeconfig"));
}

TEST_F(KubeconfigTest, InClusterWithoutTokenNamesTheTokenFile) {
  absl::StatusOr<ClientConfig> config = LoadInClusterConfig(InClusterEnvironment{"10.96.0.1", "443", dir_});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(dir_ + "/token"));
}

TEST_F(KubeconfigTest, DebugStringAndClientLogsRedactCredentials) {
  ClientConfig config;
  config.server = "https://127.0.0.1:1";
  config.bearer_token = "s3cr3t-token";
  config.password = "hunter2";
  config.client_key_data = "PRIVATE-KEY";
  const std::string debug = config.DebugString();
  EXPECT_THAT(debug, HasSubstr("token: <redacted>"));
  EXPECT_THAT(debug, Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(debug, Not(HasSubstr("hunter2")));
  EXPECT_THAT(debug, Not(HasSubstr("PRIVATE-KEY")));

  std::string logs;
  logging::SetSinkForTesting(&logs);
  logging::SetVerbosity(10);
  {
    absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config);
    ASSERT_TRUE(client.ok());
    // A request that fails to connect still logs at high verbosity; none of it may carry the token.
    (void)(*client)->Get("/api/v1/services", nullptr, absl::Seconds(2));
  }
  logging::SetVerbosity(0);
  logging::SetSinkForTesting(nullptr);
  EXPECT_THAT(logs, HasSubstr("token: <redacted>"));
  EXPECT_THAT(logs, Not(HasSubstr("s3cr3t")));
}

TEST_F(KubeconfigTest, ProtobufContentTypeIsLoggedAsUnsupportedAtVerbosityTwo) {
  ClientConfig config;
  config.server = "https://127.0.0.1:1";
  config.content_type = "application/vnd.kubernetes.protobuf";
  std::string logs;
  logging::SetSinkForTesting(&logs);
  // Upstream's default content type: at -v 0 it would be a line on every start.
  ASSERT_TRUE(RestClient::Create(config).ok());
  EXPECT_THAT(logs, Not(HasSubstr("asks for application/json")));
  logging::SetVerbosity(2);
  ASSERT_TRUE(RestClient::Create(config).ok());
  logging::SetVerbosity(0);
  logging::SetSinkForTesting(nullptr);
  EXPECT_THAT(logs, HasSubstr("asks for application/json"));
}

}  // namespace
}  // namespace kproxy::apiclient
