#include "cmd/kube-proxy/service_health_server.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/health/http_test_client.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;
using proxier::ServiceName;
using testing::HttpGet;

class ServiceHealthServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto http = HttpServer::Create();
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = std::move(*http);
    ASSERT_TRUE(http_->Start().ok());
    server_ = std::make_unique<ServiceHealthServer>(
        http_.get(), std::vector<std::string>{"127.0.0.1"}, [this] { return proxy_healthy_.load(); }, "node-a",
        [this](const ServiceName& name, const std::string& message) { failures_.push_back(message); });
  }

  int PortOf(const ServiceName& name) {
    std::vector<int> ports = server_->BoundPorts(name);
    EXPECT_EQ(ports.size(), 1u);
    return ports.empty() ? 0 : ports[0];
  }

  std::atomic<bool> proxy_healthy_{true};
  std::vector<std::string> failures_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<ServiceHealthServer> server_;
};

std::string Body(absl::string_view ns, absl::string_view name, int endpoints, bool healthy) {
  return absl::StrCat("{\n\t\"service\": {\n\t\t\"namespace\": \"", ns, "\",\n\t\t\"name\": \"", name,
                      "\"\n\t},\n\t\"localEndpoints\": ", endpoints, ",\n\t\"serviceProxyHealthy\": ",
                      healthy ? "true" : "false", "\n}");
}

TEST_F(ServiceHealthServerTest, AnswersByLocalEndpointsAndProxyHealthThenCloses) {
  const ServiceName svc{"ns1", "web"};
  ASSERT_TRUE(server_->SyncServices({{svc, 0}}).ok());
  int port = PortOf(svc);
  ASSERT_GT(port, 0);

  // Open but no endpoints reported yet.
  auto resp = HttpGet("127.0.0.1", port, "/");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 503);
  EXPECT_EQ(resp->Header("Content-Type"), "application/json");
  EXPECT_EQ(resp->Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(resp->Header("X-Load-Balancing-Endpoint-Weight"), "0");
  EXPECT_EQ(resp->body, Body("ns1", "web", 0, true));

  server_->SyncEndpoints({{svc, 2}, {ServiceName{"ns1", "not-open"}, 5}});
  resp = HttpGet("127.0.0.1", port, "/any/path");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->Header("X-Load-Balancing-Endpoint-Weight"), "2");
  EXPECT_EQ(resp->body, Body("ns1", "web", 2, true));

  proxy_healthy_ = false;
  resp = HttpGet("127.0.0.1", port, "/");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 503);
  EXPECT_EQ(resp->body, Body("ns1", "web", 2, false));
  proxy_healthy_ = true;

  server_->SyncEndpoints({});  // endpoints gone
  resp = HttpGet("127.0.0.1", port, "/");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 503);
  EXPECT_EQ(resp->body, Body("ns1", "web", 0, true));

  ASSERT_TRUE(server_->SyncServices({}).ok());
  EXPECT_EQ(server_->ServiceCount(), 0u);
  resp = HttpGet("127.0.0.1", port, "/");
  ASSERT_FALSE(resp.ok());
  EXPECT_THAT(std::string(resp.status().message()), HasSubstr("refused"));
}

TEST_F(ServiceHealthServerTest, UnchangedServiceKeepsItsListenerAndCount) {
  const ServiceName a{"ns1", "a"};
  const ServiceName b{"ns2", "b"};
  ASSERT_TRUE(server_->SyncServices({{a, 0}}).ok());
  int port_a = PortOf(a);
  server_->SyncEndpoints({{a, 3}});
  ASSERT_TRUE(server_->SyncServices({{a, 0}, {b, 0}}).ok());
  EXPECT_EQ(PortOf(a), port_a);
  auto resp = HttpGet("127.0.0.1", port_a, "/");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, Body("ns1", "a", 3, true));
  resp = HttpGet("127.0.0.1", PortOf(b), "/");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->body, Body("ns2", "b", 0, true));
}

// Returns a listening socket on 127.0.0.1 and its port.
int OccupyPort(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 || listen(fd, 1) != 0) return -1;
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  *port = ntohs(sin.sin_port);
  return fd;
}

TEST_F(ServiceHealthServerTest, PortInUseIsReportedAndRetriedWithoutAffectingOthers) {
  int busy_port = 0;
  int blocker = OccupyPort(&busy_port);
  ASSERT_GE(blocker, 0);
  const ServiceName blocked{"ns1", "blocked"};
  const ServiceName fine{"ns1", "fine"};

  absl::Status status = server_->SyncServices({{blocked, busy_port}, {fine, 0}});
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("node node-a failed to start healthcheck \"ns1/blocked\" on port ", busy_port)));
  ASSERT_EQ(failures_.size(), 1u);
  EXPECT_EQ(server_->ServiceCount(), 1u);
  EXPECT_TRUE(server_->BoundPorts(blocked).empty());
  auto resp = HttpGet("127.0.0.1", PortOf(fine), "/");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 503);

  close(blocker);
  ASSERT_TRUE(server_->SyncServices({{blocked, busy_port}, {fine, 0}}).ok());
  EXPECT_EQ(server_->ServiceCount(), 2u);
  server_->SyncEndpoints({{blocked, 1}});
  resp = HttpGet("127.0.0.1", busy_port, "/");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, Body("ns1", "blocked", 1, true));
}

