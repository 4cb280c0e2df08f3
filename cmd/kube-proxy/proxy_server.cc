#include "cmd/kube-proxy/proxy_server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "apiclient/api_source.h"
#include "apiclient/event_recorder.h"
#include "apiclient/kubeconfig.h"
#include "apiclient/object_file_source.h"
#include "apiclient/rest_client.h"
#include "backends/conntrack/netlink_conntrack_client.h"
#include "backends/iptables/iptables_proxier.h"
#include "backends/iptables/iptables_restore_runner.h"
#include "backends/iptables/iptables_variant.h"
#include "backends/ipvs/ipvs_cleanup.h"
#include "backends/nftables/netlink_nftables_writer.h"
#include "backends/nftables/nftables_cleanup.h"
#include "backends/nftables/nftables_proxier.h"
#include "backends/ipvs/ipvs_proxier.h"
#include "cmd/kube-proxy/cleanup.h"
#include "cmd/kube-proxy/dry_run_summary.h"
#include "cmd/kube-proxy/event_reporter.h"
#include "cmd/kube-proxy/health_server.h"
#include "cmd/kube-proxy/http_server.h"
#include "cmd/kube-proxy/metrics.h"
#include "cmd/kube-proxy/metrics_server.h"
#include "cmd/kube-proxy/node_addresses.h"
#include "cmd/kube-proxy/pass_through_reporter.h"
#include "cmd/kube-proxy/process_setup.h"
#include "cmd/kube-proxy/proxier_options.h"
#include "cmd/kube-proxy/proxy_health.h"
#include "cmd/kube-proxy/service_health_server.h"
#include "cmd/kube-proxy/service_health_tracker.h"
#include "cmd/kube-proxy/source_ranges_reporter.h"
#include "logging/log.h"
#include "proxier/clock.h"
#include "proxier/handlers.h"
#include "proxier/node_port_addresses.h"
#include "proxier/pass_through_policy.h"
#include "proxier/proxier.h"
#include "proxier/proxy_state.h"
#include "proxier/sync_runner.h"

namespace kproxy::daemon {
namespace {

using proxier::IpFamily;
using proxier::IpFamilyName;

IpFamily Other(IpFamily f) { return f == IpFamily::kIPv4 ? IpFamily::kIPv6 : IpFamily::kIPv4; }

// Waits up to `timeout` for SIGTERM/SIGINT (blocked by BlockTerminationSignals); returns it or 0.
int WaitForTerminationSignal(absl::Duration timeout) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGTERM || sig == SIGINT ? sig : 0;
}

// Polls `done` until it returns true, `timeout` passes (false) or a termination signal arrives
// (false, *signalled set).
bool WaitInterruptibly(const std::function<bool(absl::Duration)>& done, absl::Duration timeout, bool* signalled) {
  const absl::Time deadline = timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  while (true) {
    if (done(absl::Milliseconds(200))) return true;
    if (WaitForTerminationSignal(absl::ZeroDuration()) != 0) {
      *signalled = true;
      return false;
    }
    if (absl::Now() >= deadline) return false;
  }
}

// Process-wide: why the proxy should stop (set by the config watcher and fatal Node changes).
struct ExitRequest {
  absl::Mutex mu;
  std::optional<int> code ABSL_GUARDED_BY(mu);
  void Request(int c) {
    absl::MutexLock lock(&mu);
    if (!code.has_value()) code = c;
  }
  std::optional<int> Get() {
    absl::MutexLock lock(&mu);
    return code;
  }
};

// Delivers Services and EndpointSlices to the ProxyState of each family, counts the changes
// (kubeproxy_sync_proxy_rules_{service,endpoint}_changes_total and _pending), and logs each
// Service's pass-through decision once when it changes (and a bad annotation value once, as a
// warning), and loadBalancerSourceRanges that are not CIDRs once (warning, metric, Event).
class Fanout final : public proxier::ServiceHandler, public proxier::EndpointSliceHandler {
 public:
  // `metrics` points at the daemon's Metrics (null until the servers start).
  using InvalidSourceRangesFn = std::function<void(const proxier::ServiceName&, const std::string& message)>;
  Fanout(std::vector<proxier::ProxyState*> states, ServiceHealthTracker* health, const std::atomic<Metrics*>* metrics,
         InvalidSourceRangesFn on_invalid_source_ranges)
      : states_(std::move(states)),
        health_(health),
        metrics_(metrics),
        on_invalid_source_ranges_(std::move(on_invalid_source_ranges)) {}

  void OnServiceAdd(const proxier::Service& s) override {
    LogPassThrough(s);
    ReportSourceRanges(s);
    health_->SetService(s);
    for (auto* st : states_) st->OnServiceAdd(s);
    CountServiceChange();
  }
  void OnServiceUpdate(const proxier::Service& old_s, const proxier::Service& s) override {
    LogPassThrough(s);
    ReportSourceRanges(s);
    health_->SetService(s);
    for (auto* st : states_) st->OnServiceUpdate(old_s, s);
    CountServiceChange();
  }
  void OnServiceDelete(const proxier::Service& s) override {
    reporter_.Forget(s);
    source_ranges_.Forget(s);
    health_->DeleteService(s);
    for (auto* st : states_) st->OnServiceDelete(s);
    CountServiceChange();
  }
  void OnServicesSynced() override {
    for (auto* st : states_) st->OnServicesSynced();
  }
  void OnEndpointSliceAdd(const proxier::EndpointSlice& s) override {
    health_->SetEndpointSlice(s);
    for (auto* st : states_) st->OnEndpointSliceAdd(s);
    CountEndpointChange();
  }
  void OnEndpointSliceUpdate(const proxier::EndpointSlice& o, const proxier::EndpointSlice& s) override {
    health_->SetEndpointSlice(s);
    for (auto* st : states_) st->OnEndpointSliceUpdate(o, s);
    CountEndpointChange();
  }
  void OnEndpointSliceDelete(const proxier::EndpointSlice& s) override {
    health_->DeleteEndpointSlice(s);
    for (auto* st : states_) st->OnEndpointSliceDelete(s);
    CountEndpointChange();
  }
  void OnEndpointSlicesSynced() override {
    for (auto* st : states_) st->OnEndpointSlicesSynced();
  }

  // Sets the _pending gauges from the families' trackers (also after each sync, which takes them).
  void UpdatePending() {
    Metrics* m = metrics_->load();
    if (m == nullptr) return;
    size_t services = 0;
    size_t endpoints = 0;
    for (auto* st : states_) {
      services = std::max(services, st->PendingServiceChanges());
      endpoints = std::max(endpoints, st->PendingEndpointChanges());
    }
    m->SetServiceChangesPending(static_cast<double>(services));
    m->SetEndpointChangesPending(static_cast<double>(endpoints));
  }

