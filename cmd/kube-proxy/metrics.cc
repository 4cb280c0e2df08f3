#include "cmd/kube-proxy/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cmd/kube-proxy/build_info_metric.h"
#include "prometheus/labels.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace kproxy::daemon {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Go's prometheus.ExponentialBuckets(start, factor, count).
std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> buckets;
  for (int i = 0; i < count; ++i) buckets.push_back(start * std::pow(factor, i));
  return buckets;
}

// Upstream's network_programming_duration_seconds buckets: 0.25s, 0.5s, 1..59s, 60..115s by 5,
// 120..300s by 30.
std::vector<double> NetworkProgrammingBuckets() {
  std::vector<double> buckets = {0.25, 0.5};
  for (int i = 1; i <= 59; ++i) buckets.push_back(i);
  for (int i = 0; i < 12; ++i) buckets.push_back(60 + 5 * i);
  for (int i = 0; i < 7; ++i) buckets.push_back(120 + 30 * i);
  return buckets;
}

prometheus::MetricFamily OneValue(const char* name, const char* help, prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(metric);
  return family;
}

// The process_* metrics Go's client library exports and kube-proxy dashboards read, from /proc.
// A field that cannot be read is left out rather than reported as 0.
std::vector<prometheus::MetricFamily> CollectProcessMetrics() {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));

  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name (which may contain spaces), starting at field 3.
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos && ticks > 0) {
    std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipEmpty());
    // utime=14, stime=15, starttime=22, vsize=23, rss=24 (1-based) -> index field-3.
    double utime, stime, start, vsize, rss;
    if (f.size() > 21 && absl::SimpleAtod(f[11], &utime) && absl::SimpleAtod(f[12], &stime) &&
        absl::SimpleAtod(f[19], &start) && absl::SimpleAtod(f[20], &vsize) && absl::SimpleAtod(f[21], &rss)) {
      families.push_back(OneValue("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                                  MetricType::Counter, (utime + stime) / ticks));
      families.push_back(OneValue("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
                                  vsize));
      families.push_back(OneValue("process_resident_memory_bytes", "Resident memory size in bytes.",
                                  MetricType::Gauge, rss * page_size));
      std::ifstream proc_stat("/proc/stat");
      std::string line;
      while (std::getline(proc_stat, line)) {
        double boot_time;
        if (absl::StartsWith(line, "btime ") && absl::SimpleAtod(line.substr(6), &boot_time)) {
          families.push_back(OneValue("process_start_time_seconds",
                                      "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                                      boot_time + start / ticks));
          break;
        }
      }
    }
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    int open_fds = 0;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++open_fds;
    }
    closedir(dir);
    families.push_back(OneValue("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                                open_fds - 1));  // minus the descriptor of the directory being read
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    families.push_back(OneValue("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                                static_cast<double>(limit.rlim_cur)));
  }
  if (getrlimit(RLIMIT_AS, &limit) == 0) {
    families.push_back(OneValue("process_virtual_memory_max_bytes",
                                "Maximum amount of virtual memory available in bytes.", MetricType::Gauge,
                                limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace

Metrics::Metrics(absl::string_view proxy_mode) : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  RegisterBuildInfo(version::Get(), r);
  const std::vector<double> sync_buckets = ExponentialBuckets(0.001, 2, 15);
  sync_buckets_ = sync_buckets;
  network_programming_buckets_ = NetworkProgrammingBuckets();

  sync_proxy_rules_duration_ = &BuildHistogram()
                                    .Name("kubeproxy_sync_proxy_rules_duration_seconds")
                                    .Help("SyncProxyRules latency in seconds")
                                    .Register(r);
  sync_proxy_rules_last_queued_timestamp_ = &BuildGauge()
                                                 .Name("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds")
                                                 .Help("The last time a sync of proxy rules was queued")
                                                 .Register(r);
  sync_proxy_rules_last_timestamp_ = &BuildGauge()
                                          .Name("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
                                          .Help("The last time proxy rules were successfully synced")
                                          .Register(r);
  endpoint_changes_pending_ = &BuildGauge()
                                   .Name("kubeproxy_sync_proxy_rules_endpoint_changes_pending")
                                   .Help("Pending proxy rules Endpoint changes")
                                   .Register(r)
                                   .Add({});
  endpoint_changes_total_ = &BuildCounter()
                                 .Name("kubeproxy_sync_proxy_rules_endpoint_changes_total")
                                 .Help("Cumulative proxy rules Endpoint changes")
                                 .Register(r)
                                 .Add({});
  service_changes_pending_ = &BuildGauge()
                                  .Name("kubeproxy_sync_proxy_rules_service_changes_pending")
                                  .Help("Pending proxy rules Service changes")
                                  .Register(r)
                                  .Add({});
  service_changes_total_ = &BuildCounter()
                                .Name("kubeproxy_sync_proxy_rules_service_changes_total")
                                .Help("Cumulative proxy rules Service changes")
                                .Register(r)
                                .Add({});
  proxy_healthz_total_ = &BuildCounter()
                              .Name("kubeproxy_proxy_healthz_total")
                              .Help("Cumulative proxy healthz HTTP status")
                              .Register(r);
  proxy_livez_total_ = &BuildCounter()
                            .Name("kubeproxy_proxy_livez_total")
                            .Help("Cumulative proxy livez HTTP status")
                            .Register(r);
  network_programming_duration_ = &BuildHistogram()
                                       .Name("kubeproxy_network_programming_duration_seconds")
                                       .Help("In Cluster Network Programming Latency in seconds")
                                       .Register(r);
  no_local_endpoints_ = &BuildGauge()
                             .Name("kubeproxy_sync_proxy_rules_no_local_endpoints_total")
                             .Help("Number of services with a Local traffic policy and no endpoints")
                             .Register(r);
  conntrack_reconciler_sync_duration_ = &BuildHistogram()
                                             .Name("kubeproxy_conntrack_reconciler_sync_duration_seconds")
                                             .Help("ReconcileConntrackFlowsLatency latency in seconds")
                                             .Register(r);
  conntrack_reconciler_deleted_entries_ = &BuildCounter()
                                               .Name("kubeproxy_conntrack_reconciler_deleted_entries_total")
                                               .Help("Cumulative conntrack flows deleted by conntrack reconciler")
                                               .Register(r);

  if (proxy_mode == "iptables" || proxy_mode == "nftables") {
    sync_full_proxy_rules_duration_ = &BuildHistogram()
                                           .Name("kubeproxy_sync_full_proxy_rules_duration_seconds")
                                           .Help("SyncProxyRules latency in seconds for full resyncs")
                                           .Register(r);
    sync_partial_proxy_rules_duration_ = &BuildHistogram()
                                              .Name("kubeproxy_sync_partial_proxy_rules_duration_seconds")
                                              .Help("SyncProxyRules latency in seconds for partial resyncs")
                                              .Register(r);
  }
  if (proxy_mode == "nftables") {
    nftables_sync_failures_ = &BuildCounter()
                                   .Name("kubeproxy_sync_proxy_rules_nftables_sync_failures_total")
                                   .Help("Cumulative proxy nftables sync failures")
                                   .Register(r)
                                   .Add({});
    nftables_cleanup_failures_ = &BuildCounter()
                                      .Name("kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total")
                                      .Help("Cumulative proxy nftables cleanup failures")
                                      .Register(r)
                                      .Add({});
  }
  if (proxy_mode == "iptables") {
    iptables_partial_restore_failures_ = &BuildCounter()
                                              .Name("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total")
                                              .Help("Cumulative proxy iptables partial restore failures")
                                              .Register(r);
    iptables_rules_total_ = &BuildGauge()
                                 .Name("kubeproxy_sync_proxy_rules_iptables_total")
                                 .Help("Total number of iptables rules owned by kube-proxy")
                                 .Register(r);
    iptables_rules_last_ = &BuildGauge()
                                .Name("kubeproxy_sync_proxy_rules_iptables_last")
                                .Help("Number of iptables rules written by kube-proxy in last sync")
                                .Register(r);
  }
  if (proxy_mode == "iptables" || proxy_mode == "ipvs") {
    iptables_restore_failures_ = &BuildCounter()
                                      .Name("kubeproxy_sync_proxy_rules_iptables_restore_failures_total")
                                      .Help("Cumulative proxy iptables restore failures")
                                      .Register(r);
    iptables_nft_direct_fallbacks_ = &BuildCounter()
                                          .Name("kubeproxy_iptables_nft_direct_fallbacks_total")
                                          .Help("Restores written with iptables-nft-restore instead of "
                                                "the direct nf_tables writer, by reason")
                                          .Register(r);
  }

  pass_through_services_ = &BuildGauge()
                                .Name("kubeproxy_pass_through_services")
                                .Help("LoadBalancer Services whose load-balancer IPs got no local rule in the "
                                      "last sync (elb.pass-through annotation or ipMode Proxy; IPVS mode: after "
                                      "each load balancer's shared setting was enforced)")
                                .Register(r)
                                .Add({});
  pass_through_conflicts_ = &BuildCounter()
                                 .Name("kubeproxy_pass_through_conflicts_total")
                                 .Help("Services whose pass-through setting conflicted with another Service "
                                       "on the same load balancer and was overridden (IPVS mode)")
                                 .Register(r)
                                 .Add({});
  objects_rejected_ = &BuildCounter()
                           .Name("kubeproxy_objects_rejected_total")
                           .Help("Malformed API objects skipped by the proxy, by kind")
                           .Register(r);
  invalid_source_ranges_ = &BuildCounter()
                                .Name("kubeproxy_invalid_load_balancer_source_ranges_total")
                                .Help("Services seen with loadBalancerSourceRanges entries that are not CIDRs "
                                      "(once per Service and set of bad entries); an IP family left without a "
                                      "valid range admits no source on the Service's load-balancer IPs")
                                .Register(r)
                                .Add({});
  rest_client_requests_ = &BuildCounter()
                              .Name("rest_client_requests_total")
                              .Help("Number of HTTP requests, partitioned by status code, method, and host.")
                              .Register(r);
  rest_client_request_duration_ = &BuildHistogram()
                                       .Name("rest_client_request_duration_seconds")
                                       .Help("Request latency in seconds. Broken down by verb, and host.")
                                       .Register(r);
  sync_proxy_rules_failures_ = &BuildCounter()
                                    .Name("kubeproxy_sync_proxy_rules_failures_total")
                                    .Help("Syncs of proxy rules that failed to program the kernel")
                                    .Register(r)
                                    .Add({});
}

namespace {
prometheus::Labels FamilyLabel(proxier::IpFamily family) {
  return {{"ip_family", std::string(proxier::IpFamilyName(family))}};
}
prometheus::Labels FamilyLabel(proxier::IpFamily family, const char* key, absl::string_view value) {
  prometheus::Labels labels = FamilyLabel(family);
  labels.emplace(key, std::string(value));
  return labels;
}
}  // namespace

void Metrics::AddFamily(proxier::IpFamily family) {
  if (iptables_restore_failures_ != nullptr) iptables_restore_failures_->Add(FamilyLabel(family));
  if (iptables_partial_restore_failures_ != nullptr) iptables_partial_restore_failures_->Add(FamilyLabel(family));
}

void Metrics::ObserveSyncProxyRules(proxier::IpFamily family, absl::Duration duration, bool full) {
  double seconds = absl::ToDoubleSeconds(duration);
  sync_proxy_rules_duration_->Add(FamilyLabel(family), sync_buckets_).Observe(seconds);
  prometheus::Family<prometheus::Histogram>* mode_histogram =
      full ? sync_full_proxy_rules_duration_ : sync_partial_proxy_rules_duration_;
  if (mode_histogram != nullptr) mode_histogram->Add(FamilyLabel(family), sync_buckets_).Observe(seconds);
}

void Metrics::SetSyncProxyRulesLastTimestamp(proxier::IpFamily family, absl::Time t) {
  sync_proxy_rules_last_timestamp_->Add(FamilyLabel(family)).Set(absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

void Metrics::SetSyncProxyRulesLastQueuedTimestamp(proxier::IpFamily family, absl::Time t) {
  sync_proxy_rules_last_queued_timestamp_->Add(FamilyLabel(family)).Set(absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

void Metrics::ObserveNetworkProgramming(proxier::IpFamily family, absl::Duration duration) {
  network_programming_duration_->Add(FamilyLabel(family), network_programming_buckets_)
      .Observe(absl::ToDoubleSeconds(duration));
}

void Metrics::SetEndpointChangesPending(double n) { endpoint_changes_pending_->Set(n); }
void Metrics::AddEndpointChanges(double n) { endpoint_changes_total_->Increment(n); }
void Metrics::SetServiceChangesPending(double n) { service_changes_pending_->Set(n); }
void Metrics::AddServiceChanges(double n) { service_changes_total_->Increment(n); }

void Metrics::IncIptablesRestoreFailures(proxier::IpFamily family) {
  if (iptables_restore_failures_ != nullptr) iptables_restore_failures_->Add(FamilyLabel(family)).Increment();
}

void Metrics::IncNftablesSyncFailures() {
  if (nftables_sync_failures_ != nullptr) nftables_sync_failures_->Increment();
}

void Metrics::IncNftablesCleanupFailures() {
  if (nftables_cleanup_failures_ != nullptr) nftables_cleanup_failures_->Increment();
}

void Metrics::IncIptablesPartialRestoreFailures(proxier::IpFamily family) {
  if (iptables_partial_restore_failures_ != nullptr) {
    iptables_partial_restore_failures_->Add(FamilyLabel(family)).Increment();
  }
}

void Metrics::SetIptablesRulesTotal(proxier::IpFamily family, absl::string_view table, double n) {
  if (iptables_rules_total_ != nullptr) iptables_rules_total_->Add(FamilyLabel(family, "table", table)).Set(n);
}

void Metrics::SetIptablesRulesLast(proxier::IpFamily family, absl::string_view table, double n) {
  if (iptables_rules_last_ != nullptr) iptables_rules_last_->Add(FamilyLabel(family, "table", table)).Set(n);
}

void Metrics::SetNoLocalEndpoints(proxier::IpFamily family, absl::string_view traffic_policy, double n) {
  no_local_endpoints_->Add(FamilyLabel(family, "traffic_policy", traffic_policy)).Set(n);
}

void Metrics::IncProxyHealthz(int code) { proxy_healthz_total_->Add({{"code", absl::StrCat(code)}}).Increment(); }
void Metrics::IncProxyLivez(int code) { proxy_livez_total_->Add({{"code", absl::StrCat(code)}}).Increment(); }

void Metrics::ObserveConntrackReconcilerSync(proxier::IpFamily family, absl::Duration duration) {
  conntrack_reconciler_sync_duration_
      ->Add(FamilyLabel(family), sync_buckets_)
      .Observe(absl::ToDoubleSeconds(duration));
}

void Metrics::AddConntrackReconcilerDeletedEntries(proxier::IpFamily family, double n) {
  conntrack_reconciler_deleted_entries_->Add(FamilyLabel(family)).Increment(n);
}

void Metrics::SetPassThroughServices(double n) { pass_through_services_->Set(n); }
void Metrics::IncPassThroughConflicts(double n) { pass_through_conflicts_->Increment(n); }

void Metrics::IncObjectsRejected(absl::string_view kind) {
  objects_rejected_->Add({{"kind", std::string(kind)}}).Increment();
}

void Metrics::IncInvalidSourceRanges(double n) { invalid_source_ranges_->Increment(n); }

void Metrics::IncSyncProxyRulesFailures() { sync_proxy_rules_failures_->Increment(); }

void Metrics::ObserveRestClientRequest(absl::string_view method, absl::string_view host, long code,
                                       absl::Duration duration, bool watch) {
  rest_client_requests_
      ->Add({{"code", code > 0 ? absl::StrCat(code) : "<error>"}, {"host", std::string(host)},
             {"method", std::string(method)}})
      .Increment();
  if (watch) return;
  // client-go's buckets.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.005, 0.025, 0.1, 0.25, 0.5, 1,
                                                                    2,     4,     8,   15,   30,  60};
  rest_client_request_duration_->Add({{"host", std::string(host)}, {"verb", std::string(method)}}, kBuckets)
      .Observe(absl::ToDoubleSeconds(duration));
}

void Metrics::IncIptablesNftDirectFallbacks(absl::string_view reason) {
  if (iptables_nft_direct_fallbacks_ != nullptr) {
    iptables_nft_direct_fallbacks_->Add({{"reason", std::string(reason)}}).Increment();
  }
}

std::string Metrics::SerializeText() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : CollectProcessMetrics()) families.push_back(std::move(family));
  // Go's registry gathers families sorted by name; keep scrapes diffable against upstream's.
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) { return a.name < b.name; });
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace kproxy::daemon
