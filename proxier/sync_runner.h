// SyncRunner: the bounded-frequency sync loop (upstream's BoundedFrequencyRunner): a kicked sync
// runs at most once per min interval, a sync runs at least once per max interval, and a failed
// sync is retried with exponential backoff. SyncSchedule holds the timing rules as a pure state
// machine; SyncRunner is the thread around it.
#pragma once

#include <functional>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proxier/clock.h"
#include "proxier/proxier.h"

namespace kproxy::proxier {

// The timing decisions, driven by explicit times (no clock, no thread).
class SyncSchedule {
 public:
  // min_interval: the least time between two runs started by kicks; max_interval: the most time
  // between two runs (periodic resync) and the cap of the failure backoff.
  SyncSchedule(absl::Duration min_interval, absl::Duration max_interval);

  // Work is pending; coalesces with other kicks until the next run starts.
  void Kick();
  // When the next run is due: InfiniteFuture() before the first kick; InfinitePast() for a first
  // kick (run now). After a run: last start + backoff while failing, else + min interval when
  // kicked, else + max interval.
  absl::Time NextRun() const;
  bool Due(absl::Time now) const { return now >= NextRun(); }
  // A run starts at `now`; kicks from here on are for the next run.
  void StartRun(absl::Time now);
  void FinishRun(bool success);

  int consecutive_failures() const { return failures_; }
  // The wait after the last failure: min interval (at least 1s, so a zero min interval does not
  // spin) doubled per consecutive failure, capped at the max interval.
  absl::Duration Backoff() const;
  bool kicked() const { return kicked_; }

 private:
  const absl::Duration min_interval_;
  const absl::Duration max_interval_;
  std::optional<absl::Time> last_start_;
  bool kicked_ = false;
  int failures_ = 0;
};

class SyncRunner {
 public:
  using SyncFunction = std::function<absl::StatusOr<SyncReport>()>;
  // Called after each run with its result and duration (logging, metrics, health).
  using ResultObserver = std::function<void(const absl::StatusOr<SyncReport>& result, absl::Duration took)>;
  // Called once per applied change with the time from the change to the end of the successful
  // sync that applied it (network programming latency).
  using LatencyObserver = std::function<void(IpFamily family, absl::Duration latency)>;

  SyncRunner(const Clock* clock, absl::Duration min_interval, absl::Duration max_interval, SyncFunction sync);
  ~SyncRunner();
  SyncRunner(const SyncRunner&) = delete;
  SyncRunner& operator=(const SyncRunner&) = delete;

  // Set before Start().
  void set_result_observer(ResultObserver observer) { result_observer_ = std::move(observer); }
  void set_latency_observer(LatencyObserver observer) { latency_observer_ = std::move(observer); }

  // Requests a sync (upstream's Run()); thread-safe, never blocks on a running sync.
  void Kick();
  // Starts the loop thread. Stop() wakes it, waits for a running sync to finish, and joins.
  void Start();
  void Stop();

  // Runs the sync now if the schedule says it is due (what the loop does on each wake-up).
  // Returns whether it ran. Tests call it with a FakeClock instead of starting the thread.
  bool RunIfDue();
  absl::Time NextRun() const;
  int consecutive_failures() const;

 private:
  void Loop();

  const Clock* clock_;
  SyncFunction sync_;
  ResultObserver result_observer_;
  LatencyObserver latency_observer_;
  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  SyncSchedule schedule_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex run_mu_;  // one sync at a time (the loop vs. RunIfDue callers)
  std::thread thread_;
};

}  // namespace kproxy::proxier
