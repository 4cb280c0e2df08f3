#include "cmd/kube-proxy/health_server.h"

#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/match.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/health/http_test_client.h"
#include "test/unit/health/test_clock.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using proxier::IpFamily;
using testing::FakeClock;
using testing::HttpGet;
using testing::RawHttpResponse;
using testing::TestEpoch;

constexpr char kNow[] = "2024-05-01 10:00:00 +0000 UTC m=+3600.000000000";

class HealthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto http = HttpServer::Create();
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = std::move(*http);
    ASSERT_TRUE(http_->Start().ok());
    server_ = std::make_unique<HealthServer>(http_.get(), &health_, &metrics_, TestEpoch() - absl::Hours(1));
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    ASSERT_GT(port_, 0);
  }

  RawHttpResponse Get(absl::string_view path) {
    auto resp = HttpGet("127.0.0.1", port_, path);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : RawHttpResponse{};
  }

  static void ExpectJsonHeaders(const RawHttpResponse& resp) {
    EXPECT_EQ(resp.HeaderCount("Content-Type"), 1);
    EXPECT_EQ(resp.Header("Content-Type"), "application/json");
    EXPECT_EQ(resp.HeaderCount("X-Content-Type-Options"), 1);
    EXPECT_EQ(resp.Header("X-Content-Type-Options"), "nosniff");
  }

  FakeClock clock_{TestEpoch()};
  ProxyHealth health_{absl::Seconds(60), clock_.Fn()};
  Metrics metrics_{"iptables"};
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HealthServer> server_;
  int port_ = 0;
};

TEST_F(HealthServerTest, FreshProxyAnswers200WithCurrentTimeAsLastUpdated) {
  RawHttpResponse resp = Get("/healthz");
  EXPECT_EQ(resp.status, 200);
  ExpectJsonHeaders(resp);
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", kNow, "\",\"currentTime\": \"", kNow,
                                    "\", \"nodeEligible\": true}"));

  resp = Get("/livez");
  EXPECT_EQ(resp.status, 200);
  ExpectJsonHeaders(resp);
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", kNow, "\",\"currentTime\": \"", kNow, "\"}"));
}

TEST_F(HealthServerTest, SyncedProxyAnswers200) {
  health_.Updated(IpFamily::kIPv4);
  clock_.Advance(absl::Seconds(10));
  health_.QueuedUpdate(IpFamily::kIPv4);
  clock_.Advance(absl::Milliseconds(500));
  RawHttpResponse resp = Get("/healthz");
  EXPECT_EQ(resp.status, 200);
  const std::string now = "2024-05-01 10:00:10.5 +0000 UTC m=+3610.500000000";
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", now, "\",\"currentTime\": \"", now,
                                    "\", \"nodeEligible\": true}"));
}

TEST_F(HealthServerTest, StaleProxyAnswers503OnBothWithLastSyncTime) {
  health_.Updated(IpFamily::kIPv4);
  clock_.Advance(absl::Seconds(1));
  health_.QueuedUpdate(IpFamily::kIPv4);
  clock_.Advance(absl::Seconds(120));  // past the 60s timeout (2 x a 30s syncPeriod)
  const std::string current = "2024-05-01 10:02:01 +0000 UTC m=+3721.000000000";

  RawHttpResponse resp = Get("/healthz");
  EXPECT_EQ(resp.status, 503);
  ExpectJsonHeaders(resp);
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", kNow, "\",\"currentTime\": \"", current,
                                    "\", \"nodeEligible\": true}"));
  resp = Get("/livez");
  EXPECT_EQ(resp.status, 503);
  ExpectJsonHeaders(resp);
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", kNow, "\",\"currentTime\": \"", current, "\"}"));

  const std::string metrics = metrics_.SerializeText();
  EXPECT_THAT(metrics, HasSubstr("kubeproxy_proxy_healthz_total{code=\"503\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("kubeproxy_proxy_livez_total{code=\"503\"} 1\n"));
  EXPECT_THAT(metrics, Not(HasSubstr("code=\"200\"")));
}

