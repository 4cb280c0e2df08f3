// IptablesProxier against the fake runner: full vs partial syncs, failure handling, canary loss.
#include "backends/iptables/iptables_proxier.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "backends/conntrack/testing/fake_conntrack_client.h"
#include "backends/iptables/testing/fake_iptables_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/proxy_state.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::backends::iptables {
namespace {

using proxier::testing::AddPort;
using proxier::testing::AddSliceEndpoint;
using proxier::testing::AddSlicePort;
using proxier::testing::Ip;
using proxier::testing::MakeCidr;
using proxier::testing::MakeEndpointSlice;
using proxier::testing::MakeService;
using ::testing::HasSubstr;
using ::testing::Not;

// One IPv4 family of node test-node (`node_ip`) over `state`, writing to `runner`.
IptablesFamilyConfig TestFamily(proxier::ProxyState* state, IptablesRunner* runner, const std::string& node_ip) {
  IptablesFamilyConfig family;
  family.state = state;
  family.node_context = [node_ip] {
    proxier::NodeContext node;
    node.node_name = "test-node";
    node.node_ips = {Ip(node_ip)};
    return node;
  };
  family.runner = runner;
  return family;
}

class IptablesProxierTest : public ::testing::Test {
 protected:
  IptablesProxierTest()
      : state_(proxier::IpFamily::kIPv4, "test-node", [] { return absl::UnixEpoch(); }, nullptr) {
    IptablesFamilyConfig family = TestFamily(&state_, &runner_, "192.168.0.2");
    family.planner.local_detect_mode = proxier::iptables::LocalDetectMode::kClusterCidr;
    family.planner.cluster_cidrs = {MakeCidr("10.0.0.0/8")};
    family.conntrack = &conntrack_;
    IptablesProxierOptions options;
    options.now = [this] { return now_; };
    proxier_ = std::make_unique<IptablesProxier>(std::vector<IptablesFamilyConfig>{family}, options);

    state_.OnServiceAdd(Service("svc1", "172.30.0.1", proxier::Protocol::kTCP, 80));
    state_.OnServiceAdd(Service("dns", "172.30.0.10", proxier::Protocol::kUDP, 53));
    slice1_ = Slice("svc1", proxier::Protocol::kTCP, 80, {"10.180.0.1"});
    state_.OnEndpointSliceAdd(slice1_);
    dns_slice_ = Slice("dns", proxier::Protocol::kUDP, 53, {"10.180.0.53"});
    state_.OnEndpointSliceAdd(dns_slice_);
    state_.OnServicesSynced();
    state_.OnEndpointSlicesSynced();
  }

