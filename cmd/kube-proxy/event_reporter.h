// EventReporter: turns the daemon's Service-level problems (pass-through conflicts on a shared ELB,
// health-check node ports that cannot be bound, invalid source ranges) into Warning Events, or log
// lines only when there is no API server to post to (--objects).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "proxier/ip_address.h"
#include "proxier/pass_through_policy.h"
#include "proxier/service_port.h"

namespace kproxy::daemon {

class EventReporter {
 public:
  // Queues one Warning Event about a Service; must not block (EventRecorder::Warning).
  using PostFn = std::function<void(const proxier::ServiceName& service, absl::string_view reason,
                                    absl::string_view action, absl::string_view note)>;

  // `post` null: log only.
  explicit EventReporter(PostFn post) : post_(std::move(post)) {}

  // The IPVS proxier's on_conflicts callback: the family's full, current list. Posts a
  // PassThroughConflict Event for each conflict not in that family's previous list, so a conflict
  // is reported once per change, not on every sync. Returns the number of new conflicts.
  size_t OnConflicts(proxier::IpFamily family,
                     const std::vector<proxier::PassThroughConflict>& conflicts);
  // ServiceHealthServer's ListenFailureFn: upstream's FailedToStartServiceHealthcheck.
  void OnHealthCheckListenFailure(const proxier::ServiceName& service, const std::string& message);
  // A Service's loadBalancerSourceRanges entries that are not CIDRs (already logged): an
  // InvalidLoadBalancerSourceRanges Event.
  void OnInvalidSourceRanges(const proxier::ServiceName& service, const std::string& message);

 private:
  const PostFn post_;
  absl::Mutex mu_;
  std::map<proxier::IpFamily, std::vector<proxier::PassThroughConflict>> last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
