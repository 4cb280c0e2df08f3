#include "backends/conntrack/stale_flow_cleaner.h"

#include <functional>
#include <memory>
#include <string>

#include "backends/conntrack/testing/fake_conntrack_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::conntrack {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

proxier::IpAddress Ip(absl::string_view s) { return proxier::IpAddress::Parse(s).value(); }

// orig: client -> dst:dport; reply: backend:bport -> client.
ConntrackEntry Flow(proxier::Protocol proto, absl::string_view client, absl::string_view dst, uint16_t dport,
                    absl::string_view backend, uint16_t bport) {
  ConntrackEntry e;
  e.protocol = proto;
  e.orig_source = Ip(client);
  e.orig_source_port = 40000;
  e.orig_destination = Ip(dst);
  e.orig_destination_port = dport;
  e.reply_source = Ip(backend);
  e.reply_source_port = bport;
  e.reply_destination = Ip(client);
  e.reply_destination_port = 40000;
  return e;
}
ConntrackEntry Udp(absl::string_view client, absl::string_view dst, uint16_t dport, absl::string_view backend,
                   uint16_t bport) {
  return Flow(proxier::Protocol::kUDP, client, dst, dport, backend, bport);
}

struct SnapshotBuilder {
  proxier::ProxySnapshot snap;
  proxier::ServicePortName AddService(absl::string_view name, proxier::Protocol proto,
                                      const std::function<void(proxier::ServicePort&)>& mutate) {
    auto sp = std::make_shared<proxier::ServicePort>();
    sp->name.service = {"ns", std::string(name)};
    sp->name.port_name = "p";
    sp->name.protocol = proto;
    sp->protocol = proto;
    sp->port = 53;
    sp->cluster_ip = Ip("10.96.0.10");
    mutate(*sp);
    snap.services[sp->name] = sp;
    return sp->name;
  }
  void AddEndpoint(const proxier::ServicePortName& name, absl::string_view ip, bool serving = true) {
    auto ep = std::make_shared<proxier::Endpoint>();
    ep->ip = Ip(ip);
    ep->port = 5353;
    ep->ready = serving;
    ep->serving = serving;
    snap.endpoints[name].push_back(ep);
  }
};

const proxier::NodeContext kNode{.node_name = "node-a", .node_ips = {Ip("192.0.2.129")}};

TEST(StaleFlowCleanerTest, RemovesFlowsToARemovedEndpoint) {
  SnapshotBuilder b;
  auto svc = b.AddService("dns", proxier::Protocol::kUDP, [](proxier::ServicePort&) {});
  b.AddEndpoint(svc, "10.244.1.3");  // 10.244.1.2 went away
  std::vector<ConntrackEntry> entries = {
      Udp("10.244.2.5", "10.96.0.10", 53, "10.244.1.2", 5353),  // stale
      Udp("10.244.2.6", "10.96.0.10", 53, "10.244.1.3", 5353),  // fine
      Udp("10.244.2.7", "10.96.0.11", 53, "10.244.1.2", 5353),  // another address
      Udp("10.244.2.8", "10.96.0.10", 54, "10.244.1.2", 5353),  // another port
  };
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), ElementsAre(entries[0]));
}

TEST(StaleFlowCleanerTest, ServiceGainingItsFirstEndpointDropsFlowsThatWereNotDnatted) {
  // While the Service had no endpoint the flow was answered by nobody (reply source = the
  // ClusterIP itself); once an endpoint exists the entry must go so new packets hit the DNAT rule.
  SnapshotBuilder b;
  auto svc = b.AddService("dns", proxier::Protocol::kUDP, [](proxier::ServicePort&) {});
  std::vector<ConntrackEntry> entries = {Udp("10.244.2.5", "10.96.0.10", 53, "10.96.0.10", 53)};
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), IsEmpty());  // no endpoint: keep
  b.AddEndpoint(svc, "10.244.1.2");
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), ElementsAre(entries[0]));
}

TEST(StaleFlowCleanerTest, OnlyServingEndpointsCount) {
  SnapshotBuilder b;
  auto svc = b.AddService("dns", proxier::Protocol::kUDP, [](proxier::ServicePort&) {});
  b.AddEndpoint(svc, "10.244.1.2", /*serving=*/false);
  b.AddEndpoint(svc, "10.244.1.3");
  std::vector<ConntrackEntry> entries = {Udp("10.244.2.5", "10.96.0.10", 53, "10.244.1.2", 5353)};
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), ElementsAre(entries[0]));
}

