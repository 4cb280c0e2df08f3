#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "apiclient/token_source.h"

namespace kproxy::apiclient {
namespace {

using ::testing::HasSubstr;

constexpr char kV1[] = "client.authentication.k8s.io/v1";

// Exec plugins are small shell scripts in a temp dir; each run appends a line to `runs`.
class ExecCredentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kproxy-exec-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  // A plugin printing `status_json` as the status of a v1 ExecCredential; "$N" in it is the run
  // number.
  ExecConfig Plugin(const std::string& status_json, const std::string& api_version = kV1) {
    const std::string path = dir_ + "/plugin.sh";
    std::ofstream(path) << "#!/bin/sh\n"
                        << "echo run >> '" << dir_ << "/runs'\n"
                        << "N=$(wc -l < '" << dir_ << "/runs' | tr -d ' ')\n"
                        << "printf '%s' \"$KUBERNETES_EXEC_INFO\" > '" << dir_ << "/exec_info'\n"
                        << "echo \"$@ REGION=$REGION\" > '" << dir_ << "/args'\n"
                        << "cat <<JSON\n"
                        << "{\"apiVersion\": \"" << api_version
                        << "\", \"kind\": \"ExecCredential\", \"status\": " << status_json
                        << "}\nJSON\n";
    chmod(path.c_str(), 0755);
    ExecConfig exec;
    exec.api_version = kV1;
    exec.command = path;
    exec.interactive_mode = "Never";
    return exec;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
};

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << error;
  return t;
}

TEST_F(ExecCredentialTest, TokenIsKeptUntilShortlyBeforeItExpires) {
  absl::Time now = At("2030-01-01T00:00:00Z");
  ExecCredentialSource source(
      Plugin(R"({"token": "tok-$N", "expirationTimestamp": "2030-01-01T01:00:00Z"})"),
      ClientConfig{}, absl::Seconds(10), absl::Minutes(1), [&now] { return now; });
  absl::StatusOr<ExecCredential> credential = source.Get();
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->token, "tok-1");
  EXPECT_EQ(credential->expiry, At("2030-01-01T01:00:00Z"));
  now = At("2030-01-01T00:59:49Z");
  EXPECT_EQ(source.Get()->token, "tok-1");
  EXPECT_EQ(source.runs(), 1);
  now = At("2030-01-01T00:59:51Z");  // within 10 s of the expiry: renewed before it
  EXPECT_EQ(source.Get()->token, "tok-2");
  EXPECT_EQ(source.runs(), 2);
}

TEST_F(ExecCredentialTest, CredentialWithoutExpiryIsRenewedOnlyAfterARefusal) {
  absl::Time now = At("2030-01-01T00:00:00Z");
  ExecCredentialSource source(Plugin(R"({"token": "tok-$N"})"), ClientConfig{}, absl::Seconds(10),
                              absl::Minutes(1), [&now] { return now; });
  EXPECT_EQ(source.Get()->token, "tok-1");
  now += absl::Hours(24);
  EXPECT_EQ(source.Get()->token, "tok-1");
  source.Invalidate();  // the server answered 401
  EXPECT_EQ(source.Get()->token, "tok-2");
  EXPECT_EQ(source.Get()->token, "tok-2");
}

TEST_F(ExecCredentialTest, ShortLivedCredentialIsNotRenewedOnEveryRequest) {
  absl::Time now = At("2030-01-01T00:00:00Z");
  ExecCredentialSource source(
      Plugin(R"({"token": "tok-$N", "expirationTimestamp": "2030-01-01T00:00:04Z"})"),
      ClientConfig{}, absl::Seconds(10), absl::Minutes(1), [&now] { return now; });
  EXPECT_EQ(source.Get()->token, "tok-1");
  now += absl::Seconds(1);
  EXPECT_EQ(source.Get()->token, "tok-1");  // half-way through its 4 s, not 10 s ahead
  now += absl::Seconds(2);
  EXPECT_EQ(source.Get()->token, "tok-2");
}

TEST_F(ExecCredentialTest, PluginGetsArgsEnvAndClusterInfo) {
  ExecConfig exec = Plugin(R"({"token": "t"})");
  exec.args = {"--cluster", "prod"};
  exec.env = {{"REGION", "eu-1"}};
  exec.provide_cluster_info = true;
  ClientConfig cluster;
  cluster.server = "https://10.0.0.1:6443";
  cluster.ca_data = "CA PEM";
  cluster.proxy_url = "socks5://127.0.0.1:1080";
  ExecCredentialSource source(exec, cluster);
  ASSERT_TRUE(source.Get().ok());
  EXPECT_EQ(Read("args"), "--cluster prod REGION=eu-1\n");
  EXPECT_EQ(
      Read("exec_info"),
      absl::StrCat(
          R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",)",
          R"("spec":{"cluster":{"server":"https://10.0.0.1:6443","certificate-authority-data":")",
          absl::Base64Escape("CA PEM"), R"(","proxy-url":"socks5://127.0.0.1:1080"},)",
          R"("interactive":false}})"));
}

