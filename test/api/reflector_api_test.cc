// The API client against fake_apiserver.py over HTTPS: paging, ordered delivery, every injected
// fault survived with the handler converging to the server, 410 relists without churn,
// Retry-After, token rotation, client certificates, tls-server-name, Events.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "apiclient/api_source.h"
#include "apiclient/event_recorder.h"
#include "apiclient/kubeconfig.h"
#include "apiclient/reflector.h"
#include "apiclient/rest_client.h"
#include "apiclient/testing/recording_sink.h"
#include "test/api/fake_apiserver_process.h"

extern char** environ;

namespace kproxy::apiclient {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeApiserverProcess;
using testing::RecordingHandlers;
using testing::RecordingSink;

constexpr char kToken[] = "token-1";

std::string Svc(const std::string& name, const std::string& ip, int port = 80,
                const std::string& labels = "{}") {
  return absl::StrCat(R"json({"kind":"Service","apiVersion":"v1","metadata":{"namespace":"default","name":")json", name,
                      R"json(","labels":)json", labels, R"json(},"spec":{"type":"ClusterIP","clusterIP":")json", ip,
                      R"json(","ports":[{"name":"http","port":)json", port, R"json(,"protocol":"TCP"}]}})json");
}
std::string Slice(const std::string& name, const std::string& service, const std::string& ip,
                  const std::string& extra_labels = "") {
  return absl::StrCat(
      R"json({"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"namespace":"default","name":")json",
      name, R"json(","labels":{"kubernetes.io/service-name":")json", service, "\"", extra_labels,
      R"json(}},"addressType":"IPv4","endpoints":[{"addresses":[")json", ip,
      R"json("],"conditions":{"ready":true}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]})json");
}
std::string NodeJson(const std::string& name) {
  return absl::StrCat(R"json({"kind":"Node","apiVersion":"v1","metadata":{"name":")json", name,
                      R"json("},"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.1"}]}})json");
}

ReflectorOptions FastOptions() {
  ReflectorOptions options;
  options.backoff = BackoffOptions{absl::Milliseconds(100), absl::Seconds(1), 2.0, 0.1};
  options.watch_idle_timeout = absl::Seconds(3);
  return options;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeApiserverProcess>> server = FakeApiserverProcess::Start({kToken});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ClientConfig config = server_->Config(kToken);
    config.qps = 0;
    absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  // Names of the objects the server holds -> nothing; compared against the handler's state.
  static bool HasKeys(const std::map<std::string, std::string>& state, std::vector<std::string> keys) {
    if (state.size() != keys.size()) return false;
    for (const std::string& k : keys) {
      if (!state.contains(k)) return false;
    }
    return true;
  }
  static int Count(const std::vector<std::string>& calls, absl::string_view prefix) {
    int n = 0;
    for (const std::string& c : calls) n += absl::StartsWith(c, prefix);
    return n;
  }
  bool WaitForWatch() {
    for (int i = 0; i < 200; ++i) {
      absl::StatusOr<int> w = server_->ActiveWatches();
      if (w.ok() && *w > 0) return true;
      absl::SleepFor(absl::Milliseconds(25));
    }
    return false;
  }
  // An ApiSource for node "node-a" over client_ with fast retries, delivering to `handlers`.
  absl::StatusOr<std::unique_ptr<ApiSource>> NodeASource(RecordingHandlers& handlers) {
    ApiSourceOptions options;
    options.node_name = "node-a";
    options.reflector = FastOptions();
    return ApiSource::Create(client_.get(), options, &handlers, &handlers, &handlers);
  }
  std::unique_ptr<FakeApiserverProcess> server_;
  std::unique_ptr<RestClient> client_;
  ResourceSpec services_{"Service", "/api/v1/services", ApiSource::kServiceLabelSelector, ""};
};

