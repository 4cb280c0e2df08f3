#include "proxier/proxy_state.h"

#include <atomic>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using testing::AddPort;
using testing::AddSliceEndpoint;
using testing::AddSlicePort;
using testing::Ip;
using testing::MakeEndpointSlice;
using testing::MakeService;
using testing::MakeServicePortName;

class ProxyStateTest : public ::testing::Test {
 protected:
  ProxyStateTest()
      : state_(IpFamily::kIPv4, "node-a", [this] { return now_; }, [this] { ++kicks_; }) {}

  static Service Svc(const std::string& name, int32_t port = 80) {
    return MakeService("ns", name, [&](Service& s) {
      s.cluster_ips = {Ip("172.30.0.1")};
      AddPort(s, "http", Protocol::kTCP, port);
    });
  }
  static EndpointSlice SliceOf(const std::string& service, const std::string& ip,
                               const std::string& slice_name = "") {
    return MakeEndpointSlice("ns", slice_name.empty() ? service + "-1" : slice_name, service,
                             [&](EndpointSlice& s) {
                               AddSlicePort(s, "http", Protocol::kTCP, 8080);
                               AddSliceEndpoint(s, ip);
                             });
  }

  absl::Time now_ = absl::FromUnixSeconds(100);
  int kicks_ = 0;
  ProxyState state_;
};

TEST_F(ProxyStateTest, SyncedOnlyAfterBothListsArrive) {
  EXPECT_FALSE(state_.IsSynced());
  state_.OnServicesSynced();
  EXPECT_FALSE(state_.IsSynced());
  EXPECT_EQ(kicks_, 0);
  state_.OnEndpointSlicesSynced();
  EXPECT_TRUE(state_.IsSynced());
  EXPECT_EQ(kicks_, 1);  // the first sync is kicked once both lists are complete
}

TEST_F(ProxyStateTest, ChangesKickAndLandInSnapshot) {
  state_.OnServiceAdd(Svc("a"));
  EXPECT_EQ(kicks_, 1);
  now_ += absl::Seconds(2);
  state_.OnEndpointSliceAdd(SliceOf("a", "10.0.0.1"));
  EXPECT_EQ(kicks_, 2);
  EXPECT_TRUE(state_.HasPendingChanges());

  ProxyState::Taken taken = state_.TakeSnapshot();
  EXPECT_FALSE(state_.HasPendingChanges());
  EXPECT_EQ(taken.snapshot->family, IpFamily::kIPv4);
  EXPECT_THAT(taken.changed, UnorderedElementsAre(ServiceName{"ns", "a"}));
  EXPECT_THAT(taken.change_times, ElementsAre(absl::FromUnixSeconds(100), absl::FromUnixSeconds(102)));
  ASSERT_EQ(taken.snapshot->services.size(), 1u);
  const auto& eps = taken.snapshot->EndpointsOf(MakeServicePortName("ns", "a", "http"));
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0]->IpPort(), "10.0.0.1:8080");
  EXPECT_THAT(taken.snapshot->EndpointsOf(MakeServicePortName("ns", "nope", "http")), IsEmpty());
}

TEST_F(ProxyStateTest, NoOpUpdateDoesNotKick) {
  Service a = Svc("a");
  state_.OnServiceAdd(a);
  state_.TakeSnapshot();
  kicks_ = 0;
  Service a2 = a;
  a2.metadata.resource_version = "7";
  state_.OnServiceUpdate(a, a2);
  EXPECT_EQ(kicks_, 0);
  EXPECT_FALSE(state_.HasPendingChanges());
}

TEST_F(ProxyStateTest, SnapshotsAreImmutableAndShareUnchangedPorts) {
  state_.OnServiceAdd(Svc("a"));
  state_.OnServiceAdd(Svc("b"));
  ProxyState::Taken first = state_.TakeSnapshot();

  Service b2 = Svc("b", 81);
  state_.OnServiceUpdate(Svc("b"), b2);
  ProxyState::Taken second = state_.TakeSnapshot();
  EXPECT_THAT(second.changed, UnorderedElementsAre(ServiceName{"ns", "b"}));

  auto a_name = MakeServicePortName("ns", "a", "http");
  auto b_name = MakeServicePortName("ns", "b", "http");
  EXPECT_EQ(first.snapshot->services.at(a_name).get(), second.snapshot->services.at(a_name).get());
  EXPECT_EQ(first.snapshot->services.at(b_name)->port, 80);  // the old snapshot is untouched
  EXPECT_EQ(second.snapshot->services.at(b_name)->port, 81);

  ProxyState::Taken third = state_.TakeSnapshot();
  EXPECT_THAT(third.changed, IsEmpty());
  EXPECT_EQ(third.snapshot->services.size(), 2u);
}

