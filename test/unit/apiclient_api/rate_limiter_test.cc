#include "apiclient/rate_limiter.h"

#include <gtest/gtest.h>

namespace kproxy::apiclient {
namespace {

TEST(RateLimiterTest, AllowsABurstThenPacesAtQps) {
  absl::Time now = absl::UnixEpoch();
  RateLimiter limiter(5, 3, [&now] { return now; });
  EXPECT_EQ(limiter.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(limiter.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(limiter.Reserve(), absl::ZeroDuration());
  EXPECT_EQ(limiter.Reserve(), absl::Milliseconds(200));
  EXPECT_EQ(limiter.Reserve(), absl::Milliseconds(400));
  now += absl::Seconds(10);  // refills, but never beyond the burst
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_FALSE(limiter.TryAcquire());
}

TEST(RateLimiterTest, ZeroQpsDisablesLimiting) {
  RateLimiter limiter(0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.Reserve(), absl::ZeroDuration());
}

}  // namespace
}  // namespace kproxy::apiclient
