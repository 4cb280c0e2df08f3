// ProxyHealth: the proxy's own health state behind /healthz, /livez and the per-Service health
// checks (upstream's ProxyHealthServer minus the HTTP part), driven by an injected clock.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proxier/api_types.h"
#include "proxier/clock.h"
#include "proxier/ip_address.h"

namespace kproxy::daemon {

// The taint the Cluster Autoscaler puts on a node it is about to delete.
inline constexpr char kToBeDeletedTaint[] = "ToBeDeletedByClusterAutoscaler";

// A snapshot of the proxy's health at one instant.
struct ProxyHealthStatus {
  // True when no IP family has an update queued for longer than the health timeout.
  bool healthy = true;
  // When unhealthy: the last successful sync of the (first) late family; when healthy: the most
  // recent sync of any family. absl::InfinitePast() when no family has synced yet.
  absl::Time last_updated = absl::InfinitePast();
  absl::Time current_time = absl::InfinitePast();
  // False when the Node is being deleted or is tainted ToBeDeletedByClusterAutoscaler.
  bool node_eligible = true;
};

class ProxyHealth {
 public:
  using ClockFn = std::function<absl::Time()>;

  // health_timeout is 2 x syncPeriod in kube-proxy. `clock` defaults to absl::Now.
  explicit ProxyHealth(absl::Duration health_timeout, ClockFn clock = nullptr);
  // The same with the sync loop's clock, which must outlive this object.
  ProxyHealth(absl::Duration health_timeout, const proxier::Clock* clock);

  ProxyHealth(const ProxyHealth&) = delete;
  ProxyHealth& operator=(const ProxyHealth&) = delete;

  // A sync of `family` succeeded (also called once when the sync loop starts): clears the
  // pending-since mark and records the time.
  void Updated(proxier::IpFamily family);
  // A change for `family` is waiting for a sync. Only the oldest pending change counts.
  void QueuedUpdate(proxier::IpFamily family);
  // Recomputes node eligibility from this node's Node object. Until the first call the node is
  // eligible, so a starting proxy reports healthy.
  void SyncNode(const proxier::Node& node);

  ProxyHealthStatus Health() const;
  // Health().healthy: what the per-Service health checks report as serviceProxyHealthy.
  bool IsHealthy() const;
  bool NodeEligible() const;
  absl::Time Now() const { return clock_(); }
  absl::Duration health_timeout() const { return health_timeout_; }

 private:
  const absl::Duration health_timeout_;
  const ClockFn clock_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<proxier::IpFamily, absl::Time> last_updated_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<proxier::IpFamily, absl::Time> oldest_pending_queued_ ABSL_GUARDED_BY(mu_);
  bool node_eligible_ ABSL_GUARDED_BY(mu_) = true;
};

// Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC", followed by Go's
// monotonic-clock reading " m=+1.500000000" (seconds since `monotonic_origin`, normally process
// start) when an origin is given. absl::InfinitePast() prints Go's zero time, which carries no
// monotonic reading: "0001-01-01 00:00:00 +0000 UTC".
std::string GoTimeString(absl::Time t, std::optional<absl::Time> monotonic_origin);

// The time this process started (captured at static initialisation): Go's monotonic origin.
absl::Time ProcessStartTime();

}  // namespace kproxy::daemon
