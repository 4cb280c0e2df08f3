#include "apiclient/backoff.h"

#include <gtest/gtest.h>

namespace kproxy::apiclient {
namespace {

TEST(BackoffTest, DoublesFromInitialUpToTheCapWithoutJitter) {
  Backoff backoff(BackoffOptions{absl::Milliseconds(800), absl::Seconds(30), 2.0, 0.0});
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1600));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(3200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(6400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(12800));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(25600));
  EXPECT_EQ(backoff.Next(), absl::Seconds(30));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(backoff.Next(), absl::Seconds(30));
}

TEST(BackoffTest, ResetStartsAgainFromInitial) {
  Backoff backoff(BackoffOptions{absl::Milliseconds(800), absl::Seconds(30), 2.0, 0.0});
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
}

TEST(BackoffTest, JitterStaysWithinBoundsAndVaries) {
  Backoff backoff(BackoffOptions{absl::Seconds(1), absl::Seconds(30), 2.0, 0.2}, 42);
  absl::Duration first = backoff.Next();
  EXPECT_GE(first, absl::Milliseconds(800));
  EXPECT_LE(first, absl::Milliseconds(1200));
  bool varied = false;
  for (int i = 0; i < 20; ++i) {
    backoff.Reset();
    absl::Duration d = backoff.Next();
    EXPECT_GE(d, absl::Milliseconds(800));
    EXPECT_LE(d, absl::Milliseconds(1200));
    if (d != first) varied = true;
  }
  EXPECT_TRUE(varied);
}

TEST(BackoffTest, JitterNeverExceedsTheCap) {
  Backoff backoff(BackoffOptions{absl::Seconds(1), absl::Seconds(30), 2.0, 0.5}, 7);
  for (int i = 0; i < 200; ++i) EXPECT_LE(backoff.Next(), absl::Seconds(30));
}

}  // namespace
}  // namespace kproxy::apiclient