TEST(StaleFlowCleanerTest, CoversExternalIpsLoadBalancerVipsAndNodePortsOnAnyAddress) {
  SnapshotBuilder b;
  auto svc = b.AddService("dns", proxier::Protocol::kUDP, [](proxier::ServicePort& s) {
    s.external_ips = {Ip("198.51.100.7")};
    s.load_balancer_vips = {Ip("203.0.113.20")};
    s.node_port = 30053;
  });
  b.AddEndpoint(svc, "10.244.1.3");
  std::vector<ConntrackEntry> entries = {
      Udp("198.51.100.99", "198.51.100.7", 53, "10.244.1.2", 5353),
      Udp("198.51.100.99", "203.0.113.20", 53, "10.244.1.2", 5353),
      Udp("198.51.100.99", "192.0.2.129", 30053, "10.244.1.2", 5353),
      Udp("198.51.100.99", "127.0.0.1", 30053, "10.244.1.2", 5353),
      Udp("198.51.100.99", "192.0.2.129", 30053, "10.244.1.3", 5353),  // fine
  };
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode),
              ElementsAre(entries[0], entries[1], entries[2], entries[3]));
}

TEST(StaleFlowCleanerTest, PassThroughVipFlowsDnattedOnTheNodeAreRemoved) {
  // The Service just became pass-through: 203.0.113.10 lost its local DNAT; flows that were
  // DNAT'd here must go so the next packets leave the node for the ELB. Flows that already go
  // through the ELB (reply from the VIP itself) stay.
  SnapshotBuilder b;
  auto svc = b.AddService("lb", proxier::Protocol::kUDP, [](proxier::ServicePort& s) {
    s.port = 80;
    s.pass_through_vips = {Ip("203.0.113.10")};
  });
  b.AddEndpoint(svc, "10.244.1.2");
  std::vector<ConntrackEntry> entries = {
      Udp("10.244.2.5", "203.0.113.10", 80, "10.244.1.2", 8080),    // DNAT'd locally: stale
      Udp("10.244.2.6", "203.0.113.10", 80, "203.0.113.10", 80),    // via the ELB: keep
      Udp("10.244.2.7", "203.0.113.10", 81, "10.244.1.2", 8080),    // other port: keep
  };
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), ElementsAre(entries[0]));
}

TEST(StaleFlowCleanerTest, PassThroughAppliesEvenWithoutEndpoints) {
  SnapshotBuilder b;
  b.AddService("lb", proxier::Protocol::kUDP, [](proxier::ServicePort& s) {
    s.port = 80;
    s.pass_through_vips = {Ip("203.0.113.10")};
  });
  std::vector<ConntrackEntry> entries = {Udp("10.244.2.5", "203.0.113.10", 80, "10.244.1.2", 8080)};
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), ElementsAre(entries[0]));
}

TEST(StaleFlowCleanerTest, TcpIsNeverTouched) {
  SnapshotBuilder b;
  auto tcp = b.AddService("web", proxier::Protocol::kTCP, [](proxier::ServicePort& s) {
    s.pass_through_vips = {Ip("203.0.113.10")};
  });
  b.AddEndpoint(tcp, "10.244.1.3");
  auto udp = b.AddService("dns", proxier::Protocol::kUDP, [](proxier::ServicePort&) {});
  b.AddEndpoint(udp, "10.244.1.3");
  std::vector<ConntrackEntry> entries = {
      Flow(proxier::Protocol::kTCP, "10.244.2.5", "10.96.0.10", 53, "10.244.1.2", 5353),
      Flow(proxier::Protocol::kTCP, "10.244.2.5", "203.0.113.10", 53, "10.244.1.2", 5353),
  };
  EXPECT_THAT(FindStaleUdpFlows(entries, b.snap, kNode), IsEmpty());
}

TEST(StaleFlowCleanerTest, CleanDeletesThroughTheClientAndKeepsTheRest) {
  SnapshotBuilder b;
  auto svc = b.AddService("dns", proxier::Protocol::kUDP, [](proxier::ServicePort&) {});
  b.AddEndpoint(svc, "10.244.1.3");
  testing::FakeConntrackClient client;
  ConntrackEntry stale = Udp("10.244.2.5", "10.96.0.10", 53, "10.244.1.2", 5353);
  ConntrackEntry good = Udp("10.244.2.6", "10.96.0.10", 53, "10.244.1.3", 5353);
  ConntrackEntry tcp = Flow(proxier::Protocol::kTCP, "10.244.2.5", "10.96.0.10", 53, "10.244.1.2", 5353);
  client.Add(stale);
  client.Add(good);
  client.Add(tcp);
  auto n = CleanStaleUdpFlows(client, b.snap, kNode);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_THAT(client.Deleted(), ElementsAre(stale));
  EXPECT_THAT(client.Entries(), ElementsAre(good, tcp));
  // Nothing stale: no delete call at all.
  ASSERT_TRUE(CleanStaleUdpFlows(client, b.snap, kNode).ok());
  EXPECT_EQ(client.delete_calls(), 1);
}

TEST(StaleFlowCleanerTest, ListErrorIsReturned) {
  proxier::ProxySnapshot snap;
  testing::FakeConntrackClient client;
  client.FailNextList(absl::PermissionDeniedError("EPERM"));
  EXPECT_EQ(CleanStaleUdpFlows(client, snap, kNode).status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace kproxy::backends::conntrack
