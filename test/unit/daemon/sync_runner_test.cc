#include "proxier/sync_runner.h"

#include <atomic>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "proxier/testing/fake_clock.h"

namespace kproxy::proxier {
namespace {

using ::kproxy::proxier::testing::FakeClock;

TEST(SyncScheduleTest, NothingIsDueBeforeTheFirstKick) {
  SyncSchedule s(absl::Seconds(1), absl::Seconds(30));
  EXPECT_EQ(s.NextRun(), absl::InfiniteFuture());
  s.Kick();
  EXPECT_TRUE(s.Due(absl::FromUnixSeconds(0)));
}

TEST(SyncScheduleTest, KicksWithinMinIntervalCoalesceIntoOneRun) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  SyncSchedule s(absl::Seconds(1), absl::Seconds(30));
  s.Kick();
  s.StartRun(t0);
  s.FinishRun(true);
  s.Kick();
  s.Kick();
  EXPECT_FALSE(s.Due(t0 + absl::Milliseconds(999)));
  EXPECT_EQ(s.NextRun(), t0 + absl::Seconds(1));
  s.StartRun(t0 + absl::Seconds(1));
  s.FinishRun(true);
  // Both kicks were served by that one run: the next is the periodic one.
  EXPECT_EQ(s.NextRun(), t0 + absl::Seconds(31));
}

TEST(SyncScheduleTest, RunsPeriodicallyWithoutKicks) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  SyncSchedule s(absl::Seconds(1), absl::Seconds(30));
  s.Kick();
  s.StartRun(t0);
  s.FinishRun(true);
  EXPECT_FALSE(s.Due(t0 + absl::Seconds(29)));
  EXPECT_TRUE(s.Due(t0 + absl::Seconds(30)));
}

TEST(SyncScheduleTest, FailuresBackOffExponentiallyFromMinIntervalUpToMaxInterval) {
  absl::Time t = absl::FromUnixSeconds(100);
  SyncSchedule s(absl::Seconds(2), absl::Seconds(30));
  s.Kick();
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 6; ++i) {
    s.StartRun(t);
    s.FinishRun(false);
    absl::Time next = s.NextRun();
    waits.push_back(next - t);
    t = next;
  }
  EXPECT_EQ(waits, (std::vector<absl::Duration>{absl::Seconds(2), absl::Seconds(4), absl::Seconds(8),
                                                absl::Seconds(16), absl::Seconds(30), absl::Seconds(30)}));
}

TEST(SyncScheduleTest, KickDuringBackoffDoesNotRetrySooner) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  SyncSchedule s(absl::Seconds(1), absl::Seconds(30));
  s.Kick();
  s.StartRun(t0);
  s.FinishRun(false);
  s.StartRun(t0 + absl::Seconds(1));
  s.FinishRun(false);  // backoff now 2s
  s.Kick();
  EXPECT_FALSE(s.Due(t0 + absl::Seconds(2)));
  EXPECT_TRUE(s.Due(t0 + absl::Seconds(3)));
}

TEST(SyncScheduleTest, SuccessResetsBackoff) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  SyncSchedule s(absl::Seconds(1), absl::Seconds(30));
  s.Kick();
  s.StartRun(t0);
  s.FinishRun(false);
  s.StartRun(t0 + absl::Seconds(1));
  s.FinishRun(false);
  s.StartRun(t0 + absl::Seconds(3));
  s.FinishRun(true);
  EXPECT_EQ(s.consecutive_failures(), 0);
  EXPECT_EQ(s.NextRun(), t0 + absl::Seconds(33));  // periodic again
  s.Kick();
  EXPECT_EQ(s.NextRun(), t0 + absl::Seconds(4));  // min interval again
}

TEST(SyncScheduleTest, ZeroMinIntervalRunsKicksImmediatelyButBacksOffAtLeastOneSecond) {
  const absl::Time t0 = absl::FromUnixSeconds(100);
  SyncSchedule s(absl::ZeroDuration(), absl::Seconds(30));
  s.Kick();
  s.StartRun(t0);
  s.FinishRun(true);
  s.Kick();
  EXPECT_TRUE(s.Due(t0));
  s.StartRun(t0);
  s.FinishRun(false);
  EXPECT_EQ(s.NextRun(), t0 + absl::Seconds(1));
}

TEST(SyncRunnerTest, RunIfDueFollowsTheScheduleAndReportsLatencies) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  int runs = 0;
  bool fail = false;
  SyncRunner runner(&clock, absl::Seconds(1), absl::Seconds(10), [&]() -> absl::StatusOr<SyncReport> {
    ++runs;
    if (fail) return absl::UnavailableError("iptables-restore failed");
    SyncReport r;
    r.change_times = {{IpFamily::kIPv6, start}};
    return r;
  });
  std::vector<absl::Duration> latencies;
  int failures_seen = 0;
  runner.set_latency_observer([&](IpFamily family, absl::Duration d) {
    EXPECT_EQ(family, IpFamily::kIPv6);  // the ip_family label of network_programming_duration
    latencies.push_back(d);
  });
  runner.set_result_observer([&](const absl::StatusOr<SyncReport>& r, absl::Duration) {
    if (!r.ok()) ++failures_seen;
  });
  EXPECT_FALSE(runner.RunIfDue());
  clock.Advance(absl::Milliseconds(250));
  runner.Kick();
  EXPECT_TRUE(runner.RunIfDue());
  EXPECT_EQ(runs, 1);
  ASSERT_EQ(latencies.size(), 1u);
  EXPECT_EQ(latencies[0], absl::Milliseconds(250));
  runner.Kick();
  EXPECT_FALSE(runner.RunIfDue());
  clock.Advance(absl::Seconds(1));
  fail = true;
  EXPECT_TRUE(runner.RunIfDue());
  EXPECT_EQ(failures_seen, 1);
  EXPECT_EQ(runner.consecutive_failures(), 1);
  EXPECT_EQ(latencies.size(), 1u);  // failed syncs report no latency
}

TEST(SyncRunnerTest, ThreadRunsOnKickAndStopsCleanly) {
  std::atomic<int> runs{0};
  absl::Notification ran;
  SyncRunner runner(RealClock::Get(), absl::ZeroDuration(), absl::Seconds(30), [&]() -> absl::StatusOr<SyncReport> {
    if (++runs == 1) ran.Notify();
    return SyncReport{};
  });
  runner.Start();
  runner.Kick();
  ran.WaitForNotification();  // no deadline: a runner that never runs hangs until CTest's timeout
  runner.Stop();
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace kproxy::proxier
