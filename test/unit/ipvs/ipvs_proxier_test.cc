#include "backends/ipvs/ipvs_proxier.h"

#include "backends/ipvs/ipvs_cleanup.h"

#include "backends/conntrack/testing/fake_conntrack_client.h"
#include "backends/iptables/testing/fake_iptables_runner.h"
#include "backends/ipvs/testing/fake_ipset_writer.h"
#include "backends/ipvs/testing/fake_ipvs_client.h"
#include "backends/ipvs/testing/fake_link_manager.h"
#include "gmock/gmock.h"
#include "proxier/node_port_addresses.h"
#include "gtest/gtest.h"
#include "test/unit/ipvs/ipvs_test_util.h"

namespace kproxy::backends::ipvs {
namespace {

using namespace ::kproxy::proxier::ipvs::testing;  // NOLINT
using ::kproxy::proxier::testing::AddSliceEndpoint;
using ::kproxy::proxier::testing::AddSlicePort;
using ::kproxy::proxier::testing::MakeEndpointSlice;
using proxier::EndpointSlice;
using proxier::IpAddress;
using proxier::IpFamily;
using proxier::Protocol;
using proxier::Service;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class IpvsProxierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = std::make_unique<proxier::ProxyState>(IpFamily::kIPv4, "node-a", [] { return absl::Now(); }, [] {});
    IpvsKernel kernel;
    auto ipvs = std::make_unique<testing::FakeIpvsClient>();
    auto links = std::make_unique<testing::FakeLinkManager>();
    auto ipsets = std::make_unique<testing::FakeIpsetWriter>();
    ipvs_ = ipvs.get();
    links_ = links.get();
    ipsets_ = ipsets.get();
    kernel.ipvs = std::move(ipvs);
    kernel.links = std::move(links);
    kernel.ipsets = std::move(ipsets);
    IpvsProxierOptions options;
    options.apply_sysctls = false;
    options.on_conflicts = [this](IpFamily, const std::vector<proxier::PassThroughConflict>& c) {
      ++conflict_reports_;
      last_conflicts_ = c;
    };
    IpvsFamily family;
    family.state = state_.get();
    family.node = MakeNode();
    family.iptables = &iptables_;
    auto p = IpvsProxier::Create({family}, std::move(kernel), options);
    ASSERT_TRUE(p.ok()) << p.status();
    proxier_ = std::move(*p);
    state_->OnServicesSynced();
    state_->OnEndpointSlicesSynced();
  }

  static EndpointSlice Slice(absl::string_view service, std::vector<std::string> ips, Protocol p = Protocol::kTCP) {
    return MakeEndpointSlice("web", absl::StrCat(service, "-1"), service, [&](EndpointSlice& s) {
      AddSlicePort(s, "", p, 8080);
      for (const auto& ip : ips) AddSliceEndpoint(s, ip);
    });
  }

  void SyncOk() {
    auto r = proxier_->Sync();
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::unique_ptr<proxier::ProxyState> state_;
  iptables::testing::FakeIptablesRunner iptables_;
  testing::FakeIpvsClient* ipvs_ = nullptr;
  testing::FakeLinkManager* links_ = nullptr;
  testing::FakeIpsetWriter* ipsets_ = nullptr;
  std::unique_ptr<IpvsProxier> proxier_;
  int conflict_reports_ = 0;
  std::vector<proxier::PassThroughConflict> last_conflicts_;
};

TEST_F(IpvsProxierTest, SyncProgramsVirtualServersAddressesIpsetsAndIptables) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  state_->OnEndpointSliceAdd(Slice("lb", {"10.0.1.5", "10.0.2.5"}));
  SyncOk();
  EXPECT_TRUE(links_->HasLink("kube-ipvs0"));
  ASSERT_TRUE(ipvs_->table().contains(Key("10.96.0.10", 80)));
  EXPECT_EQ(ipvs_->table().at(Key("203.0.113.10", 80)).destinations.size(), 2u);
  EXPECT_TRUE(ipvs_->table().contains(Key("192.0.2.129", 30010)));
  auto addrs = links_->ListAddresses("kube-ipvs0", IpFamily::kIPv4);
  ASSERT_TRUE(addrs.ok());
  EXPECT_TRUE(addrs->contains(Ip("10.96.0.10")));
  EXPECT_TRUE(addrs->contains(Ip("203.0.113.10")));
  EXPECT_TRUE(ipsets_->Contains("KUBE-LOAD-BALANCER", "203.0.113.10,tcp:80"));
  EXPECT_EQ(iptables_.restore_count(), 1);
  auto rules = iptables_.Rules(iptables::Table::kNat, "PREROUTING");
  ASSERT_TRUE(rules.has_value());
  EXPECT_EQ(rules->size(), 1u);
}

