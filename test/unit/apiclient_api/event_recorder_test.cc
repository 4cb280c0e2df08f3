#include "apiclient/event_recorder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "apiclient/testing/scripted_transport.h"

namespace kproxy::apiclient {
namespace {

using ::testing::HasSubstr;
using testing::ScriptedTransport;

ObjectReference Web() {
  ObjectReference ref;
  ref.namespace_name = "shop";
  ref.name = "web";
  ref.uid = "u-1";
  return ref;
}

TEST(EventRecorderTest, EventJsonCarriesWhatEventsV1Requires) {
  const std::string json = EventRecorder::EventJson(
      Web(), "Warning", "PassThroughConflict", "Sync", "ELB \"x\" mixes\npass-through", "kube-proxy", "node-a",
      absl::FromUnixMicros(1700000000123456), "web.abc");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["apiVersion"]), "events.k8s.io/v1");
  EXPECT_EQ(std::string_view(doc["metadata"]["namespace"]), "shop");
  EXPECT_EQ(std::string_view(doc["metadata"]["name"]), "web.abc");
  EXPECT_EQ(std::string_view(doc["eventTime"]), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(std::string_view(doc["reportingController"]), "kube-proxy");
  EXPECT_EQ(std::string_view(doc["reportingInstance"]), "node-a");
  EXPECT_EQ(std::string_view(doc["type"]), "Warning");
  EXPECT_EQ(std::string_view(doc["reason"]), "PassThroughConflict");
  EXPECT_EQ(std::string_view(doc["action"]), "Sync");
  EXPECT_EQ(std::string_view(doc["note"]), "ELB \"x\" mixes\npass-through");
  EXPECT_EQ(std::string_view(doc["regarding"]["kind"]), "Service");
  EXPECT_EQ(std::string_view(doc["regarding"]["name"]), "web");
  EXPECT_EQ(std::string_view(doc["regarding"]["uid"]), "u-1");
}

TEST(EventRecorderTest, PostsToTheRegardingNamespaceAndDeduplicatesWithinTheWindow) {
  ScriptedTransport transport;
  for (int i = 0; i < 3; ++i) transport.Push(ScriptedTransport::Status(201));
  absl::Time now = absl::UnixEpoch();
  absl::Mutex now_mu;
  EventRecorderOptions options;
  options.node_name = "node-a";
  options.dedupe_window = absl::Minutes(10);
  options.now = [&] {
    absl::MutexLock lock(&now_mu);
    return now;
  };
  EventRecorder recorder(&transport, options);
  recorder.Start();
  EXPECT_TRUE(recorder.Warning(Web(), "PassThroughConflict", "Sync", "note"));
  EXPECT_FALSE(recorder.Warning(Web(), "PassThroughConflict", "Sync", "note"));
  EXPECT_TRUE(recorder.Warning(Web(), "PassThroughConflict", "Sync", "another note"));
  {
    absl::MutexLock lock(&now_mu);
    now += absl::Minutes(11);
  }
  EXPECT_TRUE(recorder.Warning(Web(), "PassThroughConflict", "Sync", "note"));
  ASSERT_TRUE(recorder.Flush(absl::InfiniteDuration()));
  recorder.Stop();
  EXPECT_EQ(recorder.stats().posted, 3u);
  EXPECT_EQ(recorder.stats().deduplicated, 1u);
  ASSERT_EQ(transport.paths().size(), 3u);
  EXPECT_EQ(transport.paths()[0], "/apis/events.k8s.io/v1/namespaces/shop/events");
  EXPECT_THAT(transport.posts()[0], HasSubstr("\"reportingInstance\":\"node-a\""));
}

// Event-driven, no clock: the first POST hangs until cancelled, so a Warning() that blocked or a
// Stop() that did not cancel it would hang this test until CTest's timeout fails it.
TEST(EventRecorderTest, FullQueueDropsInsteadOfBlockingTheCaller) {
  ScriptedTransport transport;  // nothing scripted: the first POST hangs like a dead server
  EventRecorderOptions options;
  options.queue_size = 2;
  EventRecorder recorder(&transport, options);
  recorder.Start();
  ObjectReference ref = Web();
  int accepted = 0;
  for (int i = 0; i < 10; ++i) {
    ref.name = "svc-" + std::to_string(i);
    accepted += recorder.Warning(ref, "PassThroughConflict", "Sync", "note");
  }
  // One in flight (maybe) plus two queued.
  EXPECT_LE(accepted, 3);
  EXPECT_GE(recorder.stats().dropped, 7u);
  recorder.Stop();
}

TEST(EventRecorderTest, FailedPostIsCountedAndTheNextOneStillGoes) {
  ScriptedTransport transport;
  transport.Push(ScriptedTransport::Status(403));
  transport.Push(ScriptedTransport::Status(201));
  EventRecorder recorder(&transport, EventRecorderOptions{});
  recorder.Start();
  ObjectReference a = Web(), b = Web();
  b.name = "api";
  EXPECT_TRUE(recorder.Warning(a, "PassThroughConflict", "Sync", "note"));
  EXPECT_TRUE(recorder.Warning(b, "PassThroughConflict", "Sync", "note"));
  ASSERT_TRUE(recorder.Flush(absl::InfiniteDuration()));
  recorder.Stop();
  EXPECT_EQ(recorder.stats().failed, 1u);
  EXPECT_EQ(recorder.stats().posted, 1u);
}

TEST(EventRecorderTest, RateLimitSpacesPosts) {
  ScriptedTransport transport;
  for (int i = 0; i < 3; ++i) transport.Push(ScriptedTransport::Status(201));
  EventRecorderOptions options;
  options.qps = 5;
  options.burst = 1;
  EventRecorder recorder(&transport, options);
  recorder.Start();
  ObjectReference ref = Web();
  for (int i = 0; i < 3; ++i) {
    ref.name = "svc-" + std::to_string(i);
    recorder.Warning(ref, "PassThroughConflict", "Sync", "note");
  }
  ASSERT_TRUE(recorder.Flush(absl::InfiniteDuration()));
  recorder.Stop();
  std::vector<absl::Time> t = transport.times();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_GE(t[2] - t[0], absl::Milliseconds(350));
}

}  // namespace
}  // namespace kproxy::apiclient
