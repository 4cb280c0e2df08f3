#include "apiclient/reflector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apiclient/testing/recording_sink.h"
#include "apiclient/testing/scripted_transport.h"

namespace kproxy::apiclient {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RecordingSink;
using testing::ScriptedTransport;

std::string Svc(const std::string& name, int rv, const std::string& ip = "10.96.0.10") {
  return absl::StrCat(R"json({"metadata":{"namespace":"default","name":")json", name, R"json(","resourceVersion":")json", rv,
                      R"json("},"spec":{"type":"ClusterIP","clusterIP":")json", ip,
                      R"json(","ports":[{"name":"http","port":80,"protocol":"TCP"}]}})json");
}
std::string TypedSvc(const std::string& name, int rv) {
  std::string s = Svc(name, rv);
  return absl::StrCat(R"json({"kind":"Service","apiVersion":"v1",)json", s.substr(1));
}
std::string List(const std::vector<std::string>& items, int rv, const std::string& cont = "") {
  return absl::StrCat(R"json({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":")json", rv, "\"",
                      cont.empty() ? "" : absl::StrCat(R"json(,"continue":")json", cont, "\""), R"json(},"items":[)json",
                      absl::StrJoin(items, ","), "]}");
}
std::string Event(const std::string& type, const std::string& object) {
  return absl::StrCat(R"json({"type":")json", type, R"json(","object":)json", object, "}");
}
std::string Bookmark(int rv) {
  return absl::StrCat(R"json({"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":")json",
                      rv, "\"}}}");
}
std::string Gone() {
  return R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}})json";
}

ReflectorOptions FastOptions() {
  ReflectorOptions options;
  options.backoff = BackoffOptions{absl::Milliseconds(10), absl::Milliseconds(50), 2.0, 0.0};
  return options;
}

class ReflectorTest : public ::testing::Test {
 protected:
  ResourceSpec spec_{"Service", "/api/v1/services", "!service.kubernetes.io/headless", ""};
  ScriptedTransport transport_;
  RecordingSink sink_;
  // Waits until the transport saw `n` requests (the reflector then blocks on the script's end).
  // No deadline of its own: a reflector that never sends them hangs the test until CTest's
  // timeout, which no load on the machine can make happen by accident.
  bool WaitForRequests(size_t n) {
    while (transport_.paths().size() < n) absl::SleepFor(absl::Milliseconds(5));
    return true;
  }
};

TEST_F(ReflectorTest, ListsAllPagesThenWatchesFromTheListResourceVersion) {
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 20, "page2")));
  transport_.Push(ScriptedTransport::Ok(List({Svc("b", 11)}, 20)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::InfiniteDuration()));
  ASSERT_TRUE(WaitForRequests(3));
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "add default/b@11", "synced"));
  std::vector<std::string> paths = transport_.paths();
  EXPECT_EQ(paths[0], "/api/v1/services?labelSelector=%21service.kubernetes.io%2Fheadless&limit=500");
  EXPECT_THAT(paths[1], HasSubstr("&continue=page2"));
  EXPECT_THAT(paths[2], HasSubstr("watch=true&allowWatchBookmarks=true&resourceVersion=20&timeoutSeconds="));
  EXPECT_EQ(reflector.stats().list_pages, 2u);
}

TEST_F(ReflectorTest, WatchEventsAreDeliveredInOrderWithTheCachedOldObject) {
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 10)));
  transport_.Push(ScriptedTransport::Lines({
      Event("ADDED", TypedSvc("b", 11)),
      Event("MODIFIED", TypedSvc("a", 12)),
      Bookmark(13),
      Event("DELETED", TypedSvc("b", 14)),
      Event("MODIFIED", TypedSvc("a", 15)),
  }));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(3));  // the stream ended normally: a new watch follows at once
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "synced", "add default/b@11",
                                             "update default/a@10->12", "delete default/b",
                                             "update default/a@12->15"));
  EXPECT_THAT(transport_.paths()[2], HasSubstr("resourceVersion=15&"));
}