TEST_F(ApiTest, InitialListIsPagedOverHttpsWithABearerToken) {
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(server_->Apply(Svc(absl::StrCat("s", i), absl::StrCat("10.96.0.", i + 1))).ok());
  RecordingSink sink;
  ReflectorOptions options = FastOptions();
  options.page_size = 3;
  Reflector reflector(client_.get(), services_, &sink, options);
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  EXPECT_EQ(sink.log.state().size(), 7u);
  EXPECT_EQ(sink.log.calls().back(), "synced");
  EXPECT_EQ(reflector.stats().list_pages, 3u);
  reflector.Stop();
  absl::StatusOr<std::vector<testing::RecordedRequest>> requests = server_->Requests();
  ASSERT_TRUE(requests.ok());
  int lists = 0;
  for (const auto& r : *requests) {
    if (r.verb == "list") {
      ++lists;
      EXPECT_THAT(r.path, HasSubstr("limit=3"));
      EXPECT_EQ(r.status, 200);
    }
  }
  EXPECT_EQ(lists, 3);
}

TEST_F(ApiTest, WrongTokenGets401) {
  ClientConfig config = server_->Config("wrong");
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config);
  ASSERT_TRUE(client.ok());
  absl::StatusOr<HttpResponse> r = (*client)->Get("/api/v1/services", nullptr, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
}

// What the daemon's rest_client_requests_total and rest_client_request_duration_seconds count.
TEST_F(ApiTest, EveryRequestIsReportedWithMethodHostAndStatus) {
  std::vector<std::string> seen;
  RestClientOptions options;
  options.on_request = [&seen](const RequestOutcome& o) {
    seen.push_back(absl::StrCat(o.method, " ", o.host, " ", o.status, o.stream ? " watch" : ""));
  };
  absl::StatusOr<std::unique_ptr<RestClient>> client =
      RestClient::Create(server_->Config(kToken), options);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10)).ok());
  ASSERT_TRUE((*client)->Get("/api/v1/nosuchthing", nullptr, absl::Seconds(10)).ok());
  const std::string host = absl::StrCat("127.0.0.1:", server_->port());
  EXPECT_THAT(seen, ::testing::ElementsAre("GET " + host + " 200", "GET " + host + " 404"));
  // No server: no status.
  ClientConfig gone = server_->Config(kToken);
  gone.server = "https://127.0.0.1:1";
  client = RestClient::Create(gone, options);
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE((*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(5)).ok());
  EXPECT_EQ(seen.back(), "GET 127.0.0.1:1 0");
}

TEST_F(ApiTest, AddModifyDeleteAreDeliveredInOrder) {
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  ASSERT_TRUE(server_->Apply(Svc("a", "10.96.0.1")).ok());
  ASSERT_TRUE(server_->Apply(Svc("a", "10.96.0.1", 81)).ok());
  ASSERT_TRUE(server_->Apply(Svc("b", "10.96.0.2")).ok());
  ASSERT_TRUE(server_->Delete("Service", "default", "a").ok());
  ASSERT_TRUE(sink.log.WaitFor([](const auto& state, const auto& calls) { return calls.size() >= 5; }));
  std::vector<std::string> calls = sink.log.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0], "synced");
  EXPECT_TRUE(absl::StartsWith(calls[1], "add default/a@"));
  EXPECT_TRUE(absl::StartsWith(calls[2], "update default/a@"));
  EXPECT_TRUE(absl::StartsWith(calls[3], "add default/b@"));
  EXPECT_EQ(calls[4], "delete default/a");
  reflector.Stop();
}

TEST_F(ApiTest, HeadlessAndForeignProxyServicesAreFilteredBySelector) {
  ASSERT_TRUE(server_->Apply(Svc("plain", "10.96.0.1")).ok());
  ASSERT_TRUE(server_->Apply(Svc("headless", "10.96.0.2", 80, R"json({"service.kubernetes.io/headless":""})json")).ok());
  ASSERT_TRUE(server_->Apply(Svc("other", "10.96.0.3", 80, R"json({"service.kubernetes.io/service-proxy-name":"x"})json")).ok());
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  // A Service that gains the label disappears from the watch (the server sends DELETED).
  ASSERT_TRUE(server_->Apply(Svc("plain", "10.96.0.1", 80, R"json({"service.kubernetes.io/service-proxy-name":"x"})json")).ok());
  EXPECT_TRUE(sink.log.WaitFor([](const auto& state, const auto&) { return state.empty(); }));
  EXPECT_THAT(sink.log.calls(), ::testing::ElementsAre(::testing::StartsWith("add default/plain@"), "synced",
                                                       "delete default/plain"));
  reflector.Stop();
}