TEST_F(HealthServerTest, NodeBeingDeletedFailsHealthzButNotLivez) {
  proxier::Node node;
  node.metadata.name = "node-a";
  node.metadata.deletion_timestamp = TestEpoch();
  health_.SyncNode(node);

  RawHttpResponse resp = Get("/healthz");
  EXPECT_EQ(resp.status, 503);
  // Proxy itself is healthy, so lastUpdated is its (never) last sync: Go's zero time.
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"0001-01-01 00:00:00 +0000 UTC\",\"currentTime\": \"", kNow,
                                    "\", \"nodeEligible\": false}"));
  resp = Get("/livez");
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", kNow, "\",\"currentTime\": \"", kNow, "\"}"));

  const std::string metrics = metrics_.SerializeText();
  EXPECT_THAT(metrics, HasSubstr("kubeproxy_proxy_healthz_total{code=\"503\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("kubeproxy_proxy_livez_total{code=\"200\"} 1\n"));
}

TEST_F(HealthServerTest, TaintedNodeFailsHealthz) {
  health_.Updated(IpFamily::kIPv4);
  proxier::Node node;
  node.taints.push_back({"ToBeDeletedByClusterAutoscaler", "1714557600", "NoSchedule"});
  health_.SyncNode(node);
  RawHttpResponse resp = Get("/healthz");
  EXPECT_EQ(resp.status, 503);
  EXPECT_EQ(resp.body, absl::StrCat("{\"lastUpdated\": \"", kNow, "\",\"currentTime\": \"", kNow,
                                    "\", \"nodeEligible\": false}"));
  EXPECT_EQ(Get("/livez").status, 200);
}

TEST_F(HealthServerTest, OtherPathsAre404LikeGoServeMux) {
  RawHttpResponse resp = Get("/metrics");
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(resp.body, "404 page not found\n");
  EXPECT_EQ(resp.Header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(Get("/healthz?verbose=1").status, 200);
}

TEST_F(HealthServerTest, CloseStopsListening) {
  server_->Close();
  auto resp = HttpGet("127.0.0.1", port_, "/healthz");
  ASSERT_FALSE(resp.ok());
  EXPECT_THAT(std::string(resp.status().message()), HasSubstr("refused"));
}

TEST(HealthServerBindTest, SecondListenOnSamePortFailsNamingTheAddress) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  ProxyHealth health(absl::Seconds(60));
  HealthServer first(http->get(), &health, nullptr);
  auto port = first.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  HealthServer second(http->get(), &health, nullptr);
  auto again = second.Listen("127.0.0.1", *port);
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(std::string(again.status().message()), HasSubstr(absl::StrCat("127.0.0.1:", *port)));
}

TEST(HttpServerTest, ListenerAddedBeforeStartIsServedAfterStartAndStopIsRestartable) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  auto id = (*http)->AddListener("127.0.0.1", 0, [](const HttpRequest& r) {
    HttpResponse resp;
    resp.headers = {{"Content-Type", "text/plain"}};
    resp.body = absl::StrCat(r.method, " ", r.path, " ", r.query);
    return resp;
  });
  ASSERT_TRUE(id.ok()) << id.status();
  int port = (*http)->BoundPort(*id);
  ASSERT_TRUE((*http)->Start().ok());
  auto resp = HttpGet("127.0.0.1", port, "/a/b?x=1");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->body, "GET /a/b x=1");
  (*http)->Stop();
  (*http)->Stop();
  ASSERT_TRUE((*http)->Start().ok());
  EXPECT_FALSE((*http)->Start().ok());
  resp = HttpGet("127.0.0.1", port, "/c", "HEAD");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "");
  EXPECT_EQ(resp->HeaderCount("Content-Length"), 1);
  EXPECT_EQ(resp->Header("Content-Length"), "8");  // "HEAD /c "
  (*http)->RemoveListener(*id);
  EXPECT_EQ((*http)->ListenerCount(), 0u);
  EXPECT_FALSE(HttpGet("127.0.0.1", port, "/").ok());
}