TEST_F(IpvsProxierTest, UnchangedStateWritesNothingToIpvs) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  state_->OnEndpointSliceAdd(Slice("lb", {"10.0.1.5"}));
  SyncOk();
  ipvs_->ResetCalls();
  const int adds = links_->adds();
  SyncOk();
  EXPECT_EQ(ipvs_->writes(), 0);
  EXPECT_EQ(links_->adds(), adds);
}

TEST_F(IpvsProxierTest, OneEndpointChangeIsExactlyOneDestinationOperationPerVirtualServer) {
  Service s = MakeService("web", "c", [](Service& s) {
    s.cluster_ips = {Ip("10.96.0.20")};
    AddPort(s, "", Protocol::kUDP, 53);
  });
  state_->OnServiceAdd(s);
  EndpointSlice before = Slice("c", {"10.0.1.5"}, Protocol::kUDP);
  state_->OnEndpointSliceAdd(before);
  SyncOk();
  ipvs_->ResetCalls();
  EndpointSlice after = Slice("c", {"10.0.1.5", "10.0.2.5"}, Protocol::kUDP);
  state_->OnEndpointSliceUpdate(before, after);
  SyncOk();
  EXPECT_EQ(ipvs_->writes(), 1);
  EXPECT_EQ(ipvs_->calls().at("AddDestination"), 1);
}

// The report carries what the ip_family-labelled metrics need: the family synced, its no-local
// counts, and when each applied change was queued (network programming latency; IPVS mode reported
// none before).
TEST_F(IpvsProxierTest, ReportIsPerFamilyWithTheChangeTimes) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  absl::StatusOr<proxier::SyncReport> report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->families, ::testing::ElementsAre(IpFamily::kIPv4));
  ASSERT_FALSE(report->change_times.empty());
  EXPECT_EQ(report->change_times[0].first, IpFamily::kIPv4);
  EXPECT_TRUE(report->no_local_endpoints.contains(IpFamily::kIPv4));
  EXPECT_FALSE(report->no_local_endpoints.contains(IpFamily::kIPv6));
}

// A netlink write refused (EPERM: e.g. a missing capability, or a security module) fails the sync
// with the operation named; what was programmed before stays, and once the kernel accepts writes
// again the next sync is a full one and completes the change.
TEST_F(IpvsProxierTest, RefusedNetlinkWriteFailsTheSyncKeepsTheTableAndTheNextSyncIsFull) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  EndpointSlice before = Slice("lb", {"10.0.1.5"});
  state_->OnEndpointSliceAdd(before);
  SyncOk();
  const auto table_before = ipvs_->table();

  ipvs_->FailCalls("AddDestination", absl::PermissionDeniedError("IPVS_CMD_NEW_DEST: EPERM"));
  EndpointSlice after = Slice("lb", {"10.0.1.5", "10.0.2.5"});
  state_->OnEndpointSliceUpdate(before, after);
  auto failed = proxier_->Sync();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("EPERM"));
  EXPECT_THAT(failed.status().message(), HasSubstr("IPVS operations failed"));
  EXPECT_EQ(ipvs_->table(), table_before) << "nothing else changed under a refused write";

  ipvs_->ClearFailures();
  auto recovered = proxier_->Sync();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_TRUE(recovered->full) << "the sync after a failure is full";
  EXPECT_EQ(ipvs_->table().at(Key("10.96.0.10", 80)).destinations.size(), 2u);
  EXPECT_EQ(ipvs_->table().at(Key("203.0.113.10", 80)).destinations.size(), 2u);
}