// Each fault is injected while a watch is open; the handler must converge to the server's
// objects, with no delete of an object that still exists.
class FaultTest : public ApiTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(FaultTest, HandlerConvergesWithoutSpuriousDeletes) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(server_->Apply(Svc(absl::StrCat("keep", i), absl::StrCat("10.96.1.", i + 1))).ok());
  ASSERT_TRUE(server_->Apply(Svc("doomed", "10.96.2.1")).ok());
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  ASSERT_TRUE(server_->Fault(GetParam()).ok());
  ASSERT_TRUE(server_->Apply(Svc("keep0", "10.96.1.1", 8080)).ok());
  ASSERT_TRUE(server_->Apply(Svc("new", "10.96.3.1")).ok());
  ASSERT_TRUE(server_->Delete("Service", "default", "doomed").ok());
  // Events after the fault, so the stream must have recovered to see them.
  EXPECT_TRUE(sink.log.WaitFor([](const auto& state, const auto&) {
    return HasKeys(state, {"default/keep0", "default/keep1", "default/keep2", "default/keep3", "default/keep4", "default/new"});
  }, absl::Seconds(30))) << ::testing::PrintToString(sink.log.calls());
  ASSERT_TRUE(server_->Apply(Svc("after", "10.96.3.2")).ok());
  EXPECT_TRUE(sink.log.WaitFor([](const auto& state, const auto&) { return state.contains("default/after"); }));
  std::vector<std::string> calls = sink.log.calls();
  EXPECT_EQ(Count(calls, "delete "), 1) << ::testing::PrintToString(calls);
  EXPECT_THAT(calls, Contains("delete default/doomed"));
  for (int i = 1; i < 5; ++i) EXPECT_EQ(Count(calls, absl::StrCat("add default/keep", i, "@")), 1);
  EXPECT_EQ(Count(calls, "synced"), 1);
  // The fault really happened: it was consumed and the reflector saw it.
  absl::StatusOr<int> pending = server_->PendingFaults();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 0);
  const ReflectorStats stats = reflector.stats();
  if (absl::StrContains(GetParam(), "expire_rv")) {
    EXPECT_EQ(stats.relists_gone, 1u);
    EXPECT_EQ(stats.lists, 2u);
  } else {
    EXPECT_EQ(stats.stream_errors, 1u);
    EXPECT_EQ(stats.lists, 1u);  // resumed from the last good resourceVersion, no relist
  }
  reflector.Stop();
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FaultTest,
    ::testing::Values(R"json({"type":"close_midstream","resource":"Service"})json",
                      R"json({"type":"garbage_line","resource":"Service"})json",
                      R"json({"type":"stall","resource":"Service","seconds":5})json",
                      R"json({"type":"expire_rv"})json"),
    [](const ::testing::TestParamInfo<const char*>& info) {
      for (const char* name : {"close_midstream", "garbage_line", "stall", "expire_rv"}) {
        if (absl::StrContains(info.param, name)) return std::string(name);
      }
      return std::string("unknown");
    });

TEST_F(ApiTest, BookmarksAdvanceTheResourceVersionWithoutEvents) {
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  const std::string listed = reflector.resource_version();
  // A Node change moves the server's resourceVersion; only a bookmark tells the Service watch.
  ASSERT_TRUE(server_->Apply(NodeJson("node-x")).ok());
  EXPECT_TRUE(sink.log.WaitFor([&](const auto&, const auto&) { return reflector.resource_version() != listed; },
                               absl::Seconds(10)));
  EXPECT_THAT(sink.log.calls(), ::testing::ElementsAre("synced"));
  reflector.Stop();
}

TEST_F(ApiTest, ServerErrorOnReconnectIsRetried) {
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  ASSERT_TRUE(server_->Fault(R"json({"type":"status_500","resource":"Service","on":"watch"})json").ok());
  ASSERT_TRUE(server_->Fault(R"json({"type":"status_500","resource":"Service","on":"watch"})json").ok());
  ASSERT_TRUE(server_->Fault(R"json({"type":"close_midstream","resource":"Service"})json").ok());
  ASSERT_TRUE(server_->Apply(Svc("a", "10.96.0.1")).ok());
  EXPECT_TRUE(sink.log.WaitFor([](const auto& state, const auto&) { return state.contains("default/a"); }, absl::Seconds(30)));
  EXPECT_EQ(reflector.stats().stream_errors, 3u);
  EXPECT_EQ(reflector.stats().lists, 1u);
  reflector.Stop();
}