  // Adds the changes counted so far to the metrics (called once they exist, then on each change).
  void Flush() {
    Metrics* m = metrics_->load();
    if (m == nullptr) return;
    if (uint64_t n = pending_service_changes_.exchange(0); n > 0) m->AddServiceChanges(static_cast<double>(n));
    if (uint64_t n = pending_endpoint_changes_.exchange(0); n > 0) m->AddEndpointChanges(static_cast<double>(n));
    if (uint64_t n = pending_invalid_source_ranges_.exchange(0); n > 0) {
      m->IncInvalidSourceRanges(static_cast<double>(n));
    }
    UpdatePending();
  }

 private:
  // Changes before the servers start (the initial list) are counted too, as upstream's trackers.
  void CountServiceChange() {
    pending_service_changes_.fetch_add(1);
    Flush();
  }
  void CountEndpointChange() {
    pending_endpoint_changes_.fetch_add(1);
    Flush();
  }

  void LogPassThrough(const proxier::Service& s) {
    PassThroughReporter::Report r = reporter_.Observe(s);
    if (r.info.has_value()) KLOG_V(2) << *r.info;
    if (r.warning.has_value()) KLOG_WARNING << *r.warning;
  }

  // The planners already ignore such entries and fail closed where none is valid; this reports it.
  void ReportSourceRanges(const proxier::Service& s) {
    std::optional<std::string> warning = source_ranges_.Observe(s);
    if (!warning.has_value()) return;
    KLOG_WARNING << *warning;
    pending_invalid_source_ranges_.fetch_add(1);
    Flush();
    if (on_invalid_source_ranges_) on_invalid_source_ranges_({s.metadata.namespace_name, s.metadata.name}, *warning);
  }

  const std::vector<proxier::ProxyState*> states_;
  ServiceHealthTracker* const health_;
  const std::atomic<Metrics*>* const metrics_;
  const InvalidSourceRangesFn on_invalid_source_ranges_;
  std::atomic<uint64_t> pending_service_changes_{0};
  std::atomic<uint64_t> pending_endpoint_changes_{0};
  std::atomic<uint64_t> pending_invalid_source_ranges_{0};
  PassThroughReporter reporter_;
  SourceRangesReporter source_ranges_;
};

// Keeps this node's Node object; tells the server when it changes after startup.
class NodeWatcher final : public proxier::NodeHandler {
 public:
  void OnNodeAdd(const proxier::Node& node) override { Set(node); }
  void OnNodeUpdate(const proxier::Node&, const proxier::Node& node) override { Set(node); }
  void OnNodeDelete(const proxier::Node&) override {
    absl::MutexLock lock(&mu_);
    node_.reset();
  }
  void OnNodeSynced() override {
    if (!synced_.HasBeenNotified()) synced_.Notify();
  }

  std::optional<proxier::Node> Get() const {
    absl::MutexLock lock(&mu_);
    return node_;
  }
  bool WaitSynced(absl::Duration timeout) { return synced_.WaitForNotificationWithTimeout(timeout); }
  void set_on_change(std::function<void(const proxier::Node&)> f) {
    absl::MutexLock lock(&mu_);
    on_change_ = std::move(f);
  }

 private:
  void Set(const proxier::Node& node) {
    std::function<void(const proxier::Node&)> cb;
    {
      absl::MutexLock lock(&mu_);
      node_ = node;
      cb = on_change_;
    }
    if (cb) cb(node);
  }

  mutable absl::Mutex mu_;
  std::optional<proxier::Node> node_ ABSL_GUARDED_BY(mu_);
  std::function<void(const proxier::Node&)> on_change_ ABSL_GUARDED_BY(mu_);
  absl::Notification synced_;
};

// The runner a --dry-run iptables proxier gets: it knows its family and refuses to touch anything.
class DryRunIptablesRunner final : public backends::iptables::IptablesRunner {
 public:
  explicit DryRunIptablesRunner(IpFamily family) : family_(family) {}
  IpFamily family() const override { return family_; }
  absl::Status Restore(absl::string_view) override { return Refuse(); }
  absl::StatusOr<absl::flat_hash_set<std::string>> ListChains(backends::iptables::Table) override { return Refuse(); }
  absl::Status EnsureRule(backends::iptables::Table, absl::string_view, const std::vector<std::string>&) override {
    return Refuse();
  }
  absl::Status EnsureChain(backends::iptables::Table, absl::string_view) override { return Refuse(); }
  absl::StatusOr<bool> ChainExists(backends::iptables::Table, absl::string_view) override { return Refuse(); }

 private:
  static absl::Status Refuse() { return absl::FailedPreconditionError("--dry-run touches no iptables state"); }
  const IpFamily family_;
};

class ProxyServer {
 public:
  ProxyServer(const Options& options, std::ostream& out)
      : o_(options),
        out_(out),
        clock_(proxier::RealClock::Get()),
        state_v4_(IpFamily::kIPv4, NodeName(options), [this] { return clock_->Now(); },
                  [this] { OnStateChange(IpFamily::kIPv4); }),
        state_v6_(IpFamily::kIPv6, NodeName(options), [this] { return clock_->Now(); },
                  [this] { OnStateChange(IpFamily::kIPv6); }),
        service_health_(NodeName(options)),
        fanout_({&state_v4_, &state_v6_}, &service_health_, &metrics_ptr_,
                [this](const proxier::ServiceName& service, const std::string& message) {
                  if (EventReporter* r = event_reporter_ptr_.load()) r->OnInvalidSourceRanges(service, message);
                }) {
    if (auto ip = proxier::IpAddress::Parse(o_.config.bind_address); ip.ok()) bind_address_ = *ip;
  }

  ~ProxyServer() { Shutdown(); }

  static std::string NodeName(const Options& o) {
    return o.config.hostname_override.empty() ? DefaultNodeName() : o.config.hostname_override;
  }

  int Run();

 private:
  absl::Status StartSource();
  absl::Status WaitForInitialSync();
  void DecideFamilies();
  absl::Status CreateProxier(bool dry_run);
  // Upstream's warning, once per process, when NodePorts are accepted on every local address.
  void WarnIfNodePortAddressesUnset() const;
  // The family's netlink conntrack client, kept in conntrack_; null (logged) when there is no
  // access: stale UDP flows are then not cleared.
  backends::conntrack::ConntrackClient* OpenConntrack(IpFamily family);
  int DryRun();
  int Once();
  int Serve();
  // /healthz, /livez and /metrics (and /configz), from the start as upstream: a slow first List
  // must not get the Pod killed by its liveness probe.
  void StartHealthAndMetrics();
  void StartServers();
  void OnStateChange(IpFamily family);
  void OnNodeChange(const proxier::Node& node);
  // Opens/closes health-check node ports and updates their local endpoint counts (after syncs).
  void SyncServiceHealth();
  // Observes one sync's outcome in the metrics.
  void RecordSync(const absl::StatusOr<proxier::SyncReport>& r, absl::Duration took);
  // Retries healthz/metrics listeners that failed (every 5 s, as upstream); main thread.
  void RetryListens();
  void Shutdown();
  proxier::ProxyState* State(IpFamily f) { return f == IpFamily::kIPv4 ? &state_v4_ : &state_v6_; }
  std::vector<proxier::NodeContext> NodeContexts(const proxier::Node* node) const {
    std::vector<proxier::NodeContext> out;
    for (IpFamily f : families_) out.push_back(BuildNodeContext(NodeName(o_), f, node, bind_address_));
    return out;
  }