// The kernel's table cannot be read (ENOENT when the ip_vs module is gone, EPERM): nothing is
// written blind, and the sync is retried in full.
TEST_F(IpvsProxierTest, UnreadableIpvsTableWritesNothingAndRetriesInFull) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  state_->OnEndpointSliceAdd(Slice("lb", {"10.0.1.5"}));
  ipvs_->FailCalls("ListServices", absl::NotFoundError("IPVS_CMD_GET_SERVICE: ENOENT"));
  auto failed = proxier_->Sync();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("ENOENT"));
  EXPECT_EQ(ipvs_->writes(), 0);
  ipvs_->ClearFailures();
  auto recovered = proxier_->Sync();
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_TRUE(recovered->full);
  EXPECT_TRUE(ipvs_->table().contains(Key("203.0.113.10", 80)));
}

// --ipvs-tcp-timeout/--ipvs-tcpfin-timeout/--ipvs-udp-timeout are set once at start; a kernel that
// refuses them does not stop the proxy (as upstream).
TEST_F(IpvsProxierTest, ConfiguredTimeoutsAreSetAtStartAndARefusalIsNotFatal) {
  auto make = [](proxier::ipvs::IpvsTimeouts timeouts, testing::FakeIpvsClient** fake, absl::Status failure) {
    IpvsKernel kernel;
    auto ipvs = std::make_unique<testing::FakeIpvsClient>();
    if (!failure.ok()) ipvs->FailCalls("SetTimeouts", failure);
    *fake = ipvs.get();
    kernel.ipvs = std::move(ipvs);
    kernel.links = std::make_unique<testing::FakeLinkManager>();
    kernel.ipsets = std::make_unique<testing::FakeIpsetWriter>();
    IpvsProxierOptions options;
    options.apply_sysctls = false;
    options.timeouts = timeouts;
    return IpvsProxier::Create({}, std::move(kernel), options);
  };
  testing::FakeIpvsClient* fake = nullptr;
  auto p = make({0, 0, 0}, &fake, absl::OkStatus());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(fake->calls().contains("SetTimeouts")) << "nothing configured: the kernel's stay";

  p = make({600, 0, 30}, &fake, absl::OkStatus());
  ASSERT_TRUE(p.ok()) << p.status();
  auto now = fake->GetTimeouts();
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(*now, (proxier::ipvs::IpvsTimeouts{600, 120, 30}));

  p = make({600, 0, 0}, &fake, absl::PermissionDeniedError("IPVS_CMD_SET_CONFIG timeouts: EPERM"));
  EXPECT_TRUE(p.ok()) << p.status();
}

TEST_F(IpvsProxierTest, RemovedTcpEndpointDrainsThenIsDeletedWhenConnectionsEnd) {
  Service s = MakeService("web", "c", [](Service& s) {
    s.cluster_ips = {Ip("10.96.0.20")};
    AddPort(s, "", Protocol::kTCP, 80);
  });
  state_->OnServiceAdd(s);
  EndpointSlice before = Slice("c", {"10.0.1.5", "10.0.2.5"});
  state_->OnEndpointSliceAdd(before);
  SyncOk();
  ipvs_->SetConnections(Key("10.96.0.20", 80), Dest("10.0.2.5", 8080), 2, 1);
  EndpointSlice after = Slice("c", {"10.0.1.5"});
  state_->OnEndpointSliceUpdate(before, after);
  SyncOk();
  const auto& dests = ipvs_->table().at(Key("10.96.0.20", 80)).destinations;
  ASSERT_TRUE(dests.contains(Dest("10.0.2.5", 8080)));
  EXPECT_EQ(dests.at(Dest("10.0.2.5", 8080)).weight, 0u);
  SyncOk();  // periodic re-check: still connections
  EXPECT_TRUE(ipvs_->table().at(Key("10.96.0.20", 80)).destinations.contains(Dest("10.0.2.5", 8080)));
  ipvs_->SetConnections(Key("10.96.0.20", 80), Dest("10.0.2.5", 8080), 0, 0);
  SyncOk();
  EXPECT_FALSE(ipvs_->table().at(Key("10.96.0.20", 80)).destinations.contains(Dest("10.0.2.5", 8080)));
}

