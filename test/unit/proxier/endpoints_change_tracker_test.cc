#include "proxier/endpoints_change_tracker.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using testing::AddSliceEndpoint;
using testing::AddSlicePort;
using testing::Ip;
using testing::MakeEndpointSlice;
using testing::MakeServicePortName;

const absl::Time kT0 = absl::FromUnixSeconds(1000);
constexpr char kNode[] = "node-a";

EndpointSlice Slice(const std::string& name, const std::vector<std::string>& ips, int32_t port = 80,
                    const std::string& service = "svc") {
  return MakeEndpointSlice("ns", name, service, [&](EndpointSlice& s) {
    AddSlicePort(s, "http", Protocol::kTCP, port);
    for (const std::string& ip : ips) AddSliceEndpoint(s, ip);
  });
}

std::vector<std::string> IpPorts(const EndpointsMap& map, const std::string& port = "http",
                                  Protocol protocol = Protocol::kTCP, const std::string& service = "svc") {
  std::vector<std::string> out;
  auto it = map.find(MakeServicePortName("ns", service, port, protocol));
  if (it == map.end()) return out;
  for (const auto& ep : it->second) out.push_back(ep->IpPort());
  return out;
}

TEST(EndpointsChangeTrackerTest, MergesSlicesOfAServiceSortedByIpPort) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EXPECT_TRUE(tracker.Update(Slice("svc-b", {"10.0.0.9", "10.0.0.10"}), false, kT0));
  EXPECT_TRUE(tracker.Update(Slice("svc-a", {"10.0.0.2"}), false, kT0 + absl::Seconds(1)));
  EndpointsMap map;
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.changed, UnorderedElementsAre(ServiceName{"ns", "svc"}));
  EXPECT_THAT(result.change_times, ElementsAre(kT0));
  EXPECT_THAT(IpPorts(map), ElementsAre("10.0.0.10:80", "10.0.0.2:80", "10.0.0.9:80"));
}

TEST(EndpointsChangeTrackerTest, IgnoresOtherFamilyFqdnAndUnlabelledSlices) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice v6 = MakeEndpointSlice("ns", "v6", "svc", [](EndpointSlice& s) {
    s.address_type = AddressType::kIPv6;
    AddSlicePort(s, "http", Protocol::kTCP, 80);
    AddSliceEndpoint(s, "fd00::5");
  });
  EndpointSlice fqdn = Slice("fqdn", {"10.0.0.1"});
  fqdn.address_type = AddressType::kFQDN;
  EndpointSlice unlabelled = Slice("orphan", {"10.0.0.1"});
  unlabelled.service_name.clear();
  unlabelled.metadata.labels.clear();
  EXPECT_FALSE(tracker.Update(v6, false, kT0));
  EXPECT_FALSE(tracker.Update(fqdn, false, kT0));
  EXPECT_FALSE(tracker.Update(unlabelled, false, kT0));
  EXPECT_EQ(tracker.PendingCount(), 0u);

  EndpointsChangeTracker v6_tracker(kNode, IpFamily::kIPv6);
  EXPECT_TRUE(v6_tracker.Update(v6, false, kT0));
  EndpointsMap map;
  v6_tracker.Apply(map);
  EXPECT_THAT(IpPorts(map), ElementsAre("[fd00::5]:80"));
}

TEST(EndpointsChangeTrackerTest, EndpointOfWrongFamilyInsideSliceIsSkipped) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice s = Slice("s", {"10.0.0.1"});
  AddSliceEndpoint(s, "fd00::1");
  tracker.Update(s, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  EXPECT_THAT(IpPorts(map), ElementsAre("10.0.0.1:80"));
}

TEST(EndpointsChangeTrackerTest, PortRules) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice s = MakeEndpointSlice("ns", "s", "svc", [](EndpointSlice& s) {
    s.ports.push_back({std::nullopt, std::nullopt, 8080});        // nil name == "", nil protocol == TCP
    s.ports.push_back({std::string("dns"), Protocol::kUDP, 53});  // protocol kept
    s.ports.push_back({std::string("all"), Protocol::kTCP, std::nullopt});  // nil port: skipped
    s.ports.push_back({std::string("zero"), Protocol::kTCP, 0});            // port 0: skipped
    AddSliceEndpoint(s, "10.0.0.1");
  });
  tracker.Update(s, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  EXPECT_THAT(IpPorts(map, ""), ElementsAre("10.0.0.1:8080"));
  EXPECT_THAT(IpPorts(map, "dns", Protocol::kUDP), ElementsAre("10.0.0.1:53"));
  EXPECT_EQ(map.size(), 2u);
}