  const Options& o_;
  std::ostream& out_;
  const proxier::Clock* clock_;
  std::optional<proxier::IpAddress> bind_address_;
  proxier::ProxyState state_v4_;
  proxier::ProxyState state_v6_;
  ServiceHealthTracker service_health_;
  Fanout fanout_;
  NodeWatcher node_watcher_;
  ExitRequest exit_;
  std::vector<IpFamily> families_;  // programmed families, primary first
  absl::Mutex node_mu_;
  // Per family, current (the iptables proxier reads them on each sync).
  std::vector<proxier::NodeContext> node_contexts_ ABSL_GUARDED_BY(node_mu_);
  std::vector<proxier::NodeContext> StartupContexts() {
    absl::MutexLock lock(&node_mu_);
    return node_contexts_;
  }
  std::vector<std::string> source_problems_;
  absl::Mutex problems_mu_;

  std::unique_ptr<apiclient::ObjectFileSource> file_source_;
  std::unique_ptr<apiclient::RestClient> rest_;
  std::unique_ptr<apiclient::ApiSource> api_source_;
  std::unique_ptr<apiclient::EventRecorder> events_;  // only with an API server
  std::unique_ptr<EventReporter> event_reporter_;
  std::atomic<EventReporter*> event_reporter_ptr_{nullptr};  // event_reporter_, for the source's thread
  absl::flat_hash_map<IpFamily, std::unique_ptr<backends::iptables::IptablesRestoreRunner>> runners_;
  backends::ipvs::IpvsProxier* ipvs_ = nullptr;  // proxier_ when in IPVS mode
  backends::iptables::IptablesProxier* iptables_ = nullptr;  // proxier_ when in iptables mode
  // Per family; sync thread.
  absl::flat_hash_map<IpFamily, backends::iptables::IptablesProxier::RestoreFailures> restore_failures_seen_;
  backends::nftables::NftablesProxier* nftables_ = nullptr;  // proxier_ when in nftables mode
  std::unique_ptr<backends::nftables::NftablesWriter> nft_writer_;
  backends::nftables::NftablesProxier::Failures nftables_failures_seen_;  // sync thread
  absl::Status CreateNftablesProxier(bool dry_run);

