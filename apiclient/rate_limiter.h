// RateLimiter: a token bucket (qps, burst) in front of API requests, like client-go's
// clientConnection.qps/burst; callers reserve a slot and wait the returned delay.
#pragma once

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kproxy::apiclient {

class RateLimiter {
 public:
  // qps <= 0 disables limiting. burst < 1 is treated as 1.
  RateLimiter(double qps, int burst, std::function<absl::Time()> now = [] { return absl::Now(); });

  // Takes one token and returns how long the caller must wait before using it (zero when one
  // was available). Tokens may go negative, so concurrent callers queue up fairly.
  absl::Duration Reserve();
  // Takes a token only if one is available now.
  bool TryAcquire();

 private:
  void RefillLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double qps_;
  const double burst_;
  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::apiclient
