// Metrics: kube-proxy's Prometheus metrics (upstream names, types, labels and buckets under
// kubeproxy_) plus kproxy's pass-through and rejected-object metrics, in one prometheus-cpp Registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proxier/ip_address.h"

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
  // Metrics taking a `family` carry upstream's ip_family label ("IPv4", "IPv6"; since 1.33).
  // Creates the family's counters at 0 (the restore failures), so they are scraped before the
  // first failure.
  void AddFamily(proxier::IpFamily family);
  // One sync of the proxy rules (full or partial) that programmed `family`; `full` also feeds the
  // iptables-mode full/partial histograms.
  void ObserveSyncProxyRules(proxier::IpFamily family, absl::Duration duration, bool full);
  void SetSyncProxyRulesLastTimestamp(proxier::IpFamily family, absl::Time t);
  void SetSyncProxyRulesLastQueuedTimestamp(proxier::IpFamily family, absl::Time t);
  void ObserveNetworkProgramming(proxier::IpFamily family, absl::Duration duration);
  void SetEndpointChangesPending(double n);
  void AddEndpointChanges(double n = 1);
  void SetServiceChangesPending(double n);
  void AddServiceChanges(double n = 1);
  void IncIptablesRestoreFailures(proxier::IpFamily family);
  void IncIptablesPartialRestoreFailures(proxier::IpFamily family);
  // nftables mode: failed sync transactions and failed deletions of stale chains.
  void IncNftablesSyncFailures();
  void IncNftablesCleanupFailures();
  // table: "filter", "nat", "mangle"...
  void SetIptablesRulesTotal(proxier::IpFamily family, absl::string_view table, double n);
  void SetIptablesRulesLast(proxier::IpFamily family, absl::string_view table, double n);
  // traffic_policy: "internal" or "external".
  void SetNoLocalEndpoints(proxier::IpFamily family, absl::string_view traffic_policy, double n);
  void IncProxyHealthz(int code);
  void IncProxyLivez(int code);
  // One stale-flow cleanup after a sync, labelled ip_family as upstream's.
  void ObserveConntrackReconcilerSync(proxier::IpFamily family, absl::Duration duration);
  void AddConntrackReconcilerDeletedEntries(proxier::IpFamily family, double n);

  // --- kproxy ---
  // LoadBalancer Services whose ingress IPs got no local rule in the last sync (annotation or
  // ipMode; IPVS mode: after each ELB's shared setting was enforced).
  void SetPassThroughServices(double n);
  // A Service whose pass-through setting disagrees with another on the same ELB (IPVS mode).
  void IncPassThroughConflicts(double n = 1);
  // An object skipped as malformed; kind: "Service", "EndpointSlice", "Node".
  void IncObjectsRejected(absl::string_view kind);
  // A Service newly seen with loadBalancerSourceRanges entries that are not CIDRs (kept, minus
  // those entries; a family left without a valid range admits no source on its LB IPs).
  void IncInvalidSourceRanges(double n = 1);
  // A sync that failed to program the kernel (rules left as they were, retried with backoff).
  void IncSyncProxyRulesFailures();
  // One request to the API server, as client-go's rest_client_requests_total{code,host,method}
  // (code "<error>" without a response) and rest_client_request_duration_seconds{host,verb} (not
  // for watches, as client-go) count it.
  void ObserveRestClientRequest(absl::string_view method, absl::string_view host, long code,
                                absl::Duration duration, bool watch);
  // A restore that went to iptables-nft-restore instead of the direct nf_tables writer; reason:
  // "unsupported_version", "unsupported_input", "missing_table", "writer_unavailable".
  void IncIptablesNftDirectFallbacks(absl::string_view reason);

  // Prometheus text exposition format 0.0.4 of every metric, plus the process_* metrics Go's
  // client exports (CPU, memory, open/max fds, start time) read from /proc at scrape time.
  std::string SerializeText() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;

  std::vector<double> sync_buckets_;
  std::vector<double> network_programming_buckets_;
  prometheus::Family<prometheus::Histogram>* sync_proxy_rules_duration_ = nullptr;
  prometheus::Family<prometheus::Histogram>* sync_full_proxy_rules_duration_ = nullptr;
  prometheus::Family<prometheus::Histogram>* sync_partial_proxy_rules_duration_ = nullptr;
  prometheus::Family<prometheus::Gauge>* sync_proxy_rules_last_timestamp_ = nullptr;
  prometheus::Family<prometheus::Gauge>* sync_proxy_rules_last_queued_timestamp_ = nullptr;
  prometheus::Family<prometheus::Histogram>* network_programming_duration_ = nullptr;
  prometheus::Gauge* endpoint_changes_pending_ = nullptr;
  prometheus::Counter* endpoint_changes_total_ = nullptr;
  prometheus::Gauge* service_changes_pending_ = nullptr;
  prometheus::Counter* service_changes_total_ = nullptr;
  prometheus::Family<prometheus::Counter>* iptables_restore_failures_ = nullptr;
  prometheus::Family<prometheus::Counter>* iptables_partial_restore_failures_ = nullptr;
  prometheus::Counter* nftables_sync_failures_ = nullptr;
  prometheus::Counter* nftables_cleanup_failures_ = nullptr;
  prometheus::Family<prometheus::Gauge>* iptables_rules_total_ = nullptr;
  prometheus::Family<prometheus::Gauge>* iptables_rules_last_ = nullptr;
  prometheus::Family<prometheus::Gauge>* no_local_endpoints_ = nullptr;
  prometheus::Family<prometheus::Counter>* proxy_healthz_total_ = nullptr;
  prometheus::Family<prometheus::Counter>* proxy_livez_total_ = nullptr;
  prometheus::Family<prometheus::Histogram>* conntrack_reconciler_sync_duration_ = nullptr;
  prometheus::Family<prometheus::Counter>* conntrack_reconciler_deleted_entries_ = nullptr;
  prometheus::Gauge* pass_through_services_ = nullptr;
  prometheus::Counter* pass_through_conflicts_ = nullptr;
  prometheus::Family<prometheus::Counter>* objects_rejected_ = nullptr;
  prometheus::Counter* invalid_source_ranges_ = nullptr;
  prometheus::Counter* sync_proxy_rules_failures_ = nullptr;
  prometheus::Family<prometheus::Counter>* iptables_nft_direct_fallbacks_ = nullptr;
  prometheus::Family<prometheus::Counter>* rest_client_requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* rest_client_request_duration_ = nullptr;
};

}  // namespace kproxy::daemon