  std::vector<std::unique_ptr<backends::iptables::IptablesRunner>> dry_run_runners_;
  std::vector<std::unique_ptr<backends::conntrack::ConntrackClient>> conntrack_;
  std::unique_ptr<proxier::Proxier> proxier_;
  std::atomic<proxier::SyncRunner*> runner_ptr_{nullptr};
  std::unique_ptr<proxier::SyncRunner> runner_;
  std::unique_ptr<ConfigFileWatcher> config_watcher_;
  std::unique_ptr<ProxyHealth> health_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HealthServer> health_server_;
  std::unique_ptr<ServiceHealthServer> service_health_server_;
  std::unique_ptr<Metrics> metrics_;
  std::atomic<Metrics*> metrics_ptr_{nullptr};  // metrics_, for the source's thread
  std::unique_ptr<MetricsServer> metrics_server_;
  std::atomic<bool> health_ready_{false};
  // healthz/metrics listeners that could not bind yet (bindAddressHardFail false); main thread.
  struct PendingListen {
    std::string what;
    std::string address;
    std::function<absl::Status()> listen;
  };
  std::vector<PendingListen> pending_listens_;
  absl::Time next_listen_retry_ = absl::InfiniteFuture();
  bool shut_down_ = false;  // main thread only
};

void ProxyServer::OnStateChange(IpFamily family) {
  if (health_ready_.load() && health_ != nullptr) health_->QueuedUpdate(family);
  if (Metrics* m = metrics_ptr_.load()) m->SetSyncProxyRulesLastQueuedTimestamp(family, absl::Now());
  if (proxier::SyncRunner* r = runner_ptr_.load()) r->Kick();
}

absl::Status ProxyServer::StartSource() {
  if (!o_.objects.empty()) {
    apiclient::ObjectFileSourceOptions fo;
    fo.path = o_.objects;
    fo.node_name = NodeName(o_);
    fo.on_rejected = [this](absl::string_view file, absl::string_view message) {
      KLOG_WARNING << "Skipped object in " << file << ": " << message;
      // Messages start with the kind ("Service default/web: spec.ports[0]...").
      if (Metrics* m = metrics_ptr_.load()) {
        absl::string_view kind = message.substr(0, message.find(' '));
        if (kind == "Service" || kind == "EndpointSlice" || kind == "Node") m->IncObjectsRejected(kind);
      }
      absl::MutexLock lock(&problems_mu_);
      source_problems_.push_back(absl::StrCat(file, ": ", message));
    };
    auto src = apiclient::ObjectFileSource::Create(fo, &fanout_, &fanout_, &node_watcher_);
    if (!src.ok()) return absl::Status(src.status().code(), absl::StrCat("--objects: ", src.status().message()));
    file_source_ = *std::move(src);
    event_reporter_ = std::make_unique<EventReporter>(nullptr);  // no API server: log only
    event_reporter_ptr_ = event_reporter_.get();
    if (absl::Status s = file_source_->LoadOnce(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--objects ", o_.objects, ": ", s.message()));
    }
    return absl::OkStatus();
  }
  apiclient::ConnectionFlags flags;
  flags.kubeconfig = o_.config.client_connection.kubeconfig;
  flags.master = o_.master;
  flags.qps = o_.config.client_connection.qps;
  flags.burst = o_.config.client_connection.burst;
  flags.content_type = o_.config.client_connection.content_type;
  auto cc = apiclient::BuildClientConfig(flags);
  if (!cc.ok()) return cc.status();
  KLOG_INFO << "Connecting to the API server: " << cc->DebugString();
  apiclient::RestClientOptions rest_options;
  rest_options.on_request = [this](const apiclient::RequestOutcome& o) {
    if (Metrics* m = metrics_ptr_.load()) m->ObserveRestClientRequest(o.method, o.host, o.status, o.duration, o.stream);
  };
  auto rest = apiclient::RestClient::Create(*cc, rest_options);
  if (!rest.ok()) return rest.status();
  rest_ = *std::move(rest);
  apiclient::ApiSourceOptions ao;
  ao.node_name = NodeName(o_);
  auto src = apiclient::ApiSource::Create(rest_.get(), ao, &fanout_, &fanout_, &node_watcher_);
  if (!src.ok()) return src.status();
  api_source_ = *std::move(src);
  api_source_->Start();
  if (!o_.dry_run) {
    events_ = std::make_unique<apiclient::EventRecorder>(rest_.get(),
                                                         apiclient::EventRecorderOptions{.node_name = NodeName(o_)});
    events_->Start();
    event_reporter_ = std::make_unique<EventReporter>(
        [this](const proxier::ServiceName& service, absl::string_view reason, absl::string_view action,
               absl::string_view note) {
          apiclient::ObjectReference ref;
          ref.namespace_name = service.namespace_name;
          ref.name = service.name;
          events_->Warning(ref, reason, action, note);
        });
    event_reporter_ptr_ = event_reporter_.get();
  }
  return absl::OkStatus();
}

absl::Status ProxyServer::WaitForInitialSync() {
  // Upstream waits (bounded) for the Node before creating the proxier; without it node IPs and
  // topology labels are unknown, which it logs and tolerates.
  bool signalled = false;
  auto node_listed = [this](absl::Duration d) {
    RetryListens();
    return exit_.Get().has_value() || node_watcher_.WaitSynced(d);
  };
  if (!WaitInterruptibly(node_listed, absl::Seconds(30), &signalled)) {
    if (signalled) return absl::CancelledError("stopped by a signal while waiting for the Node");
    KLOG_WARNING << "Node " << NodeName(o_) << " not listed within 30s; continuing without node IPs";
  }
  if (!node_watcher_.Get().has_value()) {
    if (o_.config.detect_local_mode == "NodeCIDR") {
      return absl::FailedPreconditionError(absl::StrCat("detectLocalMode NodeCIDR needs the Node object of ", NodeName(o_),
                                                        ", which was not found"));
    }
    KLOG_WARNING << "Node " << NodeName(o_)
                 << " not found: node IPs, zone and pod CIDRs are unknown (use --hostname-override to name it)";
  }
  return absl::OkStatus();
}

void ProxyServer::DecideFamilies() {
  std::optional<proxier::Node> node = node_watcher_.Get();
  IpFamily primary = PrimaryFamily(node ? &*node : nullptr, bind_address_);
  families_ = {primary};
  IpFamily secondary = Other(primary);
  if (o_.dry_run) {
    // Nothing to probe: show the secondary family when the Node or the objects use it.
    bool used = !BuildNodeContext(NodeName(o_), secondary, node ? &*node : nullptr, bind_address_).node_ips.empty() || !State(secondary)->TakeSnapshot().snapshot->services.empty();
    if (used) families_.push_back(secondary);
  } else {
    // Dual-stack when the secondary family's iptables tooling works, as upstream.
    auto variant = backends::iptables::ParseIptablesVariant(o_.iptables_variant);
    for (IpFamily f : {primary, secondary}) {
      auto runner = backends::iptables::IptablesRestoreRunner::Create(f, variant.ok() ? *variant : backends::iptables::IptablesVariant::kAuto);
      if (!runner.ok()) {
        KLOG_WARNING << "No " << IpFamilyName(f) << " iptables support: " << runner.status().message();
        continue;
      }
      auto probe = (*runner)->ListChains(backends::iptables::Table::kNat);
      if (!probe.ok()) {
        KLOG_WARNING << "No " << IpFamilyName(f) << " iptables support: " << probe.status().message();
        continue;
      }
      (*runner)->set_fallback_observer([this](absl::string_view reason) {
        if (Metrics* m = metrics_ptr_.load()) m->IncIptablesNftDirectFallbacks(reason);
      });
      runners_[f] = *std::move(runner);
      if (f == secondary) families_.push_back(secondary);
    }
    // nftables mode needs no iptables tools (they only serve the leftover cleanup): dual-stack
    // when the kernel has IPv6.
    const bool has_secondary = std::find(families_.begin(), families_.end(), secondary) != families_.end();
    if (o_.config.mode == "nftables" && !has_secondary &&
        (secondary == IpFamily::kIPv4 || access("/proc/net/if_inet6", F_OK) == 0)) {
      families_.push_back(secondary);
    }
  }
  {
    absl::MutexLock lock(&node_mu_);
    node_contexts_ = NodeContexts(node ? &*node : nullptr);
  }
  std::vector<std::string> names;
  for (IpFamily f : families_) names.push_back(std::string(IpFamilyName(f)));
  KLOG_INFO << "Using " << (families_.size() == 2 ? "dual-stack" : "single-stack") << " mode, families "
            << absl::StrJoin(names, ", ") << " (primary " << IpFamilyName(primary) << "), node " << NodeName(o_);
}

void ProxyServer::WarnIfNodePortAddressesUnset() const {
  if (!o_.config.node_port_addresses.empty()) return;
  KLOG_WARNING << "nodePortAddresses is unset; NodePort connections will be accepted on all local IPs. "
               << "Consider using --nodeport-addresses primary";
}

backends::conntrack::ConntrackClient* ProxyServer::OpenConntrack(IpFamily family) {
  auto ct = backends::conntrack::NetlinkConntrackClient::Create(family);
  if (!ct.ok()) {
    KLOG_WARNING << "No " << IpFamilyName(family)
                 << " conntrack access (stale UDP flows will not be cleared): " << ct.status().message();
    return nullptr;
  }
  conntrack_.push_back(*std::move(ct));
  return conntrack_.back().get();
}

absl::Status ProxyServer::CreateNftablesProxier(bool dry_run) {
  std::vector<backends::nftables::NftablesFamilyConfig> fams;
  std::vector<proxier::NodeContext> contexts = StartupContexts();
  if (!dry_run) {
    auto writer = backends::nftables::NetlinkNftablesWriter::Create();
    if (!writer.ok()) {
      return absl::Status(writer.status().code(), absl::StrCat("nftables mode: ", writer.status().message()));
    }
    nft_writer_ = *std::move(writer);
  }
  // Upstream's nftables mode defaults nodePortAddresses to the node's primary IPs.
  const std::vector<std::string> node_port_addresses =
      o_.config.node_port_addresses.empty() ? std::vector<std::string>{"primary"} : o_.config.node_port_addresses;
  for (size_t i = 0; i < families_.size(); ++i) {
    const IpFamily family = families_[i];
    backends::nftables::NftablesFamilyConfig f;
    f.family = family;
    f.state = State(family);
    f.node_context = [this, i] {
      absl::MutexLock lock(&node_mu_);
      return node_contexts_[i];
    };
    proxier::nftables::NftablesPlannerOptions& pc = f.planner;
    pc.masquerade_bit = o_.config.nftables.masquerade_bit;
    // --masquerade-all sets iptables.masqueradeAll; upstream applies it to every mode.
    pc.masquerade_all = o_.config.nftables.masquerade_all || o_.config.iptables.masquerade_all;
    // Selected again at each sync from the interface addresses (NftablesProxier).
    auto npa = proxier::NodePortAddresses::Create(family, node_port_addresses, contexts[i].node_ips);
    if (!npa.ok()) return npa.status();
    f.node_port_addresses = *std::move(npa);
    f.local_addresses = [] { return LocalInterfaceAddresses(); };
    for (const proxier::Cidr& cidr : ClusterCidrs(o_.config.cluster_cidr)) {
      if (cidr.family() == family) pc.cluster_cidrs.push_back(cidr);
    }
    pc.local_detect_mode = LocalDetectModeFrom(o_.config.detect_local_mode);
    pc.bridge_interface = o_.config.detect_local.bridge_interface;
    pc.interface_name_prefix = o_.config.detect_local.interface_name_prefix;
    if (!dry_run) {
      f.writer = nft_writer_.get();
      f.conntrack = OpenConntrack(family);
    }
    fams.push_back(std::move(f));
  }
  auto p = std::make_unique<backends::nftables::NftablesProxier>(std::move(fams));
  nftables_ = p.get();
  proxier_ = std::move(p);
  return absl::OkStatus();
}

absl::Status ProxyServer::CreateProxier(bool dry_run) {
  const std::string& mode = o_.config.mode;
  if (mode == "nftables") return CreateNftablesProxier(dry_run);
  if (mode == "ipvs") {
    backends::ipvs::IpvsProxierOptions opts = IpvsProxierOptionsFrom(o_.config);
    opts.dry_run = dry_run;
    backends::ipvs::IpvsKernel kernel;
    if (!dry_run) {
      auto k = backends::ipvs::CreateNetlinkIpvsKernel();
      if (!k.ok()) return absl::Status(k.status().code(), absl::StrCat("IPVS mode: ", k.status().message()));
      kernel = *std::move(k);
    }
    std::vector<backends::ipvs::IpvsFamily> fams;
    for (size_t i = 0; i < families_.size(); ++i) {
      backends::ipvs::IpvsFamily f;
      f.state = State(families_[i]);
      f.node = StartupContexts()[i];
      if (auto it = runners_.find(families_[i]); it != runners_.end()) f.iptables = it->second.get();
      if (!dry_run && f.iptables == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat("IPVS mode: no working ", IpFamilyName(families_[i]), " iptables"));
      }
      // Resolved at each sync from the addresses the proxier reads then (they change), as upstream.
      if (absl::Status s = proxier::NodePortAddresses::Validate(o_.config.node_port_addresses); !s.ok()) return s;
      f.node_port_addresses = [npa = o_.config.node_port_addresses](
                                  const proxier::NodeContext& node,
                                  const absl::btree_set<proxier::IpAddress>& local) {
        return IpvsNodePortAddresses(npa, node, std::vector<proxier::IpAddress>(local.begin(), local.end()));
      };
      if (i == 0 && !dry_run) WarnIfNodePortAddressesUnset();
      if (!dry_run) {
        f.conntrack = OpenConntrack(families_[i]);
      }
      fams.push_back(std::move(f));
    }
    // The proxier logs each new conflict itself; here the metric and one Event per new conflict.
    opts.on_conflicts = [this](IpFamily family, const std::vector<proxier::PassThroughConflict>& conflicts) {
      const size_t fresh = event_reporter_ ? event_reporter_->OnConflicts(family, conflicts) : conflicts.size();
      if (metrics_ && fresh > 0) metrics_->IncPassThroughConflicts(static_cast<double>(fresh));
    };
    auto p = backends::ipvs::IpvsProxier::Create(std::move(fams), std::move(kernel), std::move(opts));
    if (!p.ok()) return absl::Status(p.status().code(), absl::StrCat("IPVS mode: ", p.status().message()));
    ipvs_ = p->get();
    proxier_ = *std::move(p);
    return absl::OkStatus();
  }
  if (mode == "iptables") {
    std::vector<backends::iptables::IptablesFamilyConfig> fams;
    std::vector<proxier::NodeContext> contexts = StartupContexts();
    for (size_t i = 0; i < families_.size(); ++i) {
      const IpFamily family = families_[i];
      backends::iptables::IptablesFamilyConfig f;
      f.state = State(family);
      f.node_context = [this, i] {
        absl::MutexLock lock(&node_mu_);
        return node_contexts_[i];
      };
      proxier::iptables::IptablesPlannerConfig& pc = f.planner;
      pc.family = family;
      pc.masquerade_bit = o_.config.iptables.masquerade_bit;
      pc.masquerade_all = o_.config.iptables.masquerade_all;
      pc.localhost_node_ports = o_.config.iptables.localhost_node_ports;
      // "primary" is fixed by the startup node IPs (a change of those restarts the proxy); which
      // addresses the CIDRs select is decided again at every sync (the proxier logs it).
      auto npa = proxier::NodePortAddresses::Create(family, o_.config.node_port_addresses, contexts[i].node_ips);
      if (!npa.ok()) return npa.status();
      pc.node_port_addresses = *npa;
      f.local_addresses = [] { return LocalInterfaceAddresses(); };
      if (i == 0 && !dry_run) WarnIfNodePortAddressesUnset();
      if (!dry_run && family == IpFamily::kIPv4 && pc.localhost_node_ports && npa->ContainsIPv4Loopback()) {
        // NodePorts on 127.0.0.1 need the kernel to route loopback-destined packets after DNAT, as
        // upstream; CIDRs that leave out loopback leave the sysctl alone.
        if (absl::Status s = WriteSysctl("/proc", {"net/ipv4/conf/all/route_localnet", 1}); !s.ok()) {
          return absl::Status(s.code(), absl::StrCat("iptables mode (localhost NodePorts): ", s.message()));
        }
      }
      for (const proxier::Cidr& cidr : ClusterCidrs(o_.config.cluster_cidr)) {
        if (cidr.family() == family) pc.cluster_cidrs.push_back(cidr);
      }
      pc.local_detect_mode = LocalDetectModeFrom(o_.config.detect_local_mode);
      pc.bridge_interface = o_.config.detect_local.bridge_interface;
      pc.interface_name_prefix = o_.config.detect_local.interface_name_prefix;
      pc.conntrack_tcp_be_liberal = o_.config.conntrack.tcp_be_liberal;
      pc.masquerade_random_fully = MasqueradeRandomFully();
      if (dry_run) {
        dry_run_runners_.push_back(std::make_unique<DryRunIptablesRunner>(family));
        f.runner = dry_run_runners_.back().get();
      } else {
        auto it = runners_.find(family);
        if (it == runners_.end()) {
          return absl::FailedPreconditionError(absl::StrCat("iptables mode: no working ", IpFamilyName(family), " iptables"));
        }
        f.runner = it->second.get();
        f.conntrack = OpenConntrack(family);
      }
      fams.push_back(std::move(f));
    }
    backends::iptables::IptablesProxierOptions popts;
    popts.canary_check_interval = o_.config.SyncPeriod();  // upstream's canary monitor period
    auto p = std::make_unique<backends::iptables::IptablesProxier>(std::move(fams), popts);
    iptables_ = p.get();
    proxier_ = std::move(p);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("proxy mode \"", mode, "\" is not supported"));
}

namespace {
// IPVS state that cannot be removed (no IPVS in this kernel, no ipset tool) is not a cleanup
// failure: nothing of it can be acting on traffic.
absl::Status CleanupIpvsTolerantly() {
  if (absl::Status ipvs = backends::ipvs::CleanupIpvs(nullptr); !ipvs.ok()) {
    KLOG_WARNING << "Cleanup of IPVS state: " << ipvs.message();
  }
  return absl::OkStatus();
}

// Removes what the other proxy modes left before the first sync, as upstream's platformCleanup.
void CleanupOtherModesAtStart(
    const std::string& mode,
    const absl::flat_hash_map<IpFamily, std::unique_ptr<backends::iptables::IptablesRestoreRunner>>&
        runners) {
  std::vector<backends::iptables::IptablesRunner*> families;
  for (const auto& [family, runner] : runners) families.push_back(runner.get());
  // Failures were logged; the proxy still starts, as upstream.
  (void)CleanupOtherModes(mode, families, CleanupIpvsTolerantly, backends::nftables::CleanupNftables);
}

// This process's own peak (iptables-restore's is its own: `time -v` would report the larger).
std::string PeakRssText() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return absl::StrCat("peak RSS of this process: ", usage.ru_maxrss, " KiB");
}
}  // namespace