TEST_F(ProxyStateTest, DeletesRemoveServiceAndEndpoints) {
  Service a = Svc("a");
  EndpointSlice slice = SliceOf("a", "10.0.0.1");
  state_.OnServiceAdd(a);
  state_.OnEndpointSliceAdd(slice);
  state_.TakeSnapshot();
  state_.OnServiceDelete(a);
  state_.OnEndpointSliceDelete(slice);
  ProxyState::Taken taken = state_.TakeSnapshot();
  EXPECT_THAT(taken.changed, UnorderedElementsAre(ServiceName{"ns", "a"}));
  EXPECT_THAT(taken.snapshot->services, IsEmpty());
  EXPECT_THAT(taken.snapshot->endpoints, IsEmpty());
}

TEST_F(ProxyStateTest, SliceRelabelledToAnotherServiceLeavesTheOldOne) {
  EndpointSlice old_slice = SliceOf("a", "10.0.0.1", "shared");
  state_.OnEndpointSliceAdd(old_slice);
  state_.TakeSnapshot();
  EndpointSlice new_slice = SliceOf("b", "10.0.0.1", "shared");
  state_.OnEndpointSliceUpdate(old_slice, new_slice);
  ProxyState::Taken taken = state_.TakeSnapshot();
  EXPECT_THAT(taken.changed, UnorderedElementsAre(ServiceName{"ns", "a"}, ServiceName{"ns", "b"}));
  EXPECT_THAT(taken.snapshot->EndpointsOf(MakeServicePortName("ns", "a", "http")), IsEmpty());
  EXPECT_EQ(taken.snapshot->EndpointsOf(MakeServicePortName("ns", "b", "http")).size(), 1u);
}

TEST_F(ProxyStateTest, OtherFamilyObjectsAreIgnored) {
  Service v6 = MakeService("ns", "v6", [](Service& s) {
    s.cluster_ips = {Ip("fd00::1")};
    AddPort(s, "http", Protocol::kTCP, 80);
  });
  state_.OnServiceAdd(v6);
  EXPECT_EQ(kicks_, 0);
  EXPECT_FALSE(state_.HasPendingChanges());
}

TEST(ProxyStateConcurrencyTest, SourceThreadAndSyncThreadConverge) {
  std::atomic<int> kicks{0};
  ProxyState state(IpFamily::kIPv4, "node-a", [] { return absl::FromUnixSeconds(1); }, [&] { ++kicks; });
  constexpr int kServices = 300;
  std::thread source([&] {
    for (int i = 0; i < kServices; ++i) {
      const std::string name = "s" + std::to_string(i);
      state.OnServiceAdd(MakeService("ns", name, [&](Service& s) {
        s.cluster_ips = {Ip("172.30.0.1")};
        AddPort(s, "http", Protocol::kTCP, 80);
      }));
      state.OnEndpointSliceAdd(MakeEndpointSlice("ns", name + "-1", name, [&](EndpointSlice& s) {
        AddSlicePort(s, "http", Protocol::kTCP, 8080);
        AddSliceEndpoint(s, "10.0.1." + std::to_string(i % 250 + 1));
      }));
    }
  });
  ChangedServices seen;
  while (seen.size() < kServices) {
    ProxyState::Taken taken = state.TakeSnapshot();
    seen.insert(taken.changed.begin(), taken.changed.end());
    // A snapshot is always internally consistent: every endpoint list belongs to a known slice.
    for (const auto& [name, list] : taken.snapshot->endpoints) ASSERT_EQ(list.size(), 1u);
  }
  source.join();
  ProxyState::Taken last = state.TakeSnapshot();
  EXPECT_EQ(last.snapshot->services.size(), static_cast<size_t>(kServices));
  EXPECT_EQ(last.snapshot->endpoints.size(), static_cast<size_t>(kServices));
  EXPECT_FALSE(state.HasPendingChanges());
  EXPECT_GE(kicks.load(), 1);
}

}  // namespace
}  // namespace kproxy::proxier
