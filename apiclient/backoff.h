// Backoff: exponential reconnect delays with jitter (0.8 s doubling to a 30 s cap by default), reset
// after a healthy stream, as client-go's reflector does between failed list/watch attempts.
#pragma once

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace kproxy::apiclient {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(800);
  absl::Duration max = absl::Seconds(30);
  double factor = 2.0;
  // Each delay is multiplied by a random value in [1 - jitter, 1 + jitter], so that many
  // proxies losing the same API server do not come back in lock-step.
  double jitter = 0.2;
};

// Not thread-safe: one per reconnect loop.
class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {}, uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows with each call until Reset().
  absl::Duration Next();
  // After a healthy stream the next failure starts again from the initial delay.
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffOptions options_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace kproxy::apiclient
