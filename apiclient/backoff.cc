#include "apiclient/backoff.h"

#include <algorithm>
#include <cmath>

namespace kproxy::apiclient {

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {}

absl::Duration Backoff::Next() {
  double base = absl::ToDoubleSeconds(options_.initial) * std::pow(options_.factor, attempt_);
  const double cap = absl::ToDoubleSeconds(options_.max);
  // Stop growing the exponent once capped, so attempt_ cannot overflow the pow().
  if (base < cap) ++attempt_;
  base = std::min(base, cap);
  double jittered = base;
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> dist(1.0 - options_.jitter, 1.0 + options_.jitter);
    jittered = base * dist(rng_);
  }
  // The cap is a promise to the operator: never wait longer than max.
  return absl::Seconds(std::min(jittered, cap));
}

}  // namespace kproxy::apiclient
