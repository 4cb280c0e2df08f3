#include "cmd/kube-proxy/proxy_health.h"

#include "gtest/gtest.h"
#include "test/unit/health/test_clock.h"

namespace kproxy::daemon {
namespace {

using proxier::IpFamily;
using testing::FakeClock;
using testing::TestEpoch;

constexpr absl::Duration kTimeout = absl::Seconds(60);

TEST(ProxyHealthTest, FreshProxyIsHealthyAndEligibleWithNoLastUpdated) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  ProxyHealthStatus status = health.Health();
  EXPECT_TRUE(status.healthy);
  EXPECT_TRUE(status.node_eligible);
  EXPECT_EQ(status.last_updated, absl::InfinitePast());
  EXPECT_EQ(status.current_time, TestEpoch());
}

TEST(ProxyHealthTest, QueuedUpdateBeforeFirstSyncDoesNotMakeUnhealthy) {
  // Upstream judges only families that have synced once (the sync loop calls Updated at start).
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  health.QueuedUpdate(IpFamily::kIPv4);
  clock.Advance(absl::Hours(1));
  EXPECT_TRUE(health.IsHealthy());
}

TEST(ProxyHealthTest, PendingUpdateYoungerThanTimeoutIsHealthy) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  health.Updated(IpFamily::kIPv4);
  clock.Advance(absl::Seconds(5));
  health.QueuedUpdate(IpFamily::kIPv4);
  clock.Advance(kTimeout - absl::Nanoseconds(1));
  ProxyHealthStatus status = health.Health();
  EXPECT_TRUE(status.healthy);
  EXPECT_EQ(status.last_updated, TestEpoch());
}

TEST(ProxyHealthTest, PendingUpdateAsOldAsTimeoutIsUnhealthyAndReportsLastSync) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  health.Updated(IpFamily::kIPv4);
  clock.Advance(absl::Seconds(5));
  health.QueuedUpdate(IpFamily::kIPv4);
  clock.Advance(kTimeout);
  ProxyHealthStatus status = health.Health();
  EXPECT_FALSE(status.healthy);
  EXPECT_EQ(status.last_updated, TestEpoch());
  EXPECT_EQ(status.current_time, TestEpoch() + absl::Seconds(65));
}

TEST(ProxyHealthTest, OnlyTheOldestPendingUpdateCounts) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  health.Updated(IpFamily::kIPv4);
  health.QueuedUpdate(IpFamily::kIPv4);
  clock.Advance(absl::Seconds(50));
  health.QueuedUpdate(IpFamily::kIPv4);  // must not restart the timer
  clock.Advance(absl::Seconds(10));
  EXPECT_FALSE(health.IsHealthy());
}

TEST(ProxyHealthTest, SuccessfulSyncClearsPendingAndRestoresHealth) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  health.Updated(IpFamily::kIPv4);
  health.QueuedUpdate(IpFamily::kIPv4);
  clock.Advance(absl::Minutes(2));
  ASSERT_FALSE(health.IsHealthy());
  health.Updated(IpFamily::kIPv4);
  ProxyHealthStatus status = health.Health();
  EXPECT_TRUE(status.healthy);
  EXPECT_EQ(status.last_updated, TestEpoch() + absl::Minutes(2));
  clock.Advance(absl::Hours(1));  // no pending change: an idle proxy stays healthy
  EXPECT_TRUE(health.IsHealthy());
}

TEST(ProxyHealthTest, OneStaleFamilyMakesDualStackUnhealthy) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(kTimeout, clock.Fn());
  health.Updated(IpFamily::kIPv6);
  clock.Advance(absl::Seconds(1));
  health.Updated(IpFamily::kIPv4);
  health.QueuedUpdate(IpFamily::kIPv6);
  clock.Advance(absl::Seconds(30));
  health.QueuedUpdate(IpFamily::kIPv4);
  health.Updated(IpFamily::kIPv4);
  ProxyHealthStatus status = health.Health();
  EXPECT_TRUE(status.healthy);
  EXPECT_EQ(status.last_updated, TestEpoch() + absl::Seconds(31));  // newest of both
  clock.Advance(absl::Seconds(30));
  status = health.Health();
  EXPECT_FALSE(status.healthy);
  EXPECT_EQ(status.last_updated, TestEpoch());  // the stale family's last sync
}

TEST(ProxyHealthTest, NodeBeingDeletedIsNotEligible) {
  ProxyHealth health(kTimeout);
  proxier::Node node;
  node.metadata.name = "node-a";
  node.metadata.deletion_timestamp = TestEpoch();
  health.SyncNode(node);
  EXPECT_FALSE(health.NodeEligible());
  EXPECT_FALSE(health.Health().node_eligible);
  EXPECT_TRUE(health.Health().healthy);  // eligibility is separate from proxy health
}