TEST(HttpServerTest, UnspecifiedHostListensOnEveryAddressOfBothFamiliesLikeGo) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  ASSERT_TRUE((*http)->Start().ok());
  for (const char* host : {"", "0.0.0.0", "::", "[::]"}) {
    SCOPED_TRACE(host);
    auto id = (*http)->AddListener(host, 0, [](const HttpRequest&) { return HttpResponse{}; });
    ASSERT_TRUE(id.ok()) << id.status();
    int port = (*http)->BoundPort(*id);
    auto v4 = HttpGet("127.0.0.1", port, "/");
    ASSERT_TRUE(v4.ok()) << v4.status();
    EXPECT_EQ(v4->status, 200);
    auto v6 = HttpGet("::1", port, "/");
    if (!v6.ok() && absl::StrContains(v6.status().message(), "Cannot assign")) {
      GTEST_SKIP() << "no IPv6 loopback here";
    }
    ASSERT_TRUE(v6.ok()) << v6.status();
    EXPECT_EQ(v6->status, 200);
    (*http)->RemoveListener(*id);
  }
}

TEST(HttpServerTest, SpecificAddressListensOnlyThere) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  ASSERT_TRUE((*http)->Start().ok());
  auto id = (*http)->AddListener("127.0.0.1", 0, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_FALSE(HttpGet("::1", (*http)->BoundPort(*id), "/").ok());
}

TEST(SplitHostPortTest, AcceptsGoForms) {
  using Pair = std::pair<std::string, int>;
  EXPECT_EQ(*SplitHostPort("0.0.0.0:10256"), Pair("0.0.0.0", 10256));
  EXPECT_EQ(*SplitHostPort("[::]:10256"), Pair("::", 10256));
  EXPECT_EQ(*SplitHostPort("[fd00::1]:0"), Pair("fd00::1", 0));
  EXPECT_EQ(*SplitHostPort(":10249"), Pair("", 10249));
  EXPECT_FALSE(SplitHostPort("127.0.0.1").ok());
  EXPECT_FALSE(SplitHostPort("::1:80").ok());
  EXPECT_FALSE(SplitHostPort("[::1:80").ok());
  EXPECT_FALSE(SplitHostPort("1.2.3.4:65536").ok());
  EXPECT_FALSE(SplitHostPort("1.2.3.4:http").ok());
}

TEST(HttpServerTest, ListenersComeAndGoFromManyThreadsWhileServing) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  ASSERT_TRUE((*http)->Start().ok());
  HttpServer* server = http->get();
  std::atomic<int> served{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([server, t, &served] {
      for (int i = 0; i < 50; ++i) {
        auto id = server->AddListener("127.0.0.1", 0, [t, i](const HttpRequest&) {
          HttpResponse resp;
          resp.body = absl::StrCat(t, "/", i);
          return resp;
        });
        if (!id.ok()) continue;
        auto resp = HttpGet("127.0.0.1", server->BoundPort(*id), "/");
        if (resp.ok() && resp->body == absl::StrCat(t, "/", i)) ++served;
        server->RemoveListener(*id);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(served.load(), 200);
  EXPECT_EQ(server->ListenerCount(), 0u);
}

TEST(HttpServerTest, RaiseOpenFileLimitReachesTheHardLimit) {
  auto limit = RaiseOpenFileLimit();
  ASSERT_TRUE(limit.ok()) << limit.status();
  rlimit current{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &current), 0);
  EXPECT_EQ(current.rlim_cur, current.rlim_max);
  EXPECT_EQ(*limit, static_cast<uint64_t>(current.rlim_cur));
}

TEST(HttpServerTest, RejectsAddressesThatAreNotIps) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  auto id = (*http)->AddListener("localhost", 0, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_FALSE(id.ok());
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("not an IP address"));
}

}  // namespace
}  // namespace kproxy::daemon