int ProxyServer::DryRun() {
  std::optional<proxier::Node> node = node_watcher_.Get();
  DryRunInput in;
  in.node_name = NodeName(o_);
  in.node_found = node.has_value();
  in.mode = o_.config.mode;
  {
    absl::MutexLock lock(&problems_mu_);
    in.problems = source_problems_;
  }
  std::vector<proxier::ProxyState::Taken> taken;
  for (size_t i = 0; i < families_.size(); ++i) taken.push_back(State(families_[i])->TakeSnapshot());
  std::vector<proxier::NodeContext> contexts = StartupContexts();
  for (size_t i = 0; i < families_.size(); ++i) in.families.push_back({taken[i].snapshot.get(), contexts[i]});
  out_ << RenderDryRunSummary(in);
  absl::Status s = CreateProxier(/*dry_run=*/true);
  if (!s.ok()) {
    out_ << "\n=== " << o_.config.mode << " rules: not available: " << s.message() << " ===\n";
    out_.flush();
    return 0;
  }
  auto text = proxier_->DryRun();
  if (!text.ok()) {
    out_ << "\n=== " << o_.config.mode << " rules: planning failed: " << text.status().message() << " ===\n";
    out_.flush();
    return 1;
  }
  out_ << "\n=== what a full sync would write (" << o_.config.mode << " mode; nothing was written) ===\n" << *text;
  out_.flush();
  KLOG_INFO << "--dry-run: " << PeakRssText();
  return 0;
}