TEST(ProxyHealthTest, NodeTaintedForDeletionIsNotEligibleUntilTaintRemoved) {
  ProxyHealth health(kTimeout);
  proxier::Node node;
  node.metadata.name = "node-a";
  node.taints.push_back({"node.kubernetes.io/unschedulable", "", "NoSchedule"});
  health.SyncNode(node);
  EXPECT_TRUE(health.NodeEligible());
  node.taints.push_back({"ToBeDeletedByClusterAutoscaler", "1714557600", "NoSchedule"});
  health.SyncNode(node);
  EXPECT_FALSE(health.NodeEligible());
  node.taints.pop_back();
  health.SyncNode(node);
  EXPECT_TRUE(health.NodeEligible());
}

// Upstream's dual-stack sequence (healthcheck_test.go testProxyHealthUpdater), timeout 10s.
TEST(ProxyHealthTest, DualStackSequenceMatchesUpstream) {
  FakeClock clock(TestEpoch());
  ProxyHealth health(absl::Seconds(10), clock.Fn());
  const auto both_updated = [&] {
    health.Updated(IpFamily::kIPv4);
    health.Updated(IpFamily::kIPv6);
  };
  EXPECT_TRUE(health.IsHealthy());
  both_updated();
  EXPECT_TRUE(health.IsHealthy());
  clock.Advance(absl::Seconds(25));
  EXPECT_TRUE(health.IsHealthy());  // nothing queued

  health.QueuedUpdate(IpFamily::kIPv4);
  clock.Advance(absl::Seconds(25));
  EXPECT_FALSE(health.IsHealthy());
  both_updated();
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(health.IsHealthy());

  health.QueuedUpdate(IpFamily::kIPv6);
  clock.Advance(absl::Seconds(25));
  EXPECT_FALSE(health.IsHealthy());
  both_updated();
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(health.IsHealthy());

  health.QueuedUpdate(IpFamily::kIPv4);
  health.QueuedUpdate(IpFamily::kIPv6);
  clock.Advance(absl::Seconds(25));
  EXPECT_FALSE(health.IsHealthy());
  both_updated();
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(health.IsHealthy());

  // A late IPv6 proxier is not rescued by IPv4 syncing.
  health.QueuedUpdate(IpFamily::kIPv6);
  clock.Advance(absl::Seconds(25));
  EXPECT_FALSE(health.IsHealthy());
  health.Updated(IpFamily::kIPv4);
  EXPECT_FALSE(health.IsHealthy());
  health.Updated(IpFamily::kIPv6);
  EXPECT_TRUE(health.IsHealthy());

  // Both late: healthy only once both have synced.
  health.QueuedUpdate(IpFamily::kIPv4);
  health.QueuedUpdate(IpFamily::kIPv6);
  clock.Advance(absl::Seconds(25));
  EXPECT_FALSE(health.IsHealthy());
  health.Updated(IpFamily::kIPv4);
  EXPECT_FALSE(health.IsHealthy());
  health.Updated(IpFamily::kIPv6);
  EXPECT_TRUE(health.IsHealthy());
}

class StepClock final : public proxier::Clock {
 public:
  absl::Time Now() const override { return now; }
  absl::Time now = TestEpoch();
};

TEST(ProxyHealthTest, UsesTheSyncLoopClock) {
  StepClock clock;
  ProxyHealth health(kTimeout, &clock);
  health.Updated(IpFamily::kIPv4);
  health.QueuedUpdate(IpFamily::kIPv4);
  clock.now += kTimeout;
  ProxyHealthStatus status = health.Health();
  EXPECT_FALSE(status.healthy);
  EXPECT_EQ(status.current_time, TestEpoch() + kTimeout);
}

TEST(GoTimeStringTest, FormatsLikeGoTimeString) {
  const absl::Time origin = TestEpoch() - absl::Hours(1);
  EXPECT_EQ(GoTimeString(TestEpoch(), std::nullopt), "2024-05-01 10:00:00 +0000 UTC");
  EXPECT_EQ(GoTimeString(TestEpoch() + absl::Milliseconds(100), std::nullopt), "2024-05-01 10:00:00.1 +0000 UTC");
  EXPECT_EQ(GoTimeString(TestEpoch() + absl::Nanoseconds(123456789), std::nullopt),
            "2024-05-01 10:00:00.123456789 +0000 UTC");
  EXPECT_EQ(GoTimeString(TestEpoch() + absl::Milliseconds(100), origin),
            "2024-05-01 10:00:00.1 +0000 UTC m=+3600.100000000");
  EXPECT_EQ(GoTimeString(TestEpoch(), TestEpoch() + absl::Milliseconds(1500)),
            "2024-05-01 10:00:00 +0000 UTC m=-1.500000000");
  EXPECT_EQ(GoTimeString(TestEpoch(), TestEpoch()), "2024-05-01 10:00:00 +0000 UTC m=+0.000000000");
  EXPECT_EQ(GoTimeString(absl::InfinitePast(), origin), "0001-01-01 00:00:00 +0000 UTC");
}

}  // namespace
}  // namespace kproxy::daemon
