#include "proxier/sync_runner.h"

#include <algorithm>
#include <utility>

namespace kproxy::proxier {

SyncSchedule::SyncSchedule(absl::Duration min_interval, absl::Duration max_interval)
    : min_interval_(std::max(min_interval, absl::ZeroDuration())),
      max_interval_(std::max(max_interval, min_interval_)) {}

void SyncSchedule::Kick() { kicked_ = true; }

absl::Duration SyncSchedule::Backoff() const {
  if (failures_ == 0) return absl::ZeroDuration();
  absl::Duration d = std::max(min_interval_, absl::Seconds(1));
  for (int i = 1; i < failures_ && d < max_interval_; ++i) d *= 2;
  return std::min(d, max_interval_);
}

absl::Time SyncSchedule::NextRun() const {
  if (!last_start_.has_value()) return kicked_ ? absl::InfinitePast() : absl::InfiniteFuture();
  absl::Time periodic = *last_start_ + max_interval_;
  if (failures_ > 0) return std::min(periodic, *last_start_ + Backoff());
  if (kicked_) return std::min(periodic, *last_start_ + min_interval_);
  return periodic;
}

void SyncSchedule::StartRun(absl::Time now) {
  last_start_ = now;
  kicked_ = false;
}

void SyncSchedule::FinishRun(bool success) { failures_ = success ? 0 : failures_ + 1; }

SyncRunner::SyncRunner(const Clock* clock, absl::Duration min_interval, absl::Duration max_interval,
                       SyncFunction sync)
    : clock_(clock), sync_(std::move(sync)), schedule_(min_interval, max_interval) {}

SyncRunner::~SyncRunner() { Stop(); }

void SyncRunner::Kick() {
  absl::MutexLock lock(&mu_);
  schedule_.Kick();
  wake_.Signal();
}

void SyncRunner::Start() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void SyncRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

absl::Time SyncRunner::NextRun() const {
  absl::MutexLock lock(&mu_);
  return schedule_.NextRun();
}

int SyncRunner::consecutive_failures() const {
  absl::MutexLock lock(&mu_);
  return schedule_.consecutive_failures();
}

bool SyncRunner::RunIfDue() {
  absl::MutexLock run_lock(&run_mu_);
  absl::Time start = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    if (!schedule_.Due(start)) return false;
    schedule_.StartRun(start);
  }
  absl::StatusOr<SyncReport> result = sync_();
  absl::Time end = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    schedule_.FinishRun(result.ok());
  }
  if (result.ok() && latency_observer_) {
    for (const auto& [family, t] : result->change_times) {
      latency_observer_(family, std::max(end - t, absl::ZeroDuration()));
    }
  }
  if (result_observer_) result_observer_(result, end - start);
  return true;
}

void SyncRunner::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_) {
        absl::Time next = schedule_.NextRun();
        absl::Time now = clock_->Now();
        if (now >= next) break;
        // The clock may be fake; waiting in real time for the same span is still right for the
        // real clock, and a kick or Stop() wakes the wait early.
        absl::Duration wait = next == absl::InfiniteFuture() ? absl::Hours(1) : next - now;
        wake_.WaitWithTimeout(&mu_, wait);
      }
      if (stopping_) return;
    }
    RunIfDue();
  }
}

}  // namespace kproxy::proxier