int ProxyServer::Once() {
  CleanupOtherModesAtStart(o_.config.mode, runners_);
  if (absl::Status s = CreateProxier(/*dry_run=*/false); !s.ok()) {
    KLOG_ERROR << "--once: " << s.message();
    std::cerr << "kube-proxy --once: not applied: " << s.message() << "\n";
    return 1;
  }
  auto report = proxier_->Sync();
  if (!report.ok()) {
    std::cerr << "kube-proxy --once: sync failed, previous rules left in place: " << report.status().message() << "\n";
    return 1;
  }
  KLOG_INFO << "--once: rules applied (" << (report->full ? "full" : "partial") << " sync, "
            << report->changed_services << " Services): " << report->detail << "; " << PeakRssText();
  return 0;
}

void ProxyServer::StartHealthAndMetrics() {
  metrics_ = std::make_unique<Metrics>(o_.config.mode);
  metrics_ptr_ = metrics_.get();
  fanout_.Flush();  // changes counted so far
  health_ = std::make_unique<ProxyHealth>(2 * o_.config.SyncPeriod());
  auto http = HttpServer::Create();
  if (!http.ok()) {
    KLOG_ERROR << "Health/metrics HTTP server unavailable: " << http.status().message();
    if (o_.config.bind_address_hard_fail) exit_.Request(1);
    return;
  }
  http_ = *std::move(http);
  // A listener that cannot bind is fatal with bindAddressHardFail, else retried every 5 s
  // (upstream's serveHealthz / serveMetrics loops).
  auto listen = [this](absl::string_view what, const std::string& address,
                       const std::function<absl::StatusOr<int>(const std::string&, int)>& fn) {
    if (address.empty()) return;
    auto hp = SplitHostPort(address);
    if (!hp.ok()) {
      KLOG_ERROR << "Failed to start " << what << " server on " << address << ": " << hp.status().message();
      exit_.Request(1);  // validation accepted it, so this cannot happen; never retry it
      return;
    }
    pending_listens_.push_back({std::string(what), address, [fn, host = hp->first, port = hp->second] {
                                  return fn(host, port).status();
                                }});
  };
  health_server_ = std::make_unique<HealthServer>(http_.get(), health_.get(), metrics_.get());
  listen("healthz", o_.config.healthz_bind_address,
         [this](const std::string& h, int p) { return health_server_->Listen(h, p); });
  const std::string configz = absl::StrCat("{\"kubeproxy.config.k8s.io\":", ConfigurationToJson(o_.config), "}");
  metrics_server_ = std::make_unique<MetricsServer>(http_.get(), metrics_.get(), o_.config.mode,
                                                    [configz] { return configz; });
  listen("metrics", o_.config.metrics_bind_address,
         [this](const std::string& h, int p) { return metrics_server_->Listen(h, p); });
  next_listen_retry_ = absl::InfinitePast();
  RetryListens();
  if (absl::Status s = http_->Start(); !s.ok()) KLOG_ERROR << "HTTP server: " << s.message();
}

