#include "proxier/ipvs/ipvs_diff.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/ipvs/ipvs_planner.h"
#include "test/unit/ipvs/ipvs_test_util.h"

namespace kproxy::proxier::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = IpvsOperation::Kind;

// A desired state with one virtual server and the given destinations.
DesiredIpvsState Desired(VirtualServerKey key, std::vector<RealServerKey> dests, bool bind = true) {
  DesiredIpvsState d;
  IpvsService& svc = d.services[key];
  svc.server.key = key;
  for (const auto& k : dests) svc.destinations[k] = RealServer{k, 1, 0, 0};
  if (bind) d.bound_addresses.insert(key.address);
  return d;
}

// What the kernel holds after applying `d` (hashed flag set, as the kernel reports).
ObservedIpvsState AsObserved(const DesiredIpvsState& d) {
  ObservedIpvsState o;
  o.services = d.services;
  for (auto& [k, svc] : o.services) svc.server.flags |= kFlagHashed;
  o.bound_addresses = d.bound_addresses;
  return o;
}

std::vector<Kind> Kinds(const std::vector<IpvsOperation>& ops) {
  std::vector<Kind> out;
  for (const auto& op : ops) out.push_back(op.kind);
  return out;
}

TEST(IpvsDiffTest, EmptyKernelGetsAddressThenServiceThenDestinations) {
  auto d = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080), Dest("10.0.2.5", 8080)});
  auto ops = DiffIpvs(d, {});
  EXPECT_THAT(Kinds(ops), ElementsAre(Kind::kBindAddress, Kind::kAddService, Kind::kAddDestination,
                                      Kind::kAddDestination));
  EXPECT_EQ(ops[1].ToString(), "add-service 10.96.0.10:80/TCP rr");
  EXPECT_EQ(ops[2].ToString(), "add-destination 10.96.0.10:80/TCP -> 10.0.1.5:8080 weight 1");
}

TEST(IpvsDiffTest, KernelAlreadyRightGivesNoOperations) {
  auto d = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080)});
  EXPECT_THAT(DiffIpvs(d, AsObserved(d)), IsEmpty());
}

TEST(IpvsDiffTest, OneEndpointAddedIsExactlyOneDestinationOperation) {
  auto before = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080)});
  auto after = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080), Dest("10.0.3.5", 8080)});
  auto ops = DiffIpvs(after, AsObserved(before));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, Kind::kAddDestination);
  EXPECT_EQ(ops[0].destination.key, Dest("10.0.3.5", 8080));
}

struct GracefulCase {
  std::string name;
  Protocol protocol;
  uint32_t observed_weight;
  uint32_t active;
  uint32_t inactive;
  std::vector<Kind> want;
  uint32_t want_weight;  // of the edit, when there is one
};

class GracefulTerminationTest : public ::testing::TestWithParam<GracefulCase> {};