TEST_F(ReflectorTest, BookmarkAdvancesTheResourceVersionForTheNextWatch) {
  transport_.Push(ScriptedTransport::Ok(List({}, 10)));
  transport_.Push(ScriptedTransport::Lines({Bookmark(42)}));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(3));
  reflector.Stop();
  EXPECT_THAT(transport_.paths()[2], HasSubstr("resourceVersion=42&"));
  EXPECT_THAT(sink_.log.calls(), ElementsAre("synced"));
}

TEST_F(ReflectorTest, GoneRelistsAndDeliversOnlyRealDifferences) {
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10), Svc("b", 11), Svc("c", 12)}, 12)));
  transport_.Push(ScriptedTransport::Lines({Gone()}));
  // After compaction: a unchanged, b modified, c deleted, d new.
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10), Svc("b", 20), Svc("d", 21)}, 30)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(4));
  reflector.Stop();
  std::vector<std::string> calls = sink_.log.calls();
  std::vector<std::string> after_relist(calls.begin() + 4, calls.end());
  EXPECT_THAT(after_relist, ::testing::UnorderedElementsAre("update default/b@11->20", "add default/d@21",
                                                            "delete default/c"));
  EXPECT_EQ(reflector.stats().relists_gone, 1u);
  EXPECT_THAT(transport_.paths()[3], HasSubstr("resourceVersion=30&"));
}

TEST_F(ReflectorTest, HttpGoneOnWatchAlsoRelists) {
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 10)));
  transport_.Push(ScriptedTransport::Status(410));
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 40)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(4));
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "synced"));
  EXPECT_THAT(transport_.paths()[2], HasSubstr("limit=500"));
}

TEST_F(ReflectorTest, ExpiredContinueTokenRestartsTheList) {
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 20, "tok")));
  transport_.Push(ScriptedTransport::Status(410));
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10), Svc("b", 22)}, 22)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::InfiniteDuration()));
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "add default/b@22", "synced"));
}

TEST_F(ReflectorTest, UnparseableLineAbandonsTheStreamAndResumesFromLastGoodVersion) {
  transport_.Push(ScriptedTransport::Ok(List({}, 10)));
  transport_.Push(ScriptedTransport::Lines({Event("ADDED", TypedSvc("a", 11)), "{\"type\": \"MODIFIED\", \"object\": {garbage",
                                            Event("ADDED", TypedSvc("never", 12))}));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(3));
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("synced", "add default/a@11"));
  EXPECT_THAT(transport_.paths()[2], HasSubstr("resourceVersion=11&"));
  EXPECT_EQ(reflector.stats().stream_errors, 1u);
}

TEST_F(ReflectorTest, MalformedObjectsAreSkippedCountedAndTheRestLoads) {
  const std::string bad = R"json({"metadata":{"namespace":"default","name":"bad","resourceVersion":"9"},"spec":{"clusterIP":"10.96.0.11","ports":[{"port":"eighty"}]}})json";
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10), bad, Svc("c", 12)}, 12)));
  const std::string bad_event = R"json({"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"namespace":"default","name":"bad2","resourceVersion":"13"},"spec":{"clusterIP":"nope","ports":[{"port":-1}]}}})json";
  transport_.Push(ScriptedTransport::Lines({bad_event, Event("ADDED", TypedSvc("d", 14))}));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(3));
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "add default/c@12", "synced", "add default/d@14"));
  EXPECT_EQ(reflector.stats().decode_errors, 2u);
  EXPECT_EQ(reflector.stats().stream_errors, 0u);
}

TEST_F(ReflectorTest, RelistKeepsTheLastGoodVersionOfAnObjectThatNoLongerDecodes) {
  const std::string bad_a = R"json({"metadata":{"namespace":"default","name":"a","resourceVersion":"20"},"spec":{"clusterIP":"10.96.0.11","ports":[{"port":"eighty"}]}})json";
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 10)));
  transport_.Push(ScriptedTransport::Lines({Gone()}));
  transport_.Push(ScriptedTransport::Ok(List({bad_a}, 20)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(4));
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "synced"));
}