TEST_F(IpvsProxierTest, FlipToPassThroughUnbindsLbAddressAfterTheSync) {
  Service before = MakeLbService("lb", 10, "203.0.113.10");
  state_->OnServiceAdd(before);
  SyncOk();
  ASSERT_TRUE(links_->ListAddresses("kube-ipvs0", IpFamily::kIPv4)->contains(Ip("203.0.113.10")));
  Service after = MakeLbService("lb", 10, "203.0.113.10", absl::UnixEpoch(), true);
  state_->OnServiceUpdate(before, after);
  absl::StatusOr<proxier::SyncReport> report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(report->pass_through_services.has_value());
  EXPECT_THAT(*report->pass_through_services, ::testing::ElementsAre("web/lb"));
  EXPECT_FALSE(links_->ListAddresses("kube-ipvs0", IpFamily::kIPv4)->contains(Ip("203.0.113.10")));
  EXPECT_FALSE(ipvs_->table().contains(Key("203.0.113.10", 80)));
  EXPECT_FALSE(ipsets_->Contains("KUBE-LOAD-BALANCER", "203.0.113.10,tcp:80"));
  EXPECT_FALSE(ipsets_->Contains("KUBE-IPVS-IPS", "203.0.113.10"));
  EXPECT_TRUE(ipvs_->table().contains(Key("192.0.2.129", 30010)));
}

TEST_F(IpvsProxierTest, ConflictsAreReportedOncePerChange) {
  state_->OnServiceAdd(MakeLbService("a", 10, "203.0.113.20", absl::FromUnixSeconds(100), false));
  state_->OnServiceAdd(MakeLbService("b", 11, "203.0.113.20", absl::FromUnixSeconds(200), true));
  absl::StatusOr<proxier::SyncReport> report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  // b asked for pass-through, but its ELB's binding was enforced: nothing is pass-through.
  ASSERT_TRUE(report->pass_through_services.has_value());
  EXPECT_THAT(*report->pass_through_services, IsEmpty());
  EXPECT_EQ(conflict_reports_, 1);
  ASSERT_EQ(last_conflicts_.size(), 1u);
  EXPECT_EQ(last_conflicts_[0].service.name, "b");
  SyncOk();
  EXPECT_EQ(conflict_reports_, 1);
  EXPECT_EQ(proxier_->Conflicts().size(), 1u);
  // Both ports on the ELB address stay reachable locally (the oldest Service decided).
  EXPECT_TRUE(ipvs_->table().contains(Key("203.0.113.20", 80)));
  EXPECT_TRUE(ipvs_->table().contains(Key("203.0.113.20", 81)));
  state_->OnServiceDelete(MakeLbService("b", 11, "203.0.113.20", absl::FromUnixSeconds(200), true));
  SyncOk();
  EXPECT_EQ(conflict_reports_, 2);
  EXPECT_THAT(last_conflicts_, IsEmpty());
}

TEST_F(IpvsProxierTest, DryRunPrintsOperationsAddressesIpsetsAndIptablesWithoutWriting) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  auto out = proxier_->DryRun();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("add-service 203.0.113.10:80/TCP rr"));
  EXPECT_THAT(*out, HasSubstr("# IPv4 addresses on kube-ipvs0\n10.96.0.10\n203.0.113.10\n"));
  EXPECT_THAT(*out, HasSubstr("add KUBE-LOAD-BALANCER 203.0.113.10,tcp:80"));
  EXPECT_THAT(*out, HasSubstr("-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN"));
  EXPECT_EQ(ipvs_->writes(), 0);
  EXPECT_EQ(iptables_.restore_count(), 0);
}

TEST_F(IpvsProxierTest, CleanupRemovesVirtualServersLinkAndIpsets) {
  state_->OnServiceAdd(MakeLbService("lb", 10, "203.0.113.10"));
  SyncOk();
  ASSERT_TRUE(CleanupIpvs(*ipvs_, *links_, *ipsets_, &iptables_).ok());
  EXPECT_TRUE(ipvs_->table().empty());
  EXPECT_FALSE(links_->HasLink("kube-ipvs0"));
  EXPECT_TRUE(ipsets_->sets().empty());
  EXPECT_FALSE(iptables_.Rules(iptables::Table::kNat, "KUBE-SERVICES").has_value());
}

