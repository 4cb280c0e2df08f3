#include "cmd/kube-proxy/event_reporter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using proxier::IpFamily;
using ::testing::ElementsAre;

proxier::PassThroughConflict Conflict(const std::string& name) {
  proxier::PassThroughConflict c;
  c.service = {"default", name};
  c.elb = "elb.id=e1";
  c.decided_by = {"default", "oldest"};
  c.message = "conflict of " + name;
  return c;
}

struct Posted {
  std::vector<std::string> events;
  EventReporter::PostFn Fn() {
    return [this](const proxier::ServiceName& s, absl::string_view reason, absl::string_view action,
                  absl::string_view note) {
      events.push_back(s.ToString() + " " + std::string(reason) + " " + std::string(action) + " " +
                       std::string(note));
    };
  }
};

TEST(EventReporterTest, PostsEachConflictOncePerChangeNotEverySync) {
  Posted posted;
  EventReporter reporter(posted.Fn());
  EXPECT_EQ(reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")}), 1u);
  EXPECT_EQ(reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")}),
            0u);  // the same list again: nothing new
  EXPECT_EQ(reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a"), Conflict("b")}), 1u);
  EXPECT_THAT(posted.events,
              ElementsAre("default/a PassThroughConflict SyncProxyRules conflict of a",
                          "default/b PassThroughConflict SyncProxyRules conflict of b"));
}

TEST(EventReporterTest, ResolvedConflictIsPostedAgainWhenItComesBack) {
  Posted posted;
  EventReporter reporter(posted.Fn());
  reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")});
  reporter.OnConflicts(IpFamily::kIPv4, {});
  reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")});
  EXPECT_EQ(posted.events.size(), 2u);
}

TEST(EventReporterTest, FamiliesAreTrackedSeparately) {
  Posted posted;
  EventReporter reporter(posted.Fn());
  reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")});
  reporter.OnConflicts(IpFamily::kIPv6, {});  // must not forget the IPv4 list
  reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")});
  EXPECT_EQ(posted.events.size(), 1u);
}

TEST(EventReporterTest, HealthCheckListenFailureIsUpstreamsEvent) {
  Posted posted;
  EventReporter reporter(posted.Fn());
  reporter.OnHealthCheckListenFailure({"ns", "web"}, "node n failed to start healthcheck");
  EXPECT_THAT(
      posted.events,
      ElementsAre(
          "ns/web FailedToStartServiceHealthcheck Listen node n failed to start healthcheck"));
}

TEST(EventReporterTest, WithoutAnApiServerNothingIsPosted) {
  EventReporter reporter(nullptr);
  reporter.OnConflicts(IpFamily::kIPv4, {Conflict("a")});
  reporter.OnHealthCheckListenFailure({"ns", "web"}, "failed");  // must not crash
}

}  // namespace
}  // namespace kproxy::daemon
