// PassThroughReporter: decides what to log about each Service's pass-through decision — one info
// line (-v=2) when the decision changes and one warning when a bad annotation value first appears.
// (kubeproxy_pass_through_services counts what the proxier programmed, not these requests.)
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "proxier/api_types.h"
#include "proxier/service_port.h"

namespace kproxy::daemon {

class PassThroughReporter {
 public:
  struct Report {
    std::optional<std::string> info;     // log at -v=2
    std::optional<std::string> warning;  // log as a warning
  };
  // Records the Service's current decision; returns what to log now (usually nothing).
  Report Observe(const proxier::Service& service);
  void Forget(const proxier::Service& service);

 private:
  mutable absl::Mutex mu_;
  // Last decision summary and warning per Service.
  absl::flat_hash_map<proxier::ServiceName, std::pair<std::string, std::string>> last_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