void ProxyServer::StartServers() {
  fanout_.Flush();  // the initial list's changes
  if (auto node = node_watcher_.Get(); node.has_value()) health_->SyncNode(*node);
  for (IpFamily f : families_) health_->Updated(f);  // the sync loop starts now, as upstream
  health_ready_ = true;
  for (IpFamily f : families_) metrics_->AddFamily(f);
  if (http_ == nullptr) return;
  // Health-check node ports listen on the addresses nodePortAddresses selects at startup (on none
  // when it selects none), and on every address when it restricts no family (upstream).
  std::optional<std::vector<std::string>> bind_hosts;
  if (!o_.config.node_port_addresses.empty()) {
    const absl::StatusOr<std::vector<proxier::IpAddress>> local = LocalInterfaceAddresses();
    if (!local.ok()) KLOG_ERROR << "Health-check node ports: " << local.status();
    for (const proxier::NodeContext& ctx : StartupContexts()) {
      auto npa = proxier::NodePortAddresses::Create(ctx.family, o_.config.node_port_addresses, ctx.node_ips);
      if (!npa.ok() || npa->MatchAll()) continue;  // validated at startup
      if (!bind_hosts.has_value()) bind_hosts.emplace();
      for (const auto& ip : npa->Select(local.ok() ? *local : std::vector<proxier::IpAddress>{})) {
        bind_hosts->push_back(ip.ToString());
      }
    }
  }
  service_health_server_ = std::make_unique<ServiceHealthServer>(
      http_.get(), bind_hosts, [this] { return health_->IsHealthy(); }, NodeName(o_),
      [this](const proxier::ServiceName& service, const std::string& message) {
        if (event_reporter_) event_reporter_->OnHealthCheckListenFailure(service, message);
      });
  SyncServiceHealth();
}

void ProxyServer::RetryListens() {
  if (pending_listens_.empty() || absl::Now() < next_listen_retry_) return;
  std::vector<PendingListen> failed;
  for (PendingListen& p : pending_listens_) {
    absl::Status s = p.listen();
    if (s.ok()) {
      KLOG_INFO << "Serving " << p.what << " on " << p.address;
      continue;
    }
    if (o_.config.bind_address_hard_fail) {
      KLOG_ERROR << "Failed to start " << p.what << " server on " << p.address << ": " << s.message()
                 << " (bindAddressHardFail: exiting)";
      exit_.Request(1);
      return;
    }
    KLOG_ERROR << "Failed to start " << p.what << " server on " << p.address << ": " << s.message()
               << "; retrying in 5s";
    failed.push_back(std::move(p));
  }
  pending_listens_ = std::move(failed);
  next_listen_retry_ = absl::Now() + absl::Seconds(5);
}

void ProxyServer::SyncServiceHealth() {
  if (service_health_server_ == nullptr) return;
  if (absl::Status s = service_health_server_->SyncServices(service_health_.HealthCheckPorts()); !s.ok()) {
    KLOG_ERROR << "Health-check node ports: " << s.message();
  }
  service_health_server_->SyncEndpoints(service_health_.LocalReadyEndpoints());
}

void ProxyServer::OnNodeChange(const proxier::Node& node) {
  if (health_ready_.load()) health_->SyncNode(node);
  std::vector<proxier::NodeContext> now = NodeContexts(&node);
  std::vector<proxier::NodeContext> before = StartupContexts();
  for (size_t i = 0; i < now.size() && i < before.size(); ++i) {
    if (now[i].node_ips != before[i].node_ips) {
      // Upstream's NodeManager exits too: the DaemonSet restarts the proxy with the new IPs.
      KLOG_ERROR << "The node's " << IpFamilyName(now[i].family) << " IPs changed; exiting so the proxy restarts with them";
      exit_.Request(1);
      return;
    }
  }
  if (o_.config.detect_local_mode == "NodeCIDR") {
    for (size_t i = 0; i < now.size() && i < before.size(); ++i) {
      if (now[i].pod_cidrs != before[i].pod_cidrs) {
        // Local-traffic detection was built from the old podCIDRs; upstream exits as well.
        KLOG_ERROR << "The node's podCIDRs changed (detectLocalMode NodeCIDR); exiting so the proxy restarts with them";
        exit_.Request(1);
        return;
      }
    }
  }
  bool changed = false;
  for (size_t i = 0; i < now.size() && i < before.size(); ++i) {
    changed = changed || NodeContextChanged(now[i], before[i]);
  }
  if (!changed || proxier_ == nullptr) return;
  KLOG_INFO << "Node " << NodeName(o_) << " labels or pod CIDRs changed; forcing a full sync";
  if (ipvs_ != nullptr) {
    for (const auto& ctx : now) ipvs_->SetNodeContext(ctx);
  }
  {
    absl::MutexLock lock(&node_mu_);
    node_contexts_ = now;
  }
  proxier_->ForceFullSync();
  if (proxier::SyncRunner* r = runner_ptr_.load()) r->Kick();
}

void ProxyServer::RecordSync(const absl::StatusOr<proxier::SyncReport>& r, absl::Duration took) {
  if (r.ok()) {
    // One sync programs every family; each family's series gets it, as each of upstream's
    // per-family proxiers observes its own.
    for (IpFamily family : r->families) {
      metrics_->ObserveSyncProxyRules(family, took, r->full);
      metrics_->SetSyncProxyRulesLastTimestamp(family, absl::Now());
    }
    // What was programmed (IPVS: after each ELB's setting was enforced), not what was asked for.
    if (r->pass_through_services.has_value()) {
      metrics_->SetPassThroughServices(static_cast<double>(r->pass_through_services->size()));
    }
    for (const proxier::ConntrackCleanupReport& cleanup : r->conntrack_cleanups) {
      metrics_->ObserveConntrackReconcilerSync(cleanup.family, cleanup.duration);
      metrics_->AddConntrackReconcilerDeletedEntries(cleanup.family, static_cast<double>(cleanup.deleted));
    }
    for (const auto& [family, tables] : r->iptables_rules_total) {
      for (const auto& [table, n] : tables) metrics_->SetIptablesRulesTotal(family, table, static_cast<double>(n));
    }
    for (const auto& [family, tables] : r->iptables_rules_written) {
      for (const auto& [table, n] : tables) metrics_->SetIptablesRulesLast(family, table, static_cast<double>(n));
    }
    for (const auto& [family, policies] : r->no_local_endpoints) {
      for (const auto& [policy, n] : policies) metrics_->SetNoLocalEndpoints(family, policy, static_cast<double>(n));
    }
  } else {
    metrics_->IncSyncProxyRulesFailures();
  }
  fanout_.UpdatePending();  // the sync took the pending changes
  for (IpFamily family : iptables_ != nullptr ? families_ : std::vector<IpFamily>{}) {
    const auto now = iptables_->restore_failures(family);
    auto& seen = restore_failures_seen_[family];
    for (uint64_t i = seen.total; i < now.total; ++i) metrics_->IncIptablesRestoreFailures(family);
    for (uint64_t i = seen.partial; i < now.partial; ++i) metrics_->IncIptablesPartialRestoreFailures(family);
    seen = now;
  }
  if (nftables_ != nullptr) {
    const auto now = nftables_->failures();
    for (uint64_t i = nftables_failures_seen_.sync; i < now.sync; ++i) metrics_->IncNftablesSyncFailures();
    for (uint64_t i = nftables_failures_seen_.cleanup; i < now.cleanup; ++i) metrics_->IncNftablesCleanupFailures();
    nftables_failures_seen_ = now;
  }
}