  static proxier::Service Service(const std::string& name, const std::string& ip, proxier::Protocol protocol,
                                  int port) {
    return MakeService("ns", name, [&](proxier::Service& s) {
      s.cluster_ips = {Ip(ip)};
      AddPort(s, "p", protocol, port);
    });
  }
  static proxier::EndpointSlice Slice(const std::string& service, proxier::Protocol protocol, int port,
                                      const std::vector<std::string>& ips) {
    return MakeEndpointSlice("ns", service + "-abc", service, [&](proxier::EndpointSlice& s) {
      AddSlicePort(s, "p", protocol, port);
      for (const std::string& ip : ips) AddSliceEndpoint(s, ip);
    });
  }
  void SetEndpoints(const std::vector<std::string>& ips) {
    proxier::EndpointSlice updated = Slice("svc1", proxier::Protocol::kTCP, 80, ips);
    state_.OnEndpointSliceUpdate(slice1_, updated);
    slice1_ = updated;
  }

  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
  proxier::ProxyState state_;
  testing::FakeIptablesRunner runner_;
  conntrack::testing::FakeConntrackClient conntrack_;
  std::unique_ptr<IptablesProxier> proxier_;
  proxier::EndpointSlice slice1_;
  proxier::EndpointSlice dns_slice_;
};

TEST_F(IptablesProxierTest, FirstSyncIsFullAndInstallsJumpsAndCanaries) {
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  for (Table table : {Table::kMangle, Table::kNat, Table::kFilter}) {
    EXPECT_TRUE(*runner_.ChainExists(table, "KUBE-PROXY-CANARY")) << TableName(table);
  }
  auto prerouting = runner_.Rules(Table::kNat, "PREROUTING");
  ASSERT_TRUE(prerouting.has_value());
  EXPECT_THAT(*prerouting, ::testing::Contains(HasSubstr("-j KUBE-SERVICES")));
  auto services = runner_.Rules(Table::kNat, "KUBE-SERVICES");
  ASSERT_TRUE(services.has_value());
  EXPECT_THAT(*services, ::testing::Contains(HasSubstr("-d 172.30.0.1")));
  EXPECT_EQ(runner_.restore_count(), 1);
}

TEST(JumpRulesTest, MatchUpstreamJumpChains) {
  ASSERT_EQ(JumpRules().size(), 14u);
  const JumpRule& first = JumpRules().front();
  EXPECT_EQ(first.source, std::string("INPUT"));
  EXPECT_EQ(first.Args(), (std::vector<std::string>{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                                     "kubernetes externally-visible service portals", "-j",
                                                     "KUBE-EXTERNAL-SERVICES"}));
  const JumpRule& kubelet = JumpRules().back();
  EXPECT_EQ(kubelet.Args(), (std::vector<std::string>{"-j", "KUBE-FIREWALL"}));
}

TEST_F(IptablesProxierTest, EndpointChangeSyncsPartially) {
  ASSERT_TRUE(proxier_->Sync().ok());
  SetEndpoints({"10.180.0.1", "10.180.0.2"});
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->full);
  EXPECT_EQ(report->changed_services, 1u);
  const std::string input = runner_.last_restore_input();
  EXPECT_THAT(input, Not(HasSubstr(":KUBE-SERVICES ")));
  EXPECT_THAT(input, HasSubstr("--to-destination 10.180.0.2:80"));
  // Nothing changed: nothing written.
  report = proxier_->Sync();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(runner_.restore_count(), 2);
}

TEST_F(IptablesProxierTest, FailedRestoreKeepsOldRulesAndNextSyncIsFull) {
  ASSERT_TRUE(proxier_->Sync().ok());
  auto before = runner_.SaveTable(Table::kNat);
  ASSERT_TRUE(before.ok());
  SetEndpoints({"10.180.0.7"});
  runner_.FailNextRestore();
  auto failed = proxier_->Sync();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("IPv4"));
  EXPECT_EQ(*runner_.SaveTable(Table::kNat), *before);
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  EXPECT_THAT(runner_.last_restore_input(), HasSubstr("--to-destination 10.180.0.7:80"));
  EXPECT_THAT(*runner_.SaveTable(Table::kNat), Not(HasSubstr("10.180.0.1:80")));
}

TEST_F(IptablesProxierTest, MissingCanaryForcesFullSync) {
  ASSERT_TRUE(proxier_->Sync().ok());
  runner_.FlushTable(Table::kNat);  // e.g. `iptables -t nat -F; -X` by another tool
  // The canaries are looked at once per interval (30 s by default), not on every sync.
  now_ += absl::Seconds(10);
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->full);
  now_ += absl::Seconds(25);
  report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  EXPECT_TRUE(*runner_.ChainExists(Table::kNat, "KUBE-PROXY-CANARY"));
  auto services = runner_.Rules(Table::kNat, "KUBE-SERVICES");
  ASSERT_TRUE(services.has_value());
  EXPECT_THAT(*services, ::testing::Contains(HasSubstr("-d 172.30.0.1")));
  EXPECT_THAT(*runner_.Rules(Table::kNat, "PREROUTING"), ::testing::Contains(HasSubstr("-j KUBE-SERVICES")));
}