TEST_P(GracefulTerminationTest, RemovedDestination) {
  const GracefulCase& c = GetParam();
  auto before = Desired(Key("10.96.0.10", 80, c.protocol), {Dest("10.0.1.5", 8080), Dest("10.0.2.5", 8080)});
  auto observed = AsObserved(before);
  RealServer& gone = observed.services.begin()->second.destinations.at(Dest("10.0.2.5", 8080));
  gone.weight = c.observed_weight;
  gone.active_connections = c.active;
  gone.inactive_connections = c.inactive;
  auto after = Desired(Key("10.96.0.10", 80, c.protocol), {Dest("10.0.1.5", 8080)});
  auto ops = DiffIpvs(after, observed);
  EXPECT_EQ(Kinds(ops), c.want);
  if (!ops.empty() && ops[0].kind == Kind::kEditDestination) {
    EXPECT_EQ(ops[0].destination.weight, c.want_weight);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GracefulTerminationTest,
    ::testing::Values(
        GracefulCase{"TcpFirstGoesToWeightZero", Protocol::kTCP, 1, 3, 1, {Kind::kEditDestination}, 0},
        GracefulCase{"TcpIdleStillFirstGoesToWeightZero", Protocol::kTCP, 1, 0, 0, {Kind::kEditDestination}, 0},
        GracefulCase{"TcpDrainingWithActiveConnectionsWaits", Protocol::kTCP, 0, 2, 0, {}, 0},
        GracefulCase{"TcpDrainingWithInactiveConnectionsWaits", Protocol::kTCP, 0, 0, 4, {}, 0},
        GracefulCase{"TcpDrainedIsDeleted", Protocol::kTCP, 0, 0, 0, {Kind::kDeleteDestination}, 0},
        GracefulCase{"UdpIsDeletedAtOnce", Protocol::kUDP, 1, 5, 5, {Kind::kDeleteDestination}, 0},
        GracefulCase{"SctpIsDeletedAtOnce", Protocol::kSCTP, 1, 5, 5, {Kind::kDeleteDestination}, 0}),
    [](const ::testing::TestParamInfo<GracefulCase>& info) { return info.param.name; });

TEST(IpvsDiffTest, DrainingDestinationDesiredAgainIsRestoredToWeightOne) {
  auto d = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080)});
  auto observed = AsObserved(d);
  observed.services.begin()->second.destinations.begin()->second.weight = 0;
  auto ops = DiffIpvs(d, observed);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, Kind::kEditDestination);
  EXPECT_EQ(ops[0].destination.weight, 1u);
}

TEST(IpvsDiffTest, SchedulerFlagsOrTimeoutChangeIsOneEdit) {
  auto d = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080)});
  auto observed = AsObserved(d);
  d.services.begin()->second.server.flags = kFlagPersistent;
  d.services.begin()->second.server.timeout_seconds = 10800;
  auto ops = DiffIpvs(d, observed);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, Kind::kEditService);
  EXPECT_EQ(ops[0].ToString(), "edit-service 10.96.0.10:80/TCP rr persistent 10800");
}

TEST(IpvsDiffTest, ServiceNoLongerDesiredIsDeletedThenUnbound) {
  auto d = Desired(Key("10.96.0.10", 80), {Dest("10.0.1.5", 8080)});
  auto ops = DiffIpvs(DesiredIpvsState{}, AsObserved(d));
  EXPECT_THAT(Kinds(ops), ElementsAre(Kind::kDeleteService, Kind::kUnbindAddress));
}

TEST(IpvsDiffTest, FlipToPassThroughRemovesLbVirtualServerAndUnbindsAfterwards) {
  Service before = MakeLbService("lb", 10, "203.0.113.10");
  Service after = MakeLbService("lb", 10, "203.0.113.10", absl::UnixEpoch(), /*pass_through=*/true);
  auto eps = std::map<ServicePortName, EndpointList>{
      {MakeServicePortName("web", "lb", ""), {MakeEndpoint("10.0.1.5", 8080)}}};
  DesiredIpvsState was = PlanIpvs(MakeSnapshot({before}, eps), MakeNode(), {});
  DesiredIpvsState now = PlanIpvs(MakeSnapshot({after}, eps), MakeNode(), {});
  auto ops = DiffIpvs(now, AsObserved(was));
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, Kind::kDeleteService);
  EXPECT_EQ(ops[0].server.key, Key("203.0.113.10", 80));
  EXPECT_EQ(ops[1].kind, Kind::kUnbindAddress);
  EXPECT_EQ(ops[1].address, Ip("203.0.113.10"));
}

TEST(IpvsDiffTest, DestinationDeletesComeBeforeAddsWithinAService) {
  auto before = Desired(Key("10.96.0.10", 80, Protocol::kUDP), {Dest("10.0.1.5", 53)});
  auto after = Desired(Key("10.96.0.10", 80, Protocol::kUDP), {Dest("10.0.2.5", 53)});
  EXPECT_THAT(Kinds(DiffIpvs(after, AsObserved(before))),
              ElementsAre(Kind::kDeleteDestination, Kind::kAddDestination));
}

}  // namespace
}  // namespace kproxy::proxier::ipvs