// A proxier whose family reads the host's addresses at each sync and cleans stale UDP flows.
class IpvsProxierHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = std::make_unique<proxier::ProxyState>(IpFamily::kIPv4, "node-a", [] { return absl::Now(); }, [] {});
    IpvsKernel kernel;
    auto ipvs = std::make_unique<testing::FakeIpvsClient>();
    auto links = std::make_unique<testing::FakeLinkManager>();
    ipvs_ = ipvs.get();
    links_ = links.get();
    kernel.ipvs = std::move(ipvs);
    kernel.links = std::move(links);
    kernel.ipsets = std::make_unique<testing::FakeIpsetWriter>();
    IpvsProxierOptions options;
    options.apply_sysctls = false;
    IpvsFamily family;
    family.state = state_.get();
    family.node = MakeNode();
    family.iptables = &iptables_;
    // Every local address (what the daemon does without --nodeport-addresses).
    family.node_port_addresses = [this](const proxier::NodeContext& node,
                                        const absl::btree_set<IpAddress>& local) -> absl::StatusOr<std::vector<IpAddress>> {
      resolved_with_ = node.node_ips;
      std::vector<IpAddress> all(local.begin(), local.end());
      return node_port_addresses_.has_value() ? node_port_addresses_->Select(all) : all;
    };
    family.conntrack = &conntrack_;
    auto p = IpvsProxier::Create({family}, std::move(kernel), options);
    ASSERT_TRUE(p.ok()) << p.status();
    proxier_ = std::move(*p);
    state_->OnServicesSynced();
    state_->OnEndpointSlicesSynced();
  }

  static Service NodePortService(Protocol protocol = Protocol::kTCP) {
    return MakeService("web", "np", [&](Service& s) {
      s.type = proxier::ServiceType::kNodePort;
      s.cluster_ips = {Ip("10.96.0.11")};
      AddPort(s, "", protocol, 80, 30080);
    });
  }

  static EndpointSlice Slice(absl::string_view service, std::vector<std::string> ips, Protocol p = Protocol::kTCP) {
    return MakeEndpointSlice("web", absl::StrCat(service, "-1"), service, [&](EndpointSlice& s) {
      AddSlicePort(s, "", p, 8080);
      for (const auto& ip : ips) AddSliceEndpoint(s, ip);
    });
  }

  static conntrack::ConntrackEntry UdpFlow(absl::string_view client, absl::string_view vip, uint16_t port,
                                           absl::string_view backend) {
    conntrack::ConntrackEntry e;
    e.protocol = Protocol::kUDP;
    e.orig_source = Ip(client);
    e.orig_destination = Ip(vip);
    e.orig_source_port = 40000;
    e.orig_destination_port = port;
    e.reply_source = Ip(backend);
    e.reply_destination = Ip(client);
    e.reply_source_port = 8080;
    e.reply_destination_port = 40000;
    return e;
  }

  void SyncOk() {
    auto r = proxier_->Sync();
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::unique_ptr<proxier::ProxyState> state_;
  iptables::testing::FakeIptablesRunner iptables_;
  conntrack::testing::FakeConntrackClient conntrack_;
  testing::FakeIpvsClient* ipvs_ = nullptr;
  testing::FakeLinkManager* links_ = nullptr;
  std::unique_ptr<IpvsProxier> proxier_;
  std::vector<IpAddress> resolved_with_;
  // Set: --nodeport-addresses selects from the local addresses (else every one is taken).
  std::optional<proxier::NodePortAddresses> node_port_addresses_;
};

