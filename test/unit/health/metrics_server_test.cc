#include "cmd/kube-proxy/metrics_server.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/health/http_test_client.h"

namespace kproxy::daemon {
namespace {

using testing::HttpGet;

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// Parses the Prometheus text format strictly enough to catch malformed output: every line is
// empty, a comment, or `name{label="value",...} value`.
absl::StatusOr<std::vector<Sample>> ParsePrometheusText(absl::string_view text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
    if (i == 0) return absl::InvalidArgumentError(absl::StrCat("no metric name: ", line));
    s.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t start = i;
        while (i < line.size() && IsNameChar(line[i], i == start)) ++i;
        std::string key(line.substr(start, i - start));
        if (key.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          return absl::InvalidArgumentError(absl::StrCat("bad label: ", line));
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) ++i;
          value += line[i++];
        }
        if (i >= line.size()) return absl::InvalidArgumentError(absl::StrCat("unterminated label: ", line));
        ++i;
        s.labels[key] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return absl::InvalidArgumentError(absl::StrCat("unterminated labels: ", line));
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return absl::InvalidArgumentError(absl::StrCat("no value: ", line));
    std::vector<absl::string_view> rest = absl::StrSplit(line.substr(i + 1), ' ');
    if (rest.empty() || rest.size() > 2) return absl::InvalidArgumentError(absl::StrCat("bad value: ", line));
    std::string v(rest[0]);
    if (v == "+Inf") {
      s.value = HUGE_VAL;
    } else if (v == "-Inf") {
      s.value = -HUGE_VAL;
    } else if (v == "NaN") {
      s.value = NAN;
    } else if (!absl::SimpleAtod(v, &s.value)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value: ", line));
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void Start(absl::string_view mode) {
    metrics_ = std::make_unique<Metrics>(mode);
    auto http = HttpServer::Create();
    ASSERT_TRUE(http.ok());
    http_ = std::move(*http);
    ASSERT_TRUE(http_->Start().ok());
    server_ = std::make_unique<MetricsServer>(http_.get(), metrics_.get(), std::string(mode), [] {
      return std::string("{\"kubeproxy.config.k8s.io\":{\"mode\":\"iptables\"}}");
    });
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  std::vector<Sample> Scrape() {
    auto resp = HttpGet("127.0.0.1", port_, "/metrics");
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (!resp.ok()) return {};
    EXPECT_EQ(resp->status, 200);
    EXPECT_EQ(resp->Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    auto samples = ParsePrometheusText(resp->body);
    EXPECT_TRUE(samples.ok()) << samples.status();
    return samples.ok() ? *samples : std::vector<Sample>{};
  }

  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<MetricsServer> server_;
  int port_ = 0;
};

std::set<std::string> Names(const std::vector<Sample>& samples) {
  std::set<std::string> names;
  for (const Sample& s : samples) names.insert(s.name);
  return names;
}

const Sample* Find(const std::vector<Sample>& samples, absl::string_view name,
                   const std::map<std::string, std::string>& labels = {}) {
  for (const Sample& s : samples) {
    if (s.name == name && s.labels == labels) return &s;
  }
  return nullptr;
}

std::vector<std::string> BucketBounds(const std::vector<Sample>& samples, absl::string_view histogram) {
  std::vector<std::string> bounds;
  for (const Sample& s : samples) {
    if (s.name == absl::StrCat(histogram, "_bucket")) bounds.push_back(s.labels.at("le"));
  }
  return bounds;
}

TEST_F(MetricsServerTest, IptablesModeExposesUpstreamAndKproxyMetrics) {
  Start("iptables");
  const proxier::IpFamily v4 = proxier::IpFamily::kIPv4;
  metrics_->ObserveSyncProxyRules(v4, absl::Milliseconds(3), /*full=*/true);
  metrics_->ObserveSyncProxyRules(v4, absl::Milliseconds(1), /*full=*/false);
  metrics_->SetSyncProxyRulesLastTimestamp(v4, absl::FromUnixSeconds(1714557600));
  metrics_->SetSyncProxyRulesLastQueuedTimestamp(v4, absl::FromUnixSeconds(1714557599));
  metrics_->ObserveNetworkProgramming(v4, absl::Seconds(2));
  metrics_->SetEndpointChangesPending(4);
  metrics_->AddEndpointChanges(7);
  metrics_->SetServiceChangesPending(1);
  metrics_->AddServiceChanges(2);
  metrics_->IncIptablesRestoreFailures(v4);
  metrics_->IncIptablesPartialRestoreFailures(v4);
  metrics_->SetIptablesRulesTotal(v4, "nat", 120);
  metrics_->SetIptablesRulesTotal(v4, "filter", 8);
  metrics_->SetIptablesRulesLast(v4, "nat", 12);
  metrics_->SetNoLocalEndpoints(v4, "external", 1);
  metrics_->SetNoLocalEndpoints(v4, "internal", 0);
  metrics_->IncProxyHealthz(200);
  metrics_->IncProxyLivez(503);
  metrics_->ObserveConntrackReconcilerSync(proxier::IpFamily::kIPv6, absl::Milliseconds(5));
  metrics_->AddConntrackReconcilerDeletedEntries(proxier::IpFamily::kIPv6, 3);
  metrics_->SetPassThroughServices(2);
  metrics_->IncPassThroughConflicts();
  metrics_->IncObjectsRejected("Service");
  metrics_->IncObjectsRejected("Service");
  metrics_->IncInvalidSourceRanges();
  metrics_->IncSyncProxyRulesFailures();

  std::vector<Sample> samples = Scrape();
  std::set<std::string> names = Names(samples);
  for (const char* want : {
           "kubeproxy_sync_proxy_rules_duration_seconds_bucket",
           "kubeproxy_sync_proxy_rules_duration_seconds_sum",
           "kubeproxy_sync_proxy_rules_duration_seconds_count",
           "kubeproxy_sync_full_proxy_rules_duration_seconds_count",
           "kubeproxy_sync_partial_proxy_rules_duration_seconds_count",
           "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
           "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
           "kubeproxy_network_programming_duration_seconds_bucket",
           "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
           "kubeproxy_sync_proxy_rules_endpoint_changes_total",
           "kubeproxy_sync_proxy_rules_service_changes_pending",
           "kubeproxy_sync_proxy_rules_service_changes_total",
           "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
           "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
           "kubeproxy_sync_proxy_rules_iptables_total",
           "kubeproxy_sync_proxy_rules_iptables_last",
           "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
           "kubeproxy_proxy_healthz_total",
           "kubeproxy_proxy_livez_total",
           "kubeproxy_conntrack_reconciler_sync_duration_seconds_count",
           "kubeproxy_conntrack_reconciler_deleted_entries_total",
           "kubeproxy_pass_through_services",
           "kubeproxy_pass_through_conflicts_total",
           "kubeproxy_objects_rejected_total",
           "kubeproxy_invalid_load_balancer_source_ranges_total",
           "kubeproxy_sync_proxy_rules_failures_total",
       }) {
    EXPECT_TRUE(names.contains(want)) << want;
  }

  // Upstream's ip_family label (1.33) on the sync, rule-count and restore-failure metrics.
  const std::map<std::string, std::string> ipv4 = {{"ip_family", "IPv4"}};
  const Sample* s = Find(samples, "kubeproxy_sync_proxy_rules_duration_seconds_count", ipv4);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 2);
  s = Find(samples, "kubeproxy_sync_full_proxy_rules_duration_seconds_count", ipv4);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  s = Find(samples, "kubeproxy_sync_proxy_rules_last_timestamp_seconds", ipv4);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1714557600);
  s = Find(samples, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", ipv4);
  ASSERT_NE(s, nullptr);
  s = Find(samples, "kubeproxy_network_programming_duration_seconds_count", ipv4);
  ASSERT_NE(s, nullptr);
  s = Find(samples, "kubeproxy_sync_proxy_rules_iptables_restore_failures_total", ipv4);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  s = Find(samples, "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total", ipv4);
  ASSERT_NE(s, nullptr);
  s = Find(samples, "kubeproxy_sync_proxy_rules_iptables_last",
           {{"ip_family", "IPv4"}, {"table", "nat"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 12);
  s = Find(samples, "kubeproxy_sync_proxy_rules_iptables_total",
           {{"ip_family", "IPv4"}, {"table", "nat"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 120);
  s = Find(samples, "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
           {{"ip_family", "IPv4"}, {"traffic_policy", "external"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  s = Find(samples, "kubeproxy_proxy_livez_total", {{"code", "503"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  s = Find(samples, "kubeproxy_conntrack_reconciler_deleted_entries_total",
           {{"ip_family", "IPv6"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 3);
  s = Find(samples, "kubeproxy_conntrack_reconciler_sync_duration_seconds_count",
           {{"ip_family", "IPv6"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  s = Find(samples, "kubeproxy_objects_rejected_total", {{"kind", "Service"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 2);
  s = Find(samples, "kubeproxy_invalid_load_balancer_source_ranges_total");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);

  // Upstream's buckets: 1ms x 2^0..14 and 0.25s..5min.
  std::vector<std::string> sync_bounds = BucketBounds(samples, "kubeproxy_sync_proxy_rules_duration_seconds");
  ASSERT_EQ(sync_bounds.size(), 16u);
  EXPECT_EQ(sync_bounds.front(), "0.001");
  EXPECT_EQ(sync_bounds[14], "16.384");
  EXPECT_EQ(sync_bounds.back(), "+Inf");
  std::vector<std::string> np_bounds = BucketBounds(samples, "kubeproxy_network_programming_duration_seconds");
  ASSERT_EQ(np_bounds.size(), 2u + 59u + 12u + 7u + 1u);
  EXPECT_EQ(np_bounds[0], "0.25");
  EXPECT_EQ(np_bounds[2], "1");
  EXPECT_EQ(np_bounds[61], "60");
  EXPECT_EQ(np_bounds[79], "300");
}

TEST_F(MetricsServerTest, ExposesProcessMetricsLikeGoClient) {
  Start("iptables");
  std::vector<Sample> samples = Scrape();
  const Sample* open_fds = Find(samples, "process_open_fds");
  ASSERT_NE(open_fds, nullptr);
  EXPECT_GE(open_fds->value, 3);  // at least stdio
  const Sample* max_fds = Find(samples, "process_max_fds");
  ASSERT_NE(max_fds, nullptr);
  EXPECT_GE(max_fds->value, open_fds->value);
  const Sample* start = Find(samples, "process_start_time_seconds");
  ASSERT_NE(start, nullptr);
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(start->value, now - 3600);
  EXPECT_LE(start->value, now + 1);
  const Sample* rss = Find(samples, "process_resident_memory_bytes");
  ASSERT_NE(rss, nullptr);
  EXPECT_GT(rss->value, 0);
  EXPECT_NE(Find(samples, "process_cpu_seconds_total"), nullptr);
  EXPECT_NE(Find(samples, "process_virtual_memory_bytes"), nullptr);
}

TEST_F(MetricsServerTest, IpvsModeHasRestoreFailuresButNoIptablesSyncMetrics) {
  Start("ipvs");
  metrics_->AddFamily(proxier::IpFamily::kIPv4);
  metrics_->ObserveSyncProxyRules(proxier::IpFamily::kIPv4, absl::Milliseconds(3), /*full=*/true);
  metrics_->IncIptablesPartialRestoreFailures(
      proxier::IpFamily::kIPv4);  // not registered in ipvs mode: a no-op
  metrics_->SetIptablesRulesTotal(proxier::IpFamily::kIPv4, "nat", 1);
  std::set<std::string> names = Names(Scrape());
  EXPECT_TRUE(names.contains("kubeproxy_sync_proxy_rules_iptables_restore_failures_total"));
  EXPECT_TRUE(names.contains("kubeproxy_sync_proxy_rules_duration_seconds_count"));
  EXPECT_FALSE(names.contains("kubeproxy_sync_full_proxy_rules_duration_seconds_count"));
  EXPECT_FALSE(names.contains("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total"));
  EXPECT_FALSE(names.contains("kubeproxy_sync_proxy_rules_iptables_total"));
}

TEST_F(MetricsServerTest, AddedFamiliesShowZeroRestoreFailuresBeforeTheFirst) {
  Start("iptables");
  metrics_->AddFamily(proxier::IpFamily::kIPv4);
  metrics_->AddFamily(proxier::IpFamily::kIPv6);
  std::vector<Sample> samples = Scrape();
  for (const char* family : {"IPv4", "IPv6"}) {
    const Sample* s = Find(samples, "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
                           {{"ip_family", family}});
    ASSERT_NE(s, nullptr) << family;
    EXPECT_EQ(s->value, 0);
  }
}

TEST_F(MetricsServerTest, CountsDirectNfTablesFallbacksByReason) {
  Start("iptables");
  metrics_->IncIptablesNftDirectFallbacks("unsupported_input");
  metrics_->IncIptablesNftDirectFallbacks("unsupported_input");
  metrics_->IncIptablesNftDirectFallbacks("missing_table");
  std::vector<Sample> samples = Scrape();
  const Sample* s = Find(samples, "kubeproxy_iptables_nft_direct_fallbacks_total",
                         {{"reason", "unsupported_input"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 2);
  s = Find(samples, "kubeproxy_iptables_nft_direct_fallbacks_total", {{"reason", "missing_table"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
}

TEST_F(MetricsServerTest, RestClientRequestsWithClientGoNamesAndLabels) {
  Start("ipvs");
  metrics_->ObserveRestClientRequest("GET", "10.0.0.1:6443", 200, absl::Milliseconds(20), false);
  metrics_->ObserveRestClientRequest("GET", "10.0.0.1:6443", 200, absl::Minutes(5), true);
  metrics_->ObserveRestClientRequest("POST", "10.0.0.1:6443", 0, absl::Seconds(1), false);
  std::vector<Sample> samples = Scrape();
  const Sample* s = Find(samples, "rest_client_requests_total",
                         {{"code", "200"}, {"host", "10.0.0.1:6443"}, {"method", "GET"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 2);
  s = Find(samples, "rest_client_requests_total",
           {{"code", "<error>"}, {"host", "10.0.0.1:6443"}, {"method", "POST"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  // The watch is counted but not timed, as client-go.
  s = Find(samples, "rest_client_request_duration_seconds_count",
           {{"host", "10.0.0.1:6443"}, {"verb", "GET"}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 1);
  std::vector<std::string> bounds;
  for (const Sample& b : samples) {
    if (b.name == "rest_client_request_duration_seconds_bucket" && b.labels.at("verb") == "GET") {
      bounds.push_back(b.labels.at("le"));
    }
  }
  EXPECT_EQ(bounds, (std::vector<std::string>{"0.005", "0.025", "0.1", "0.25", "0.5", "1", "2", "4",
                                              "8", "15", "30", "60", "+Inf"}));
}

TEST_F(MetricsServerTest, ServesProxyModeConfigzAndGenericHealthz) {
  Start("iptables");
  auto resp = HttpGet("127.0.0.1", port_, "/proxyMode");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "iptables");
  EXPECT_EQ(resp->Header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(resp->Header("X-Content-Type-Options"), "nosniff");

  resp = HttpGet("127.0.0.1", port_, "/configz");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->Header("Content-Type"), "application/json");
  EXPECT_EQ(resp->body, "{\"kubeproxy.config.k8s.io\":{\"mode\":\"iptables\"}}");

  resp = HttpGet("127.0.0.1", port_, "/healthz");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->body, "ok");

  resp = HttpGet("127.0.0.1", port_, "/livez");
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status, 404);
}

TEST(PrometheusTextParserTest, RejectsMalformedLines) {
  EXPECT_TRUE(ParsePrometheusText("# HELP a b\na{x=\"1\"} 2\nb 3\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a{x=1} 2\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a 2 3 4\n").ok());
  EXPECT_FALSE(ParsePrometheusText("{x=\"1\"} 2\n").ok());
  EXPECT_FALSE(ParsePrometheusText("a{x=\"1\"}\n").ok());
}

}  // namespace
}  // namespace kproxy::daemon