TEST(EndpointsChangeTrackerTest, ConditionsAndTopologyFields) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice s = MakeEndpointSlice("ns", "s", "svc", [](EndpointSlice& s) {
    AddSlicePort(s, "http", Protocol::kTCP, 80);
    AddSliceEndpoint(s, "10.0.0.1", [](EndpointSliceEndpoint& e) {  // all nil
      e.node_name = kNode;
      e.zone = "zone-a";
      e.hints_for_zones = std::vector<std::string>{"zone-b", "zone-a", "zone-a"};
      e.hints_for_nodes = std::vector<std::string>{"node-b"};
    });
    AddSliceEndpoint(s, "10.0.0.2", [](EndpointSliceEndpoint& e) {
      e.conditions.ready = false;  // serving nil follows ready
      e.node_name = "node-b";
      e.hints_for_zones = std::vector<std::string>{};  // empty == absent
    });
    AddSliceEndpoint(s, "10.0.0.3", [](EndpointSliceEndpoint& e) {
      e.conditions.ready = false;
      e.conditions.serving = true;
      e.conditions.terminating = true;
    });
  });
  tracker.Update(s, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  const EndpointList& eps = map.at(MakeServicePortName("ns", "svc", "http"));
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_TRUE(eps[0]->ready);
  EXPECT_TRUE(eps[0]->serving);
  EXPECT_FALSE(eps[0]->terminating);
  EXPECT_TRUE(eps[0]->is_local);
  EXPECT_EQ(eps[0]->zone, "zone-a");
  EXPECT_TRUE(eps[0]->has_zone_hints());
  EXPECT_THAT(eps[0]->zone_hints(), ElementsAre("zone-a", "zone-b"));
  EXPECT_TRUE(eps[0]->has_node_hints());
  EXPECT_THAT(eps[0]->node_hints(), ElementsAre("node-b"));

  EXPECT_FALSE(eps[1]->ready);
  EXPECT_FALSE(eps[1]->serving);
  EXPECT_FALSE(eps[1]->is_local);
  EXPECT_FALSE(eps[1]->has_zone_hints());
  EXPECT_EQ(eps[1]->node_name, "node-b");

  EXPECT_FALSE(eps[2]->ready);
  EXPECT_TRUE(eps[2]->serving);
  EXPECT_TRUE(eps[2]->terminating);
  EXPECT_FALSE(eps[2]->is_local);  // no nodeName
}

TEST(EndpointsChangeTrackerTest, EmptyNodeNameNeverMakesEndpointsLocal) {
  EndpointsChangeTracker tracker("", IpFamily::kIPv4);
  EndpointSlice s = Slice("s", {});
  AddSliceEndpoint(s, "10.0.0.1", [](EndpointSliceEndpoint& e) { e.node_name = ""; });
  tracker.Update(s, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  EXPECT_FALSE(map.begin()->second[0]->is_local);
}

TEST(EndpointsChangeTrackerTest, DuplicateAcrossSlicesAppearsOncePreferringNonTerminating) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice a = Slice("svc-a", {});
  AddSliceEndpoint(a, "10.0.0.1", [](EndpointSliceEndpoint& e) {
    e.conditions.ready = false;
    e.conditions.terminating = true;
  });
  AddSliceEndpoint(a, "10.0.0.2", [](EndpointSliceEndpoint& e) { e.zone = "from-a"; });
  EndpointSlice b = Slice("svc-b", {});
  AddSliceEndpoint(b, "10.0.0.1");
  AddSliceEndpoint(b, "10.0.0.2", [](EndpointSliceEndpoint& e) { e.zone = "from-b"; });
  tracker.Update(b, false, kT0);
  tracker.Update(a, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  const EndpointList& eps = map.at(MakeServicePortName("ns", "svc", "http"));
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_TRUE(eps[0]->ready);               // the non-terminating copy from svc-b
  EXPECT_EQ(eps[1]->zone, "from-a");        // equal standing: first slice by name wins
}

TEST(EndpointsChangeTrackerTest, SliceUpdateWithEqualContentIsNoOp) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice v1 = Slice("s", {"10.0.0.1"});
  tracker.Update(v1, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  EndpointSlice v2 = v1;
  v2.metadata.resource_version = "2";
  v2.metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"] = "x";
  EXPECT_FALSE(tracker.Update(v2, false, kT0));
  EXPECT_EQ(tracker.PendingCount(), 0u);
}

TEST(EndpointsChangeTrackerTest, EndpointMovingBetweenSlicesIsNotAChange) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  tracker.Update(Slice("s1", {"10.0.0.1", "10.0.0.2"}), false, kT0);
  tracker.Update(Slice("s2", {"10.0.0.3"}), false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  const Endpoint* before = map.begin()->second[0].get();

  tracker.Update(Slice("s1", {"10.0.0.1"}), false, kT0);
  tracker.Update(Slice("s2", {"10.0.0.2", "10.0.0.3"}), false, kT0);
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.changed, IsEmpty());
  EXPECT_THAT(result.change_times, IsEmpty());
  EXPECT_THAT(IpPorts(map), ElementsAre("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"));
  EXPECT_EQ(map.begin()->second[0].get(), before);  // unchanged lists keep their pointers
}