// Upstream creates NodePort virtual servers on the addresses the host has at each sync (not on
// kube-ipvs0), not on the Node object's IPs, and follows them when they change.
TEST_F(IpvsProxierHostTest, NodePortVirtualServersFollowTheHostAddressesAtEachSync) {
  links_->SetAddresses("eth0", {Ip("10.1.0.4")});
  links_->SetAddresses("eth1", {Ip("172.16.0.1")});
  state_->OnServiceAdd(NodePortService());
  state_->OnEndpointSliceAdd(Slice("np", {"10.0.1.5"}));
  SyncOk();
  EXPECT_TRUE(ipvs_->table().contains(Key("10.1.0.4", 30080)));
  EXPECT_TRUE(ipvs_->table().contains(Key("172.16.0.1", 30080)));
  EXPECT_FALSE(ipvs_->table().contains(Key("192.0.2.129", 30080)));  // the Node object's IP, not on the host
  EXPECT_FALSE(ipvs_->table().contains(Key("10.96.0.11", 30080)));   // on kube-ipvs0
  EXPECT_THAT(resolved_with_, ::testing::ElementsAre(Ip("192.0.2.129")));

  // An address goes away, another comes: the next sync, with nothing else changed, follows.
  links_->SetAddresses("eth1", {Ip("172.16.0.2")});
  SyncOk();
  EXPECT_FALSE(ipvs_->table().contains(Key("172.16.0.1", 30080)));
  EXPECT_TRUE(ipvs_->table().contains(Key("172.16.0.2", 30080)));
  EXPECT_EQ(links_->list_local_calls(), 2);
}

// --nodeport-addresses that match no address of the host: no NodePort virtual server at all (not
// one per local address); an address that appears inside the CIDR gets one at the next sync.
TEST_F(IpvsProxierHostTest, NodePortAddressesMatchingNothingGiveNoVirtualServerUntilOneAppears) {
  node_port_addresses_ = *proxier::NodePortAddresses::Create(IpFamily::kIPv4, {"10.99.0.0/24"}, {});
  links_->SetAddresses("eth0", {Ip("10.1.0.4")});
  state_->OnServiceAdd(NodePortService());
  state_->OnEndpointSliceAdd(Slice("np", {"10.0.1.5"}));
  SyncOk();
  EXPECT_TRUE(ipvs_->table().contains(Key("10.96.0.11", 80)));
  for (const auto& [key, service] : ipvs_->table()) EXPECT_NE(key.port, 30080) << key.address.ToString();

  links_->SetAddresses("eth1", {Ip("10.99.0.6")});
  SyncOk();
  EXPECT_TRUE(ipvs_->table().contains(Key("10.99.0.6", 30080)));
  EXPECT_FALSE(ipvs_->table().contains(Key("10.1.0.4", 30080)));
}

TEST_F(IpvsProxierHostTest, UnreadableHostAddressesFailTheSyncAndKeepTheNodePorts) {
  links_->SetAddresses("eth0", {Ip("10.1.0.4")});
  state_->OnServiceAdd(NodePortService());
  state_->OnEndpointSliceAdd(Slice("np", {"10.0.1.5"}));
  SyncOk();
  links_->FailNextListLocal(absl::InternalError("dump interrupted"));
  auto r = proxier_->Sync();
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("dump interrupted"));
  EXPECT_TRUE(ipvs_->table().contains(Key("10.1.0.4", 30080)));
}

TEST_F(IpvsProxierHostTest, ExternalIpTheHostHasOnAnotherInterfaceIsNotBound) {
  links_->SetAddresses("eth0", {Ip("10.1.0.4")});
  links_->SetAddresses("eth1", {Ip("198.51.100.10")});
  Service s = NodePortService();
  s.external_ips = {Ip("198.51.100.10"), Ip("198.51.100.11")};
  state_->OnServiceAdd(s);
  SyncOk();
  auto bound = links_->ListAddresses("kube-ipvs0", IpFamily::kIPv4);
  ASSERT_TRUE(bound.ok());
  EXPECT_THAT(*bound, ::testing::ElementsAre(Ip("10.96.0.11"), Ip("198.51.100.11")));
  EXPECT_TRUE(ipvs_->table().contains(Key("198.51.100.10", 80)));
}