TEST_F(IptablesProxierTest, FullSyncIsForcedOnceAnHourToRepairRulesChangedBehindOurBack) {
  ASSERT_TRUE(proxier_->Sync().ok());
  // Someone empties KUBE-SERVICES but leaves the canaries: partial syncs cannot see it.
  ASSERT_TRUE(runner_.Restore("*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n").ok());
  now_ += absl::Minutes(59);
  SetEndpoints({"10.180.0.1", "10.180.0.2"});
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->full);
  EXPECT_THAT(*runner_.Rules(Table::kNat, "KUBE-SERVICES"), Not(::testing::Contains(HasSubstr("-d 172.30.0.1"))));
  now_ += absl::Minutes(1);
  report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  EXPECT_THAT(*runner_.Rules(Table::kNat, "KUBE-SERVICES"), ::testing::Contains(HasSubstr("-d 172.30.0.1")));
  // The hour counts from that full sync.
  now_ += absl::Minutes(30);
  SetEndpoints({"10.180.0.3"});
  report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->full);
}

TEST_F(IptablesProxierTest, FullSyncDeletesChainsOfAPreviousProcess) {
  ASSERT_TRUE(runner_.Restore("*nat\n:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]\n"
                              ":KUBE-MY-OWN - [0:0]\n-A KUBE-SVC-AAAAAAAAAAAAAAAA -j KUBE-SEP-AAAAAAAAAAAAAAAA\n"
                              "COMMIT\n*filter\n:KUBE-FW-AAAAAAAAAAAAAAAA - [0:0]\nCOMMIT\n")
                  .ok());
  ASSERT_TRUE(proxier_->Sync().ok());
  EXPECT_FALSE(*runner_.ChainExists(Table::kNat, "KUBE-SVC-AAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(*runner_.ChainExists(Table::kNat, "KUBE-SEP-AAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(*runner_.ChainExists(Table::kFilter, "KUBE-FW-AAAAAAAAAAAAAAAA"));
  EXPECT_TRUE(*runner_.ChainExists(Table::kNat, "KUBE-MY-OWN"));
}

TEST_F(IptablesProxierTest, ForceFullSyncRewritesEverything) {
  ASSERT_TRUE(proxier_->Sync().ok());
  proxier_->ForceFullSync();
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->full);
  EXPECT_THAT(runner_.last_restore_input(), HasSubstr(":KUBE-SERVICES - [0:0]"));
}

TEST_F(IptablesProxierTest, DryRunTouchesNothingAndLosesNoChange) {
  ASSERT_TRUE(proxier_->Sync().ok());
  SetEndpoints({"10.180.0.9"});
  auto dry = proxier_->DryRun();
  ASSERT_TRUE(dry.ok());
  EXPECT_TRUE(absl::StartsWith(*dry, "# IPv4\n*filter\n")) << *dry;
  EXPECT_THAT(*dry, HasSubstr("--to-destination 10.180.0.9:80"));
  EXPECT_EQ(runner_.restore_count(), 1);
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(runner_.last_restore_input(), HasSubstr("--to-destination 10.180.0.9:80"));
}

TEST_F(IptablesProxierTest, RemovedUdpEndpointFlowsAreCleaned) {
  ASSERT_TRUE(proxier_->Sync().ok());
  conntrack::ConntrackEntry entry;
  entry.protocol = proxier::Protocol::kUDP;
  entry.orig_source = Ip("10.0.0.5");
  entry.orig_destination = Ip("172.30.0.10");
  entry.orig_source_port = 40000;
  entry.orig_destination_port = 53;
  entry.reply_source = Ip("10.180.0.53");
  entry.reply_destination = Ip("10.0.0.5");
  entry.reply_source_port = 53;
  entry.reply_destination_port = 40000;
  conntrack_.Add(entry);
  proxier::EndpointSlice updated = Slice("dns", proxier::Protocol::kUDP, 53, {"10.180.0.54"});
  state_.OnEndpointSliceUpdate(dns_slice_, updated);
  absl::StatusOr<proxier::SyncReport> report = proxier_->Sync();
  ASSERT_TRUE(report.ok());
  EXPECT_THAT(conntrack_.Deleted(), ::testing::ElementsAre(entry));
  // What the conntrack reconciler metrics are set from.
  ASSERT_EQ(report->conntrack_cleanups.size(), 1u);
  EXPECT_EQ(report->conntrack_cleanups[0].family, proxier::IpFamily::kIPv4);
  EXPECT_EQ(report->conntrack_cleanups[0].deleted, 1u);
  EXPECT_GE(report->conntrack_cleanups[0].duration, absl::ZeroDuration());
  // Nothing changed: no cleanup, nothing reported.
  report = proxier_->Sync();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->conntrack_cleanups.empty());
}

}  // namespace
}  // namespace kproxy::backends::iptables

