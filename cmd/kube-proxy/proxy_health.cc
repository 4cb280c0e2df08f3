#include "cmd/kube-proxy/proxy_health.h"

#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kproxy::daemon {
namespace {

const absl::Time kProcessStart = absl::Now();

// Families are checked in a fixed order so an unhealthy dual-stack proxy reports a stable
// lastUpdated (upstream iterates a Go map, i.e. in random order).
constexpr proxier::IpFamily kFamilies[] = {proxier::IpFamily::kIPv4, proxier::IpFamily::kIPv6};

}  // namespace

absl::Time ProcessStartTime() { return kProcessStart; }

ProxyHealth::ProxyHealth(absl::Duration health_timeout, ClockFn clock)
    : health_timeout_(health_timeout), clock_(clock ? std::move(clock) : ClockFn([] { return absl::Now(); })) {}

ProxyHealth::ProxyHealth(absl::Duration health_timeout, const proxier::Clock* clock)
    : ProxyHealth(health_timeout, ClockFn([clock] { return clock->Now(); })) {}

void ProxyHealth::Updated(proxier::IpFamily family) {
  absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  oldest_pending_queued_.erase(family);
  last_updated_[family] = now;
}

void ProxyHealth::QueuedUpdate(proxier::IpFamily family) {
  absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  oldest_pending_queued_.try_emplace(family, now);
}

void ProxyHealth::SyncNode(const proxier::Node& node) {
  bool eligible = !node.metadata.deletion_timestamp.has_value();
  for (const proxier::Taint& taint : node.taints) {
    if (taint.key == kToBeDeletedTaint) eligible = false;
  }
  absl::MutexLock lock(&mu_);
  node_eligible_ = eligible;
}

ProxyHealthStatus ProxyHealth::Health() const {
  ProxyHealthStatus status;
  absl::MutexLock lock(&mu_);
  status.node_eligible = node_eligible_;
  status.current_time = clock_();
  absl::Time newest = absl::InfinitePast();
  for (proxier::IpFamily family : kFamilies) {
    auto updated = last_updated_.find(family);
    // As upstream: a family that never synced is not judged (it is starting up).
    if (updated == last_updated_.end()) continue;
    if (updated->second > newest) newest = updated->second;
    auto pending = oldest_pending_queued_.find(family);
    if (pending == oldest_pending_queued_.end()) continue;
    if (status.current_time - pending->second < health_timeout_) continue;
    if (status.healthy) {
      status.healthy = false;
      status.last_updated = updated->second;
    }
  }
  if (status.healthy) status.last_updated = newest;
  return status;
}

bool ProxyHealth::IsHealthy() const { return Health().healthy; }

bool ProxyHealth::NodeEligible() const {
  absl::MutexLock lock(&mu_);
  return node_eligible_;
}

std::string GoTimeString(absl::Time t, std::optional<absl::Time> monotonic_origin) {
  if (t == absl::InfinitePast()) return "0001-01-01 00:00:00 +0000 UTC";
  // %E*S drops trailing zeros of the fraction and the dot itself when it is zero, as Go's
  // ".999999999" layout element does.
  std::string out = absl::FormatTime("%Y-%m-%d %H:%M:%E*S +0000 UTC", t, absl::UTCTimeZone());
  if (monotonic_origin.has_value()) {
    int64_t ns = absl::ToInt64Nanoseconds(t - *monotonic_origin);
    char sign = ns < 0 ? '-' : '+';
    uint64_t abs_ns = ns < 0 ? -static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
    absl::StrAppend(&out, " m=", absl::string_view(&sign, 1),
                    absl::StrFormat("%d.%09d", abs_ns / 1000000000, abs_ns % 1000000000));
  }
  return out;
}

}  // namespace kproxy::daemon
