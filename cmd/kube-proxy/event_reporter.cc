#include "cmd/kube-proxy/event_reporter.h"

#include <algorithm>

namespace kproxy::daemon {

size_t EventReporter::OnConflicts(proxier::IpFamily family,
                                  const std::vector<proxier::PassThroughConflict>& conflicts) {
  std::vector<proxier::PassThroughConflict> fresh;
  {
    absl::MutexLock lock(&mu_);
    std::vector<proxier::PassThroughConflict>& last = last_[family];
    for (const auto& c : conflicts) {
      if (std::find(last.begin(), last.end(), c) == last.end()) fresh.push_back(c);
    }
    last = conflicts;
  }
  // The proxier already logs each new conflict; here only the Event.
  if (post_) {
    for (const auto& c : fresh)
      post_(c.service, "PassThroughConflict", "SyncProxyRules", c.message);
  }
  return fresh.size();
}

void EventReporter::OnHealthCheckListenFailure(const proxier::ServiceName& service,
                                               const std::string& message) {
  // ServiceHealthServer logged it already.
  if (post_) post_(service, "FailedToStartServiceHealthcheck", "Listen", message);
}

void EventReporter::OnInvalidSourceRanges(const proxier::ServiceName& service, const std::string& message) {
  if (post_) post_(service, "InvalidLoadBalancerSourceRanges", "SyncProxyRules", message);
}

}  // namespace kproxy::daemon