TEST_F(ServiceHealthServerTest, PortChangeMovesTheListener) {
  const ServiceName svc{"ns1", "web"};
  int first_port = 0;
  int blocker = OccupyPort(&first_port);
  ASSERT_GE(blocker, 0);
  close(blocker);  // a port the kernel just handed out, now free
  ASSERT_TRUE(server_->SyncServices({{svc, first_port}}).ok());
  ASSERT_TRUE(HttpGet("127.0.0.1", first_port, "/").ok());
  ASSERT_TRUE(server_->SyncServices({{svc, 0}}).ok());
  int second_port = PortOf(svc);
  EXPECT_NE(second_port, first_port);
  EXPECT_FALSE(HttpGet("127.0.0.1", first_port, "/").ok());
  EXPECT_TRUE(HttpGet("127.0.0.1", second_port, "/").ok());
}

// Connects to 127.0.0.1:port and optionally sends `data`; returns the socket.
int ConnectAndSend(int port, absl::string_view data) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
    close(fd);
    return -1;
  }
  if (!data.empty()) send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  return fd;
}

TEST_F(ServiceHealthServerTest, StalledClientDoesNotBlockTheLoop) {
  const ServiceName a{"ns1", "a"};
  const ServiceName b{"ns1", "b"};
  ASSERT_TRUE(server_->SyncServices({{a, 0}, {b, 0}}).ok());
  server_->SyncEndpoints({{a, 1}, {b, 1}});
  // Half a request on a, never finished.
  int stalled = ConnectAndSend(PortOf(a), "GET / HTTP/1.1\r\nHost: x\r\n");
  ASSERT_GE(stalled, 0);
  auto resp = HttpGet("127.0.0.1", PortOf(b), "/");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  resp = HttpGet("127.0.0.1", PortOf(a), "/");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  close(stalled);
}

TEST_F(ServiceHealthServerTest, ClosingAServiceAlsoClosesItsOpenConnections) {
  const ServiceName a{"ns1", "a"};
  ASSERT_TRUE(server_->SyncServices({{a, 0}}).ok());
  int idle = ConnectAndSend(PortOf(a), "");
  ASSERT_GE(idle, 0);
  // Let the loop accept it before closing the Service.
  ASSERT_TRUE(HttpGet("127.0.0.1", PortOf(a), "/").ok());
  ASSERT_TRUE(server_->SyncServices({}).ok());
  timeval tv{5, 0};
  setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[16];
  ssize_t n = recv(idle, buf, sizeof(buf), 0);
  EXPECT_LE(n, 0) << "connection still open after the Service's health check was closed";
  if (n < 0) {
    EXPECT_NE(errno, EAGAIN) << "timed out: connection still open";
  }
  close(idle);
}

// nodePortAddresses that select no address of the node: health-check node ports are opened on no
// address, rather than on every one (issue 15).
TEST(ServiceHealthServerBindTest, NoSelectedAddressOpensNoListener) {
  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  ASSERT_TRUE((*http)->Start().ok());
  ServiceHealthServer nowhere(http->get(), std::vector<std::string>{}, [] { return true; });
  const ServiceName svc{"ns1", "web"};
  ASSERT_TRUE(nowhere.SyncServices({{svc, 0}}).ok());
  EXPECT_THAT(nowhere.BoundPorts(svc), ::testing::IsEmpty());
  ServiceHealthServer everywhere(http->get(), std::nullopt, [] { return true; });
  ASSERT_TRUE(everywhere.SyncServices({{svc, 0}}).ok());
  EXPECT_THAT(everywhere.BoundPorts(svc), ::testing::SizeIs(1));
}

TEST(ServiceHealthServerScaleTest, ServesTwoThousandPortsOnOneLoop) {
  constexpr int kServices = 2000;
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < 4 * kServices) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4 * kServices);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  }
  ASSERT_GE(limit.rlim_cur, static_cast<rlim_t>(kServices + 100)) << "descriptor limit too low for this test";

  auto http = HttpServer::Create();
  ASSERT_TRUE(http.ok());
  ASSERT_TRUE((*http)->Start().ok());
  ServiceHealthServer server(http->get(), std::vector<std::string>{"127.0.0.1"}, [] { return true; });
  absl::flat_hash_map<ServiceName, int> services;
  absl::flat_hash_map<ServiceName, int> endpoints;
  for (int i = 0; i < kServices; ++i) {
    ServiceName name{"scale", absl::StrCat("svc-", i)};
    services[name] = 0;  // the kernel picks a free port for each
    endpoints[name] = 1 + i % 3;
  }
  ASSERT_TRUE(server.SyncServices(services).ok());
  ASSERT_EQ(server.ServiceCount(), static_cast<size_t>(kServices));
  server.SyncEndpoints(endpoints);

  int answered = 0;
  for (const auto& [name, unused] : services) {
    std::vector<int> ports = server.BoundPorts(name);
    ASSERT_EQ(ports.size(), 1u);
    auto resp = HttpGet("127.0.0.1", ports[0], "/");
    ASSERT_TRUE(resp.ok()) << name.ToString() << ": " << resp.status();
    ASSERT_EQ(resp->status, 200);
    ASSERT_EQ(resp->Header("X-Load-Balancing-Endpoint-Weight"), absl::StrCat(endpoints[name]));
    ASSERT_THAT(resp->body, HasSubstr(absl::StrCat("\"name\": \"", name.name, "\"")));
    ++answered;
  }
  EXPECT_EQ(answered, kServices);

  ASSERT_TRUE(server.SyncServices({}).ok());
  EXPECT_EQ(server.ServiceCount(), 0u);
  EXPECT_EQ((*http)->ListenerCount(), 0u);
}

TEST(ServiceHealthServerRespondTest, QuotesNamesLikeGo) {
  HttpResponse resp = ServiceHealthServer::Respond({"ns", "a\"b"}, 1, true);
  EXPECT_EQ(resp.status, 200);
  EXPECT_THAT(resp.body, HasSubstr("\"name\": \"a\\\"b\""));
}

}  // namespace
}  // namespace kproxy::daemon