TEST_F(ExecCredentialTest, WithoutProvideClusterInfoTheSpecSaysOnlyNonInteractive) {
  ClientConfig cluster;
  cluster.server = "https://10.0.0.1:6443";
  ExecCredentialSource source(Plugin(R"({"token": "t"})"), cluster);
  ASSERT_TRUE(source.Get().ok());
  EXPECT_EQ(
      Read("exec_info"),
      R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}})");
}

TEST_F(ExecCredentialTest, ClientCertificateCredential) {
  ExecCredentialSource source(
      Plugin(R"({"clientCertificateData": "CERT", "clientKeyData": "KEY"})"), ClientConfig{});
  absl::StatusOr<ExecCredential> credential = source.Get();
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->token, "");
  EXPECT_EQ(credential->client_certificate_pem, "CERT");
  EXPECT_EQ(credential->client_key_pem, "KEY");
  EXPECT_FALSE(credential->expiry.has_value());
}

TEST_F(ExecCredentialTest, FailuresNameThePluginAndWhy) {
  ExecConfig missing;
  missing.api_version = kV1;
  missing.command = dir_ + "/no-such-plugin";
  missing.install_hint = "Install it with: apt install no-such-plugin";
  absl::StatusOr<ExecCredential> credential = ExecCredentialSource(missing, ClientConfig{}).Get();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(credential.status().message(), HasSubstr("exec plugin " + missing.command));
  EXPECT_THAT(credential.status().message(), HasSubstr("apt install no-such-plugin"));

  ExecConfig failing = Plugin(R"({"token": "t"})");
  std::ofstream(failing.command) << "#!/bin/sh\necho 'no credentials' >&2\nexit 3\n";
  credential = ExecCredentialSource(failing, ClientConfig{}).Get();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(credential.status().message(), HasSubstr("exit status 3"));

  credential =
      ExecCredentialSource(Plugin(R"({"token": "t"})", "client.authentication.k8s.io/v1beta1"),
                           ClientConfig{})
          .Get();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(credential.status().message(),
              HasSubstr("the kubeconfig asked for client.authentication.k8s.io/v1"));

  ExecConfig slow = Plugin(R"({"token": "t"})");
  std::ofstream(slow.command) << "#!/bin/sh\nexec sleep 30\n";
  credential =
      ExecCredentialSource(slow, ClientConfig{}, absl::Seconds(10), absl::Milliseconds(300)).Get();
  EXPECT_EQ(credential.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(ExecCredentialTest, FailedRenewalKeepsTheUnexpiredCredential) {
  absl::Time now = At("2030-01-01T00:00:00Z");
  ExecConfig exec = Plugin(R"({"token": "tok-$N", "expirationTimestamp": "2030-01-01T01:00:00Z"})");
  ExecCredentialSource source(exec, ClientConfig{}, absl::Seconds(10), absl::Minutes(1),
                              [&now] { return now; });
  EXPECT_EQ(source.Get()->token, "tok-1");
  std::ofstream(exec.command) << "#!/bin/sh\nexit 1\n";
  now = At("2030-01-01T00:59:55Z");
  EXPECT_EQ(source.Get()->token, "tok-1");
  now = At("2030-01-01T01:00:01Z");
  EXPECT_FALSE(source.Get().ok());
}

TEST(ParseExecCredentialTest, RejectsWhatIsNotACredential) {
  EXPECT_FALSE(ParseExecCredential("not json", kV1).ok());
  EXPECT_FALSE(ParseExecCredential(
                   R"({"kind": "Pod", "apiVersion": "client.authentication.k8s.io/v1"})", kV1)
                   .ok());
  EXPECT_FALSE(
      ParseExecCredential(
          R"({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1"})", kV1)
          .ok());
  EXPECT_FALSE(
      ParseExecCredential(
          R"({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1", "status": {}})",
          kV1)
          .ok());
  EXPECT_FALSE(ParseExecCredential(
                   R"({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1",
                                       "status": {"clientCertificateData": "C"}})",
                   kV1)
                   .ok());
  absl::StatusOr<ExecCredential> bad_time = ParseExecCredential(
      R"({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1",
          "status": {"token": "t", "expirationTimestamp": "tomorrow"}})",
      kV1);
  ASSERT_FALSE(bad_time.ok());
  EXPECT_THAT(bad_time.status().message(), HasSubstr("expirationTimestamp"));
}

}  // namespace
}  // namespace kproxy::apiclient
