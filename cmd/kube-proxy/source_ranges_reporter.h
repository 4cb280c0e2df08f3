// SourceRangesReporter: decides when a Service's loadBalancerSourceRanges entries that are not
// CIDRs are worth reporting (once per Service and set of bad entries), and says what they do: they
// are ignored, and a family left without a valid range admits no source on its LB IPs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "proxier/api_types.h"
#include "proxier/service_port.h"

namespace kproxy::daemon {

class SourceRangesReporter {
 public:
  // The warning to log now for `service` (nothing when it has no bad entry or they were reported).
  std::optional<std::string> Observe(const proxier::Service& service);
  void Forget(const proxier::Service& service);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<proxier::ServiceName, std::vector<std::string>> reported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