// Upstream cleans stale UDP conntrack entries after IPVS syncs too: a flow whose backend is gone
// would otherwise keep being sent to it.
TEST_F(IpvsProxierHostTest, StaleUdpFlowsToARemovedEndpointAreDeleted) {
  links_->SetAddresses("eth0", {Ip("10.1.0.4")});
  state_->OnServiceAdd(NodePortService(Protocol::kUDP));
  EndpointSlice before = Slice("np", {"10.0.1.5", "10.0.2.5"}, Protocol::kUDP);
  state_->OnEndpointSliceAdd(before);
  SyncOk();
  conntrack_.Add(UdpFlow("10.0.9.9", "10.96.0.11", 80, "10.0.1.5"));
  conntrack_.Add(UdpFlow("10.0.9.8", "10.96.0.11", 80, "10.0.2.5"));
  conntrack_.Add(UdpFlow("192.0.2.77", "10.1.0.4", 30080, "10.0.1.5"));
  EndpointSlice after = Slice("np", {"10.0.2.5"}, Protocol::kUDP);
  state_->OnEndpointSliceUpdate(before, after);
  absl::StatusOr<proxier::SyncReport> report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  // What the conntrack reconciler metrics are set from.
  ASSERT_EQ(report->conntrack_cleanups.size(), 1u);
  EXPECT_EQ(report->conntrack_cleanups[0].deleted, 2u);
  std::vector<conntrack::ConntrackEntry> deleted = conntrack_.Deleted();
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_EQ(deleted[0].orig_source, Ip("10.0.9.9"));
  EXPECT_EQ(deleted[1].orig_source, Ip("192.0.2.77"));
  // Nothing changed: no conntrack work at all.
  const int lists = conntrack_.list_calls();
  SyncOk();
  EXPECT_EQ(conntrack_.list_calls(), lists);
}

// A UDP LB VIP that becomes pass-through is unbound; flows IPVS had DNAT'd to a backend must go
// so the client's next packets reach the load balancer.
TEST_F(IpvsProxierHostTest, UdpFlowsToAVipThatBecamePassThroughAreDeleted) {
  auto udp_lb = [](bool pass_through) {
    Service s = MakeLbService("lb", 10, "203.0.113.10", absl::UnixEpoch(), pass_through);
    s.ports.clear();
    AddPort(s, "", Protocol::kUDP, 53, 30053);
    return s;
  };
  state_->OnServiceAdd(udp_lb(false));
  state_->OnEndpointSliceAdd(Slice("lb", {"10.0.1.5"}, Protocol::kUDP));
  SyncOk();
  conntrack_.Add(UdpFlow("10.0.9.9", "203.0.113.10", 53, "10.0.1.5"));
  SyncOk();
  EXPECT_THAT(conntrack_.Deleted(), IsEmpty());  // a valid flow
  state_->OnServiceUpdate(udp_lb(false), udp_lb(true));
  SyncOk();
  EXPECT_FALSE(ipvs_->table().contains(Key("203.0.113.10", 53, Protocol::kUDP)));
  ASSERT_EQ(conntrack_.Deleted().size(), 1u);
  EXPECT_EQ(conntrack_.Deleted()[0].orig_destination, Ip("203.0.113.10"));
}

// The cleaner sees the enforced ELB setting: a Service that asks for pass-through on an ELB whose
// oldest Service binds the address keeps its (valid) IPVS flows.
TEST_F(IpvsProxierHostTest, UdpFlowsToAVipBoundByElbEnforcementAreKept) {
  auto udp_lb = [](absl::string_view name, int n, int64_t created, bool pass_through) {
    Service s = MakeLbService(name, n, "203.0.113.20", absl::FromUnixSeconds(created), pass_through);
    s.ports.clear();
    AddPort(s, "", Protocol::kUDP, 53, 30000 + n);
    return s;
  };
  state_->OnServiceAdd(udp_lb("a", 10, 100, false));
  state_->OnServiceAdd(udp_lb("b", 11, 200, true));
  state_->OnEndpointSliceAdd(Slice("b", {"10.0.1.5"}, Protocol::kUDP));
  conntrack_.Add(UdpFlow("10.0.9.9", "203.0.113.20", 53, "10.0.1.5"));
  SyncOk();
  EXPECT_TRUE(ipvs_->table().contains(Key("203.0.113.20", 53, Protocol::kUDP)));
  EXPECT_THAT(conntrack_.Deleted(), IsEmpty());
}

}  // namespace
}  // namespace kproxy::backends::ipvs