namespace kproxy::backends::iptables {
namespace {

constexpr proxier::IpFamily kV4 = proxier::IpFamily::kIPv4;

TEST_F(IptablesProxierTest, ReportCountsRulesPerTableInTheTablesAndWritten) {
  auto full = proxier_->Sync();
  ASSERT_TRUE(full.ok()) << full.status();
  const std::string input = runner_.last_restore_input();
  // Per family: the ip_family label of the rule-count metrics.
  EXPECT_THAT(full->families, ::testing::ElementsAre(kV4));
  // A full sync writes every rule of both tables.
  EXPECT_GT(full->iptables_rules_total.at(kV4).at("nat"), 0u);
  EXPECT_GT(full->iptables_rules_total.at(kV4).at("filter"), 0u);
  EXPECT_EQ(full->iptables_rules_written.at(kV4).at("nat"),
            full->iptables_rules_total.at(kV4).at("nat"));
  EXPECT_EQ(full->iptables_rules_written.at(kV4).at("filter"),
            full->iptables_rules_total.at(kV4).at("filter"));
  SetEndpoints({"10.180.0.1", "10.180.0.2"});
  auto partial = proxier_->Sync();
  ASSERT_TRUE(partial.ok()) << partial.status();
  ASSERT_FALSE(partial->full);
  // One more endpoint: two more nat rules (the SEP chain's DNAT and masquerade) and its SVC jump.
  EXPECT_EQ(partial->iptables_rules_total.at(kV4).at("nat"),
            full->iptables_rules_total.at(kV4).at("nat") + 3);
  EXPECT_GT(partial->iptables_rules_written.at(kV4).at("nat"), 0u);
  EXPECT_LT(partial->iptables_rules_written.at(kV4).at("nat"),
            partial->iptables_rules_total.at(kV4).at("nat"));
  // Partial syncs keep the total O(changed); it must agree with a full recount, also after a
  // Service is deleted.
  state_.OnServiceDelete(Service("dns", "172.30.0.10", proxier::Protocol::kUDP, 53));
  state_.OnEndpointSliceDelete(dns_slice_);
  auto deleted = proxier_->Sync();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_FALSE(deleted->full);
  EXPECT_LT(deleted->iptables_rules_total.at(kV4).at("nat"),
            partial->iptables_rules_total.at(kV4).at("nat"));
  proxier_->ForceFullSync();
  auto recount = proxier_->Sync();
  ASSERT_TRUE(recount.ok()) << recount.status();
  ASSERT_TRUE(recount->full);
  EXPECT_EQ(recount->iptables_rules_total, deleted->iptables_rules_total);
}

TEST_F(IptablesProxierTest, CountsRestoreFailuresAndPartialOnes) {
  runner_.FailNextRestore();
  ASSERT_FALSE(proxier_->Sync().ok());  // full
  EXPECT_EQ(proxier_->restore_failures(kV4).total, 1u);
  EXPECT_EQ(proxier_->restore_failures(kV4).partial, 0u);
  ASSERT_TRUE(proxier_->Sync().ok());
  SetEndpoints({"10.180.0.9"});
  runner_.FailNextRestore();
  ASSERT_FALSE(proxier_->Sync().ok());  // partial
  EXPECT_EQ(proxier_->restore_failures(kV4).total, 2u);
  EXPECT_EQ(proxier_->restore_failures(kV4).partial, 1u);
  EXPECT_EQ(proxier_->restore_failures(proxier::IpFamily::kIPv6).total, 0u);
}

// --nodeport-addresses is resolved against the interfaces' addresses at every sync: none matching
// means no NodePort entry point (not "every address"), a failed read too, and an address that
// appears later gets its NodePort jump at the next sync (issue 15).
class IptablesProxierNodePortAddressesTest : public ::testing::Test {
 protected:
  IptablesProxierNodePortAddressesTest()
      : state_(proxier::IpFamily::kIPv4, "test-node", [] { return absl::UnixEpoch(); }, nullptr) {
    IptablesFamilyConfig family = TestFamily(&state_, &runner_, "192.0.2.129");
    family.local_addresses = [this]() -> absl::StatusOr<std::vector<proxier::IpAddress>> {
      ++reads_;
      if (!read_error_.ok()) return read_error_;
      return local_;
    };
    family.planner.node_port_addresses =
        *proxier::NodePortAddresses::Create(proxier::IpFamily::kIPv4, {"10.99.0.0/24"}, {Ip("192.0.2.129")});
    proxier_ = std::make_unique<IptablesProxier>(std::vector<IptablesFamilyConfig>{family});
    state_.OnServiceAdd(MakeService("ns", "np", [](proxier::Service& s) {
      s.type = proxier::ServiceType::kNodePort;
      s.cluster_ips = {Ip("172.30.0.5")};
      AddPort(s, "p", proxier::Protocol::kTCP, 80, 30080);
    }));
    state_.OnEndpointSliceAdd(MakeEndpointSlice("ns", "np-abc", "np", [](proxier::EndpointSlice& s) {
      AddSlicePort(s, "p", proxier::Protocol::kTCP, 8080);
      AddSliceEndpoint(s, "10.180.0.1");
    }));
    state_.OnServicesSynced();
    state_.OnEndpointSlicesSynced();
  }