TEST_F(ReflectorTest, TooManyRequestsWaitsForRetryAfter) {
  transport_.Push(ScriptedTransport::Ok(List({}, 10)));
  transport_.Push(ScriptedTransport::Status(429, absl::Seconds(1)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(3));
  reflector.Stop();
  std::vector<absl::Time> times = transport_.times();
  EXPECT_GE(times[2] - times[1], absl::Milliseconds(950));
  EXPECT_THAT(transport_.paths()[2], HasSubstr("resourceVersion=10&"));
}

TEST_F(ReflectorTest, ServerErrorsBackOffExponentially) {
  transport_.Push(ScriptedTransport::Ok(List({}, 10)));
  for (int i = 0; i < 4; ++i) transport_.Push(ScriptedTransport::Status(500));
  ReflectorOptions options;
  options.backoff = BackoffOptions{absl::Milliseconds(100), absl::Seconds(1), 2.0, 0.0};
  Reflector reflector(&transport_, spec_, &sink_, options);
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(6));
  reflector.Stop();
  std::vector<absl::Time> t = transport_.times();
  EXPECT_GE(t[2] - t[1], absl::Milliseconds(95));
  EXPECT_GE(t[3] - t[2], absl::Milliseconds(195));
  EXPECT_GE(t[4] - t[3], absl::Milliseconds(395));
  EXPECT_EQ(reflector.stats().stream_errors, 4u);
}

TEST_F(ReflectorTest, DroppedConnectionReconnectsFromTheLastVersionWithoutRelisting) {
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 10)));
  transport_.Push(ScriptedTransport::Error(absl::UnavailableError("connection reset")));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(3));
  reflector.Stop();
  EXPECT_THAT(transport_.paths()[2], HasSubstr("watch=true"));
  EXPECT_EQ(reflector.stats().lists, 1u);
}

TEST_F(ReflectorTest, FailedListIsRetriedAndSyncsOnlyOnceComplete) {
  transport_.Push(ScriptedTransport::Status(503, absl::Milliseconds(0)));
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 20, "p2")));
  transport_.Push(ScriptedTransport::Error(absl::UnavailableError("connection refused")));
  transport_.Push(ScriptedTransport::Ok(List({Svc("a", 10)}, 21, "p2")));
  transport_.Push(ScriptedTransport::Ok(List({Svc("b", 11)}, 21)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(reflector.WaitForSync(absl::InfiniteDuration()));
  reflector.Stop();
  // The half list of the failed attempt delivered nothing.
  EXPECT_THAT(sink_.log.calls(), ElementsAre("add default/a@10", "add default/b@11", "synced"));
  EXPECT_EQ(reflector.stats().lists, 1u);
}

TEST_F(ReflectorTest, NotSyncedBeforeTheFirstList) {
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  EXPECT_FALSE(reflector.WaitForSync(absl::Milliseconds(100)));
  EXPECT_FALSE(reflector.HasSynced());
  reflector.Stop();
  EXPECT_THAT(sink_.log.calls(), ElementsAre());
}

// Event-driven, no clock: the scripted watch blocks until cancelled, so a Stop() that did not
// cancel it would never return and CTest's timeout would fail the test.
TEST_F(ReflectorTest, StopInterruptsABlockingWatch) {
  transport_.Push(ScriptedTransport::Ok(List({}, 10)));
  Reflector reflector(&transport_, spec_, &sink_, FastOptions());
  reflector.Start();
  ASSERT_TRUE(WaitForRequests(2));
  reflector.Stop();
  EXPECT_THAT(transport_.paths()[1], HasSubstr("watch=true"));
}

}  // namespace
}  // namespace kproxy::apiclient