int ProxyServer::Serve() {
  CleanupOtherModesAtStart(o_.config.mode, runners_);
  if (absl::Status s = CreateProxier(/*dry_run=*/false); !s.ok()) {
    KLOG_ERROR << "Cannot start the proxy: " << s.message();
    return 1;
  }
  StartServers();
  runner_ = std::make_unique<proxier::SyncRunner>(clock_, o_.config.MinSyncPeriod(), o_.config.SyncPeriod(),
                                                  [this] { return proxier_->Sync(); });
  runner_->set_result_observer([this](const absl::StatusOr<proxier::SyncReport>& r, absl::Duration took) {
    if (r.ok()) {
      KLOG_V(2) << "Synced proxy rules in " << absl::FormatDuration(took) << " (" << (r->full ? "full" : "partial")
                << ", " << r->changed_services << " Services): " << r->detail;
      for (IpFamily f : families_) health_->Updated(f);
      SyncServiceHealth();
    } else {
      KLOG_ERROR << "Sync failed (previous rules left in place, retrying with backoff): " << r.status().message();
    }
    RecordSync(r, took);
  });
  runner_->set_latency_observer(
      [this](IpFamily family, absl::Duration d) { metrics_->ObserveNetworkProgramming(family, d); });
  runner_ptr_ = runner_.get();
  node_watcher_.set_on_change([this](const proxier::Node& n) { OnNodeChange(n); });
  if (file_source_ != nullptr) {
    if (absl::Status s = file_source_->Run(); !s.ok()) KLOG_ERROR << "--objects: " << s.message();
  }
  runner_->Start();
  runner_->Kick();  // the first sync; the sources reported Services and EndpointSlices synced
  KLOG_INFO << "kube-proxy running in " << o_.config.mode << " mode; SIGTERM/SIGINT stop it and leave the rules in place";

  int code = 0;
  while (true) {
    if (auto c = exit_.Get(); c.has_value()) {
      code = *c;
      break;
    }
    RetryListens();
    int sig = WaitForTerminationSignal(absl::Milliseconds(200));
    if (sig != 0) {
      KLOG_INFO << "Received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << "; stopping (rules stay in place)";
      break;
    }
  }
  Shutdown();
  return code;
}

void ProxyServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (config_watcher_) config_watcher_->Stop();
  runner_ptr_ = nullptr;
  if (runner_) runner_->Stop();
  if (file_source_) file_source_->Stop();
  if (api_source_) api_source_->Stop();
  if (events_) events_->Stop();
  service_health_server_.reset();
  if (health_server_) health_server_->Close();
  if (metrics_server_) metrics_server_->Close();
  if (http_) http_->Stop();
}

int ProxyServer::Run() {
  if (!o_.dry_run) {
    ApplyProcessSetup(o_.config);
    // Thousands of health-check ports need file descriptors; Go raises the soft limit at start-up.
    if (auto limit = RaiseOpenFileLimit(); limit.ok()) {
      KLOG_V(2) << "Open file limit: " << *limit;
    } else {
      KLOG_WARNING << "Could not raise the open file limit: " << limit.status().message();
    }
  }
  if (!o_.dry_run && !o_.once) {
    // Watched from the start: a change during a slow first List must restart the proxy too.
    if (!o_.config_file.empty()) {
      config_watcher_ = std::make_unique<ConfigFileWatcher>(o_.config_file, absl::Seconds(2), [this] {
        KLOG_ERROR << "The configuration file " << o_.config_file << " changed; exiting so the proxy restarts with it";
        exit_.Request(1);
      });
      config_watcher_->Start();
    }
    StartHealthAndMetrics();
  }
  if (absl::Status s = StartSource(); !s.ok()) {
    KLOG_ERROR << s.message();
    std::cerr << "kube-proxy: " << s.message() << "\n";
    return 1;
  }
  if (api_source_ != nullptr) {
    // The first sync waits until Services and EndpointSlices were listed, as upstream.
    const absl::Duration timeout = (o_.once || o_.dry_run) ? absl::Seconds(60) : absl::InfiniteDuration();
    bool signalled = false;
    auto listed_or_exit = [this](absl::Duration d) {
      RetryListens();
      return exit_.Get().has_value() || api_source_->WaitForSync(d);
    };
    if (!WaitInterruptibly(listed_or_exit, timeout, &signalled)) {
      if (signalled) {
        KLOG_INFO << "Stopped by a signal before the first sync";
        return 0;
      }
      std::cerr << "kube-proxy: Services and EndpointSlices were not listed within " << absl::FormatDuration(timeout) << "\n";
      return 1;
    }
    if (auto code = exit_.Get(); code.has_value()) return *code;
  }
  if (absl::Status s = WaitForInitialSync(); !s.ok()) {
    if (absl::IsCancelled(s)) return 0;
    std::cerr << "kube-proxy: " << s.message() << "\n";
    return 1;
  }
  if (auto code = exit_.Get(); code.has_value()) return *code;
  DecideFamilies();
  if (o_.dry_run) return DryRun();
  if (o_.once) return Once();
  return Serve();
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int RunProxy(const Options& options, std::ostream& out) {
  ProxyServer server(options, out);
  return server.Run();
}

int RunCleanup(const Options& options) {
  auto variant = backends::iptables::ParseIptablesVariant(options.iptables_variant);
  std::vector<std::unique_ptr<backends::iptables::IptablesRestoreRunner>> runners;
  std::vector<backends::iptables::IptablesRunner*> families;
  for (IpFamily f : {IpFamily::kIPv4, IpFamily::kIPv6}) {
    auto runner = backends::iptables::IptablesRestoreRunner::Create(
        f, variant.ok() ? *variant : backends::iptables::IptablesVariant::kAuto);
    if (!runner.ok()) {
      KLOG_INFO << "Cleanup: no " << IpFamilyName(f) << " iptables tools (" << runner.status().message() << "); skipped";
      continue;
    }
    runners.push_back(*std::move(runner));
    families.push_back(runners.back().get());
  }
  // IPVS state goes once both families' rules are gone, so no ipset is in use any more.
  absl::Status s = CleanupProxyRules(families, CleanupIpvsTolerantly);
  if (absl::Status nft = backends::nftables::CleanupNftables(); !nft.ok() && s.ok()) s = nft;
  if (!s.ok()) {
    std::cerr << "kube-proxy --cleanup: some rules could not be removed (see the log)\n";
    return 1;
  }
  KLOG_INFO << "Cleanup done";
  return 0;
}

}  // namespace kproxy::daemon