  std::vector<std::string> NodePortJumps() {
    std::vector<std::string> out;
    for (const std::string& rule : runner_.Rules(Table::kNat, "KUBE-SERVICES").value_or(std::vector<std::string>{})) {
      if (absl::StrContains(rule, "-j KUBE-NODEPORTS")) out.push_back(rule);
    }
    return out;
  }

  proxier::ProxyState state_;
  testing::FakeIptablesRunner runner_;
  std::unique_ptr<IptablesProxier> proxier_;
  std::vector<proxier::IpAddress> local_ = {Ip("192.0.2.129"), Ip("127.0.0.1"), Ip("fd00::1")};
  absl::Status read_error_;
  int reads_ = 0;
};

TEST_F(IptablesProxierNodePortAddressesTest, NoMatchingAddressMeansNoJumpThenALaterAddressGetsOne) {
  ASSERT_TRUE(proxier_->Sync().ok());
  ASSERT_TRUE(runner_.Rules(Table::kNat, "KUBE-NODEPORTS").has_value());
  EXPECT_THAT(NodePortJumps(), ::testing::IsEmpty());

  local_.push_back(Ip("10.99.0.6"));
  ASSERT_TRUE(proxier_->Sync().ok());  // nothing else changed: a partial sync
  EXPECT_THAT(NodePortJumps(), ::testing::ElementsAre(HasSubstr("-d 10.99.0.6 -j KUBE-NODEPORTS")));

  local_.pop_back();
  ASSERT_TRUE(proxier_->Sync().ok());
  EXPECT_THAT(NodePortJumps(), ::testing::IsEmpty());
  EXPECT_EQ(reads_, 3);
}

TEST_F(IptablesProxierNodePortAddressesTest, UnreadableAddressesCloseNodePortsInsteadOfOpeningThem) {
  local_.push_back(Ip("10.99.0.6"));
  ASSERT_TRUE(proxier_->Sync().ok());
  ASSERT_THAT(NodePortJumps(), ::testing::SizeIs(1));
  read_error_ = absl::InternalError("getifaddrs: out of memory");
  ASSERT_TRUE(proxier_->Sync().ok());
  EXPECT_THAT(NodePortJumps(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace kproxy::backends::iptables
