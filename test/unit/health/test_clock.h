// A settable clock for ProxyHealth tests.
#pragma once

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kproxy::daemon::testing {

class FakeClock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  auto Fn() {
    return [this] { return Now(); };
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_;
};

// 2024-05-01 10:00:00 UTC.
inline absl::Time TestEpoch() { return absl::FromUnixSeconds(1714557600); }

}  // namespace kproxy::daemon::testing