TEST_F(ApiTest, ExpiredResourceVersionRelistsWithoutChurn) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(server_->Apply(Svc(absl::StrCat("s", i), absl::StrCat("10.96.0.", i + 1))).ok());
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  sink.log.Clear();
  ASSERT_TRUE(server_->Fault(R"json({"type":"expire_rv"})json").ok());
  ASSERT_TRUE(sink.log.WaitFor([&](const auto&, const auto&) { return reflector.stats().lists >= 2; }));
  ASSERT_TRUE(WaitForWatch());
  ASSERT_TRUE(server_->Apply(Svc("s2", "10.96.0.3", 8080)).ok());
  ASSERT_TRUE(sink.log.WaitFor([](const auto&, const auto& calls) { return !calls.empty(); }));
  absl::SleepFor(absl::Milliseconds(300));
  std::vector<std::string> calls = sink.log.calls();
  ASSERT_EQ(calls.size(), 1u) << ::testing::PrintToString(calls);
  EXPECT_TRUE(absl::StartsWith(calls[0], "update default/s2@"));
  EXPECT_EQ(reflector.stats().relists_gone, 1u);
  reflector.Stop();
}

TEST_F(ApiTest, TooManyRequestsHonoursRetryAfter) {
  RecordingSink sink;
  Reflector reflector(client_.get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  ASSERT_TRUE(server_->Fault(R"json({"type":"status_429","resource":"Service","on":"watch","retry_after":2})json").ok());
  ASSERT_TRUE(server_->Fault(R"json({"type":"close_midstream","resource":"Service"})json").ok());
  ASSERT_TRUE(server_->Apply(Svc("a", "10.96.0.1")).ok());
  ASSERT_TRUE(sink.log.WaitFor([](const auto& state, const auto&) { return state.contains("default/a"); }, absl::Seconds(30)));
  reflector.Stop();
  absl::StatusOr<std::vector<testing::RecordedRequest>> requests = server_->Requests();
  ASSERT_TRUE(requests.ok());
  double rejected_at = -1;
  double next_at = -1;
  for (const auto& r : *requests) {
    if (r.kind != "Service") continue;
    if (r.status == 429) {
      rejected_at = r.time;
    } else if (rejected_at > 0 && next_at < 0) {
      next_at = r.time;
    }
  }
  ASSERT_GT(rejected_at, 0);
  ASSERT_GT(next_at, 0);
  EXPECT_GE(next_at - rejected_at, 1.9);
}

TEST_F(ApiTest, RotatedTokenFileIsPickedUpAfterA401WithoutRestart) {
  char dir[] = "/tmp/kproxy-token-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string token_file = absl::StrCat(dir, "/token");
  std::ofstream(token_file) << kToken;
  ClientConfig config = server_->Config();
  config.bearer_token_file = token_file;
  // A long recheck: only the 401 can make the client look at the file again.
  RestClientOptions options;
  options.token_recheck = absl::Hours(1);
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config, options);
  ASSERT_TRUE(client.ok());
  RecordingSink sink;
  Reflector reflector(client->get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());

  {
    std::ofstream(token_file + ".new") << "token-2\n";
    ASSERT_EQ(rename((token_file + ".new").c_str(), token_file.c_str()), 0);
  }
  ASSERT_TRUE(server_->SetTokens({"token-2"}).ok());
  ASSERT_TRUE(server_->Fault(R"json({"type":"close_midstream","resource":"Service"})json").ok());
  ASSERT_TRUE(server_->Apply(Svc("after-rotation", "10.96.0.9")).ok());
  EXPECT_TRUE(sink.log.WaitFor([](const auto& state, const auto&) { return state.contains("default/after-rotation"); },
                               absl::Seconds(30)));
  reflector.Stop();
  absl::StatusOr<std::vector<testing::RecordedRequest>> requests = server_->Requests();
  ASSERT_TRUE(requests.ok());
  int refused = 0;
  for (const auto& r : *requests) refused += r.status == 401;
  EXPECT_GE(refused, 1);  // the old token really was refused once
  std::system(absl::StrCat("rm -rf ", dir).c_str());
}