TEST(EndpointsChangeTrackerTest, DeletingLastSliceRemovesServiceEntries) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice s = Slice("s", {"10.0.0.1"});
  EndpointSlice other = Slice("o", {"10.0.0.7"}, 80, "svc2");
  tracker.Update(s, false, kT0);
  tracker.Update(other, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  EXPECT_TRUE(tracker.Update(s, true, kT0));
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.changed, UnorderedElementsAre(ServiceName{"ns", "svc"}));
  EXPECT_EQ(map.size(), 1u);
  EXPECT_THAT(IpPorts(map, "http", Protocol::kTCP, "svc2"), ElementsAre("10.0.0.7:80"));
}

TEST(EndpointsChangeTrackerTest, DeletingUnknownSliceIsNoOp) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EXPECT_FALSE(tracker.Update(Slice("never-seen", {"10.0.0.1"}), true, kT0));
}

TEST(EndpointsChangeTrackerTest, AddThenRemoveBeforeApplyReportsNothing) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice s = Slice("s", {"10.0.0.1"});
  tracker.Update(s, false, kT0);
  tracker.Update(s, true, kT0);
  EndpointsMap map;
  EXPECT_THAT(tracker.Apply(map).changed, IsEmpty());
  EXPECT_THAT(map, IsEmpty());
}

TEST(EndpointsChangeTrackerTest, PortRenameReplacesTheOldEntry) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  tracker.Update(Slice("s", {"10.0.0.1"}), false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  EndpointSlice renamed = Slice("s", {"10.0.0.1"});
  renamed.ports[0].name = "web";
  tracker.Update(renamed, false, kT0);
  EXPECT_THAT(tracker.Apply(map).changed, UnorderedElementsAre(ServiceName{"ns", "svc"}));
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map.begin()->first.port_name, "web");
}

TEST(EndpointsChangeTrackerTest, ConditionChangeIsAChange) {
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  EndpointSlice s = Slice("s", {"10.0.0.1"});
  tracker.Update(s, false, kT0);
  EndpointsMap map;
  tracker.Apply(map);
  s.endpoints[0].conditions.ready = false;
  EXPECT_TRUE(tracker.Update(s, false, kT0 + absl::Seconds(3)));
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.change_times, ElementsAre(kT0 + absl::Seconds(3)));
  EXPECT_FALSE(map.begin()->second[0]->ready);
}

TEST(EndpointsChangeTrackerTest, OnlyPendingServicesAreRecomputedAtScale) {
  // 2000 Services x 10 endpoints; one change afterwards touches one Service only.
  EndpointsChangeTracker tracker(kNode, IpFamily::kIPv4);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::string> ips;
    for (int j = 0; j < 10; ++j) ips.push_back(absl::StrCat("10.", i / 250, ".", i % 250, ".", j + 1));
    tracker.Update(Slice(absl::StrCat("s", i), ips, 80, absl::StrCat("svc", i)), false, kT0);
  }
  EndpointsMap map;
  EXPECT_EQ(tracker.Apply(map).changed.size(), 2000u);
  const Endpoint* untouched = map.at(MakeServicePortName("ns", "svc7", "http"))[0].get();
  tracker.Update(Slice("s5", {"10.0.5.1"}, 80, "svc5"), false, kT0);
  auto result = tracker.Apply(map);
  EXPECT_THAT(result.changed, UnorderedElementsAre(ServiceName{"ns", "svc5"}));
  EXPECT_EQ(map.at(MakeServicePortName("ns", "svc7", "http"))[0].get(), untouched);
  EXPECT_EQ(map.at(MakeServicePortName("ns", "svc5", "http")).size(), 1u);
}

}  // namespace
}  // namespace kproxy::proxier
