// Metrics: kube-proxy's Prometheus metrics (upstream names, types, labels and buckets under
// kubeproxy_) plus kproxy's pass-through and rejected-object metrics, in one prometheus-cpp Registry.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace kproxy::daemon {

// Every method is thread-safe (prometheus-cpp metrics are atomic; families lock internally).
class Metrics {
 public:
  // `proxy_mode` ("iptables", "ipvs", ...) selects the mode-specific metrics as upstream's
  // RegisterMetrics does: iptables registers full/partial sync histograms and the iptables_*
  // metrics; ipvs only sync_proxy_rules_iptables_restore_failures_total. Calls for a metric the
  // mode did not register are no-ops.
  explicit Metrics(absl::string_view proxy_mode);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // --- upstream pkg/proxy/metrics ---
  // One sync of the proxy rules (full or partial); `full` also feeds the iptables-mode
  // full/partial histograms.
  void ObserveSyncProxyRules(absl::Duration duration, bool full);
  void SetSyncProxyRulesLastTimestamp(absl::Time t);
  void SetSyncProxyRulesLastQueuedTimestamp(absl::Time t);
  void ObserveNetworkProgramming(absl::Duration duration);
  void SetEndpointChangesPending(double n);
  void AddEndpointChanges(double n = 1);
  void SetServiceChangesPending(double n);
  void AddServiceChanges(double n = 1);
  void IncIptablesRestoreFailures();
  void IncIptablesPartialRestoreFailures();
  // nftables mode: failed sync transactions and failed deletions of stale chains.
  void IncNftablesSyncFailures();
  void IncNftablesCleanupFailures();
  // table: "filter", "nat", "mangle"...
  void SetIptablesRulesTotal(absl::string_view table, double n);
  void SetIptablesRulesLast(absl::string_view table, double n);
  // traffic_policy: "internal" or "external".
  void SetNoLocalEndpoints(absl::string_view traffic_policy, double n);
  void IncProxyHealthz(int code);
  void IncProxyLivez(int code);
  void ObserveConntrackReconcilerSync(absl::Duration duration);
  void AddConntrackReconcilerDeletedEntries(double n);

  // --- kproxy ---
  // LoadBalancer Services whose ingress IPs currently get no local rule (annotation or ipMode).
  void SetPassThroughServices(double n);
  // A Service whose pass-through setting disagrees with another on the same ELB (IPVS mode).
  void IncPassThroughConflicts(double n = 1);
  // An object skipped as malformed; kind: "Service", "EndpointSlice", "Node".
  void IncObjectsRejected(absl::string_view kind);
  // A sync that failed to program the kernel (rules left as they were, retried with backoff).
  void IncSyncProxyRulesFailures();

  // Prometheus text exposition format 0.0.4 of every metric, plus the process_* metrics Go's
  // client exports (CPU, memory, open/max fds, start time) read from /proc at scrape time.
  std::string SerializeText() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Histogram* sync_proxy_rules_duration_ = nullptr;
  prometheus::Histogram* sync_full_proxy_rules_duration_ = nullptr;
  prometheus::Histogram* sync_partial_proxy_rules_duration_ = nullptr;
  prometheus::Gauge* sync_proxy_rules_last_timestamp_ = nullptr;
  prometheus::Gauge* sync_proxy_rules_last_queued_timestamp_ = nullptr;
  prometheus::Histogram* network_programming_duration_ = nullptr;
  prometheus::Gauge* endpoint_changes_pending_ = nullptr;
  prometheus::Counter* endpoint_changes_total_ = nullptr;
  prometheus::Gauge* service_changes_pending_ = nullptr;
  prometheus::Counter* service_changes_total_ = nullptr;
  prometheus::Counter* iptables_restore_failures_ = nullptr;
  prometheus::Counter* iptables_partial_restore_failures_ = nullptr;
  prometheus::Counter* nftables_sync_failures_ = nullptr;
  prometheus::Counter* nftables_cleanup_failures_ = nullptr;
  prometheus::Family<prometheus::Gauge>* iptables_rules_total_ = nullptr;
  prometheus::Family<prometheus::Gauge>* iptables_rules_last_ = nullptr;
  prometheus::Family<prometheus::Gauge>* no_local_endpoints_ = nullptr;
  prometheus::Family<prometheus::Counter>* proxy_healthz_total_ = nullptr;
  prometheus::Family<prometheus::Counter>* proxy_livez_total_ = nullptr;
  prometheus::Histogram* conntrack_reconciler_sync_duration_ = nullptr;
  prometheus::Counter* conntrack_reconciler_deleted_entries_ = nullptr;
  prometheus::Gauge* pass_through_services_ = nullptr;
  prometheus::Counter* pass_through_conflicts_ = nullptr;
  prometheus::Family<prometheus::Counter>* objects_rejected_ = nullptr;
  prometheus::Counter* sync_proxy_rules_failures_ = nullptr;
};

}  // namespace kproxy::daemon