// A kubeconfig exec plugin (client.authentication.k8s.io/v1) whose token lives 3 s and is read from
// a file the test rotates; every run is logged.
class ExecPluginApiTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    char dir[] = "/tmp/kproxy-exec-api-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    SetPluginToken(kToken);
    const std::string plugin = dir_ + "/plugin.sh";
    std::ofstream(plugin)
        << "#!/bin/sh\n"
        << "echo run >> '" << dir_ << "/runs'\n"
        << "EXPIRY=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)\n"
        << "printf "
           "'{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        << "\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}' "
        << "\"$(cat '" << dir_ << "/token')\" \"$EXPIRY\"\n";
    chmod(plugin.c_str(), 0755);
    const std::string kubeconfig =
        absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: ")",
                     server_->url(), R"(", certificate-authority: ")", server_->dir(),
                     R"(/ca.crt"}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, interactiveMode: Never}
)");
    std::ofstream(dir_ + "/kubeconfig") << kubeconfig;
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }
  void SetPluginToken(const std::string& token) {
    std::ofstream(dir_ + "/token.new") << token;
    ASSERT_EQ(rename((dir_ + "/token.new").c_str(), (dir_ + "/token").c_str()), 0);
  }
  int PluginRuns() {
    std::ifstream in(dir_ + "/runs");
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    return lines;
  }
  int Refused() {
    absl::StatusOr<std::vector<testing::RecordedRequest>> requests = server_->Requests();
    EXPECT_TRUE(requests.ok());
    int refused = 0;
    for (const auto& r : requests.value_or(std::vector<testing::RecordedRequest>{}))
      refused += r.status == 401;
    return refused;
  }
  std::string dir_;
};

TEST_F(ExecPluginApiTest, ReflectorAuthenticatesWithThePluginAndRenewsTheTokenBeforeItExpires) {
  absl::StatusOr<ClientConfig> config = LoadKubeconfigFile(dir_ + "/kubeconfig");
  ASSERT_TRUE(config.ok()) << config.status();
  config->qps = 0;
  RestClientOptions options;
  options.exec_refresh_before_expiry = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(*config, options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(server_->Apply(Svc("before", "10.96.0.8")).ok());
  RecordingSink sink;
  Reflector reflector(client->get(), services_, &sink, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(WaitForWatch());
  EXPECT_EQ(PluginRuns(), 1);

  // The server now takes only token-2, which the plugin hands out from now on; once the first
  // token has expired the reconnecting watch must carry the new one without being refused first.
  SetPluginToken("token-2");
  ASSERT_TRUE(server_->SetTokens({"token-2"}).ok());
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(server_->Fault(R"json({"type":"close_midstream","resource":"Service"})json").ok());
  ASSERT_TRUE(server_->Apply(Svc("after-expiry", "10.96.0.9")).ok());
  EXPECT_TRUE(sink.log.WaitFor(
      [](const auto& state, const auto&) { return state.contains("default/after-expiry"); },
      absl::Seconds(30)));
  reflector.Stop();
  EXPECT_GE(PluginRuns(), 2);
  EXPECT_EQ(Refused(), 0);
}

TEST_F(ExecPluginApiTest, PluginClientCertificateAuthenticatesOverTls) {
  // The plugin hands out the client certificate the fake server's CA signed, and no token.
  const std::string plugin = dir_ + "/cert-plugin.py";
  std::ofstream(plugin)
      << "#!" << KPROXY_PYTHON3 << "\nimport json\n"
      << "read = lambda n: open('" << server_->dir() << "/' + n).read()\n"
      << "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
      << "'kind': 'ExecCredential', 'status': {'clientCertificateData': read('client.crt'), "
      << "'clientKeyData': read('client.key')}}))\n";
  chmod(plugin.c_str(), 0755);
  ClientConfig config = server_->Config();
  config.exec = ExecConfig{.api_version = "client.authentication.k8s.io/v1beta1",
                           .command = plugin,
                           .interactive_mode = "IfAvailable"};
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HttpResponse> r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Refused(), 0);
}

TEST_F(ExecPluginApiTest, RefusedTokenRunsThePluginAgainAndRetries) {
  absl::StatusOr<ClientConfig> config = LoadKubeconfigFile(dir_ + "/kubeconfig");
  ASSERT_TRUE(config.ok()) << config.status();
  RestClientOptions options;
  options.exec_refresh_before_expiry = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(*config, options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HttpResponse> r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // Revoked before it expires: the 401 makes the client ask the plugin again.
  SetPluginToken("token-3");
  ASSERT_TRUE(server_->SetTokens({"token-3"}).ok());
  r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(PluginRuns(), 2);
  EXPECT_EQ(Refused(), 1);
}

// kubeconfig proxy-url: every request goes through an HTTP CONNECT proxy (connect_proxy.py).
TEST_F(ApiTest, ProxyUrlTunnelsRequestsThroughTheProxy) {
  const std::string log = server_->dir() + "/proxy.log";
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  std::vector<std::string> args = {KPROXY_PYTHON3, KPROXY_CONNECT_PROXY, "--log", log};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  ASSERT_TRUE(absl::StartsWith(line, "PORT ")) << line;

  ClientConfig config = server_->Config(kToken);
  config.proxy_url = absl::StrCat("http://127.0.0.1:", line.substr(5));
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HttpResponse> r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  std::ifstream in(log);
  std::string tunnelled((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(tunnelled, absl::StrCat("CONNECT 127.0.0.1:", server_->port(), "\n"));
}

TEST_F(ApiTest, ConsecutiveRequestsReuseOneTlsConnection) {
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<HttpResponse> r = client_->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200);
  }
  absl::StatusOr<std::vector<testing::RecordedRequest>> requests = server_->Requests();
  ASSERT_TRUE(requests.ok()) << requests.status();
  std::set<int> ports;
  int gets = 0;
  for (const testing::RecordedRequest& q : *requests) {
    if (q.path != "/api/v1/nodes") continue;
    ++gets;
    ports.insert(q.client_port);
  }
  EXPECT_EQ(gets, 5);
  EXPECT_EQ(ports.size(), 1u) << "each request opened its own connection";
}

// libcurl does not support one connection cache used by concurrent threads: each thread reuses
// its own connection, and never one another thread left idle.
TEST_F(ApiTest, ThreadsReuseTheirOwnConnectionsNeverAnotherThreads) {
  absl::Mutex mu;
  int turn = 0;  // even: thread a, odd: thread b
  auto run = [&](int parity, const std::string& tag) {
    for (int i = 0; i < 3; ++i) {
      {
        absl::MutexLock lock(&mu);
        const auto my_turn = [&turn, parity] { return turn % 2 == parity; };
        mu.Await(absl::Condition(&my_turn));
      }
      absl::StatusOr<HttpResponse> r = client_->Get("/api/v1/nodes?from=" + tag, nullptr, absl::Seconds(10));
      EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? absl::StrCat(r->status) : r.status().ToString());
      absl::MutexLock lock(&mu);
      ++turn;
    }
  };
  std::thread a(run, 0, "a");
  std::thread b(run, 1, "b");
  a.join();
  b.join();
  absl::StatusOr<std::vector<testing::RecordedRequest>> requests = server_->Requests();
  ASSERT_TRUE(requests.ok()) << requests.status();
  std::map<std::string, std::set<int>> ports;
  for (const testing::RecordedRequest& q : *requests) {
    if (absl::StartsWith(q.path, "/api/v1/nodes?from=")) ports[q.path.substr(19)].insert(q.client_port);
  }
  ASSERT_EQ(ports["a"].size(), 1u) << "thread a did not reuse its connection";
  ASSERT_EQ(ports["b"].size(), 1u) << "thread b did not reuse its connection";
  EXPECT_NE(*ports["a"].begin(), *ports["b"].begin()) << "thread b took thread a's idle connection";
}

// Watches of every resource and Event posts at once over one client (scripts/sanitize.sh runs this
// binary under TSan): everything converges and every Event arrives.
TEST_F(ApiTest, ConcurrentWatchesAndEventsShareOneClientSafely) {
  ASSERT_TRUE(server_->Apply(Svc("web", "10.96.0.1")).ok());
  ASSERT_TRUE(server_->Apply(Slice("web-abc", "web", "10.0.0.5")).ok());
  ASSERT_TRUE(server_->Apply(NodeJson("node-a")).ok());
  RecordingHandlers handlers;
  absl::StatusOr<std::unique_ptr<ApiSource>> source = NodeASource(handlers);
  ASSERT_TRUE(source.ok());
  EventRecorderOptions event_options;
  event_options.node_name = "node-a";
  EventRecorder recorder(client_.get(), event_options);
  recorder.Start();
  (*source)->Start();
  constexpr int kRounds = 12;
  std::thread poster([&recorder] {
    for (int i = 0; i < kRounds; ++i) {
      ObjectReference svc;
      svc.namespace_name = "default";
      svc.name = absl::StrCat("svc-", i);
      recorder.Warning(svc, "PassThroughConflict", "Sync", absl::StrCat("note ", i));
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(server_->Apply(Svc(absl::StrCat("s", i), absl::StrCat("10.96.1.", i + 1))).ok());
    ASSERT_TRUE(server_->Apply(Slice(absl::StrCat("s", i, "-x"), absl::StrCat("s", i), "10.0.1.5")).ok());
  }
  poster.join();
  EXPECT_TRUE(handlers.services.WaitFor(
      [](const auto& state, const auto&) { return state.size() == kRounds + 1; }, absl::Seconds(30)));
  EXPECT_TRUE(handlers.slices.WaitFor(
      [](const auto& state, const auto&) { return state.size() == kRounds + 1; }, absl::Seconds(30)));
  ASSERT_TRUE(recorder.Flush(absl::Seconds(30)));
  recorder.Stop();
  (*source)->Stop();
  EXPECT_EQ(recorder.stats().posted, static_cast<uint64_t>(kRounds));
  EXPECT_TRUE(HasKeys(handlers.nodes.state(), {"node-a"}));
}

TEST_F(ApiTest, KubeconfigWithInlineClientCertificateAndTlsServerName) {
  auto read = [this](const std::string& name) {
    std::ifstream in(server_->dir() + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // The URL names 127.0.0.1, but the certificate is checked against kubernetes.default.svc.
  const std::string yaml = absl::StrCat(
      "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: ",
      server_->url(), "\n    tls-server-name: kubernetes.default.svc\n    certificate-authority-data: ",
      absl::Base64Escape(read("ca.crt")), "\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n",
      "    client-certificate-data: ", absl::Base64Escape(read("client.crt")), "\n    client-key-data: ",
      absl::Base64Escape(read("client.key")), "\n");
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml, "inline", "/");
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(*config);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HttpResponse> r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;

  // The same with a server name the certificate does not carry fails verification.
  config->tls_server_name = "not-in-the-cert.example";
  client = RestClient::Create(*config);
  ASSERT_TRUE(client.ok());
  r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  EXPECT_FALSE(r.ok());
}

TEST_F(ApiTest, KubeconfigWithCertificateFilesRelativeToItsDirectoryAndInsecureSkipTlsVerify) {
  // Files named relative to the kubeconfig's directory (as kubectl resolves them); no CA at all, so
  // only insecure-skip-tls-verify lets the connection through.
  auto yaml = [this](bool insecure) {
    return absl::StrCat("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n    server: ",
                        server_->url(), "\n    insecure-skip-tls-verify: ", insecure ? "true" : "false",
                        "\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n",
                        "    client-certificate: client.crt\n    client-key: client.key\n");
  };
  absl::StatusOr<ClientConfig> config = ParseKubeconfig(yaml(true), "kubeconfig", server_->dir());
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(*config);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<HttpResponse> r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;  // the client certificate authenticated us

  config = ParseKubeconfig(yaml(false), "kubeconfig", server_->dir());
  ASSERT_TRUE(config.ok()) << config.status();
  client = RestClient::Create(*config);
  ASSERT_TRUE(client.ok()) << client.status();
  r = (*client)->Get("/api/v1/nodes", nullptr, absl::Seconds(10));
  EXPECT_FALSE(r.ok()) << "the fake server's certificate is signed by a CA the client was not given";
}

TEST_F(ApiTest, ApiSourceDeliversServicesSlicesAndOnlyItsOwnNode) {
  ASSERT_TRUE(server_->Apply(Svc("web", "10.96.0.1")).ok());
  ASSERT_TRUE(server_->Apply(Slice("web-abc", "web", "10.0.0.5")).ok());
  ASSERT_TRUE(server_->Apply(Slice("foreign", "web", "10.0.0.6", R"json(,"service.kubernetes.io/service-proxy-name":"x")json")).ok());
  ASSERT_TRUE(server_->Apply(NodeJson("node-a")).ok());
  ASSERT_TRUE(server_->Apply(NodeJson("node-b")).ok());
  RecordingHandlers handlers;
  absl::StatusOr<std::unique_ptr<ApiSource>> source = NodeASource(handlers);
  ASSERT_TRUE(source.ok());
  (*source)->Start();
  ASSERT_TRUE((*source)->WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE((*source)->WaitForNode(absl::Seconds(20)));
  EXPECT_TRUE(HasKeys(handlers.services.state(), {"default/web"}));
  EXPECT_TRUE(HasKeys(handlers.slices.state(), {"default/web-abc"}));
  EXPECT_TRUE(HasKeys(handlers.nodes.state(), {"node-a"}));
  ASSERT_TRUE(server_->Apply(NodeJson("node-b")).ok());
  ASSERT_TRUE(server_->Delete("Node", "", "node-a").ok());
  EXPECT_TRUE(handlers.nodes.WaitFor([](const auto& state, const auto&) { return state.empty(); }));
  const absl::Time stop_start = absl::Now();
  (*source)->Stop();
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(2));  // watches are interrupted, not waited out
  EXPECT_THAT(handlers.nodes.calls(), Not(Contains(HasSubstr("node-b"))));
}

TEST_F(ApiTest, EventRecorderPostsDeduplicatedWarningEvents) {
  EventRecorderOptions options;
  options.node_name = "node-a";
  EventRecorder recorder(client_.get(), options);
  recorder.Start();
  ObjectReference svc;
  svc.namespace_name = "default";
  svc.name = "web";
  svc.uid = "1234";
  EXPECT_TRUE(recorder.Warning(svc, "PassThroughConflict", "Sync", "ELB 203.0.113.10 shared with default/api"));
  EXPECT_FALSE(recorder.Warning(svc, "PassThroughConflict", "Sync", "ELB 203.0.113.10 shared with default/api"));
  ASSERT_TRUE(recorder.Flush(absl::Seconds(20)));
  recorder.Stop();
  EXPECT_EQ(recorder.stats().posted, 1u);
  EXPECT_EQ(recorder.stats().deduplicated, 1u);
  absl::StatusOr<std::string> events = server_->EventsJson();
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, HasSubstr("\"reportingController\": \"kube-proxy\""));
  EXPECT_THAT(*events, HasSubstr("\"reportingInstance\": \"node-a\""));
  EXPECT_THAT(*events, HasSubstr("\"reason\": \"PassThroughConflict\""));
  EXPECT_THAT(*events, HasSubstr("\"type\": \"Warning\""));
  EXPECT_THAT(*events, HasSubstr("\"name\": \"web\""));
}

TEST_F(ApiTest, EventFailuresAreCountedNotFatal) {
  ClientConfig config = server_->Config("wrong-token");
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(config);
  ASSERT_TRUE(client.ok());
  EventRecorder recorder(client->get(), EventRecorderOptions{});
  recorder.Start();
  ObjectReference svc;
  svc.namespace_name = "default";
  svc.name = "web";
  EXPECT_TRUE(recorder.Warning(svc, "PassThroughConflict", "Sync", "note"));
  ASSERT_TRUE(recorder.Flush(absl::Seconds(20)));
  recorder.Stop();
  EXPECT_EQ(recorder.stats().failed, 1u);
  EXPECT_EQ(recorder.stats().posted, 0u);
}

}  // namespace
}  // namespace kproxy::apiclient
