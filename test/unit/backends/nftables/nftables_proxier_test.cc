// NftablesProxier against the fake writer: one transaction per sync, element-only partial syncs
// for endpoint churn, full syncs after failures and hourly, stale chains flushed then deleted, and
// a restart reusing the table.
#include "backends/nftables/nftables_proxier.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "backends/conntrack/testing/fake_conntrack_client.h"
#include "backends/nftables/testing/fake_nftables_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/proxy_state.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::backends::nftables {
namespace {

using proxier::IpFamily;
using proxier::testing::AddPort;
using proxier::testing::AddSliceEndpoint;
using proxier::testing::AddSlicePort;
using proxier::testing::Ip;
using proxier::testing::MakeCidr;
using proxier::testing::MakeEndpointSlice;
using proxier::testing::MakeService;
using testing::FakeNftablesWriter;
using ::testing::HasSubstr;

class NftablesProxierTest : public ::testing::Test {
 protected:
  NftablesProxierTest()
      : state_(IpFamily::kIPv4, "test-node", [] { return absl::UnixEpoch(); }, nullptr) {
    proxier_ = MakeProxier();
    state_.OnServiceAdd(Service("svc1", "172.30.0.1", proxier::Protocol::kTCP, 80));
    state_.OnServiceAdd(Service("dns", "172.30.0.10", proxier::Protocol::kUDP, 53));
    slice1_ = Slice("svc1", proxier::Protocol::kTCP, 80, {"10.180.0.1"});
    state_.OnEndpointSliceAdd(slice1_);
    state_.OnEndpointSliceAdd(Slice("dns", proxier::Protocol::kUDP, 53, {"10.180.0.53"}));
    state_.OnServicesSynced();
    state_.OnEndpointSlicesSynced();
  }

  std::unique_ptr<NftablesProxier> MakeProxier() {
    NftablesFamilyConfig family;
    family.family = IpFamily::kIPv4;
    family.state = &state_;
    family.node_context = [] {
      proxier::NodeContext node;
      node.node_name = "test-node";
      node.node_ips = {Ip("192.168.0.2")};
      return node;
    };
    family.planner.local_detect_mode = proxier::LocalDetectMode::kClusterCidr;
    family.planner.cluster_cidrs = {MakeCidr("10.0.0.0/8")};
    family.planner.node_port_addresses = {Ip("192.168.0.2")};
    family.writer = &writer_;
    family.conntrack = &conntrack_;
    NftablesProxierOptions options;
    options.now = [this] { return now_; };
    return std::make_unique<NftablesProxier>(std::vector<NftablesFamilyConfig>{family}, options);
  }

  static proxier::Service Service(const std::string& name, const std::string& ip,
                                  proxier::Protocol protocol, int port) {
    return MakeService("ns", name, [&](proxier::Service& s) {
      s.cluster_ips = {Ip(ip)};
      AddPort(s, "p", protocol, port);
    });
  }
  static proxier::EndpointSlice Slice(const std::string& service, proxier::Protocol protocol,
                                      int port, const std::vector<std::string>& ips) {
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
  const FakeNftablesWriter::Table& Table() const {
    const FakeNftablesWriter::Table* table = writer_.table(IpFamily::kIPv4);
    EXPECT_NE(table, nullptr);
    static const FakeNftablesWriter::Table kEmpty;
    return table ? *table : kEmpty;
  }
  bool HasChainContaining(absl::string_view part) const {
    for (const auto& [name, rules] : Table().chains) {
      if (absl::StrContains(name, part)) return true;
    }
    return false;
  }

  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
  proxier::ProxyState state_;
  FakeNftablesWriter writer_;
  conntrack::testing::FakeConntrackClient conntrack_{IpFamily::kIPv4};
  proxier::EndpointSlice slice1_;
  std::unique_ptr<NftablesProxier> proxier_;
};

TEST_F(NftablesProxierTest, FirstSyncIsFullAndWritesTheTableInOneTransaction) {
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  EXPECT_EQ(writer_.counts().transactions, 1u);
  EXPECT_EQ(writer_.counts().add_table, 1u);
  EXPECT_TRUE(HasChainContaining("ns/svc1/tcp/p"));
  EXPECT_TRUE(Table().chains.contains("services"));
}

TEST_F(NftablesProxierTest, EndpointChangeSendsOnlyElements) {
  ASSERT_TRUE(proxier_->Sync().ok());
  writer_.ResetCounts();
  SetEndpoints({"10.180.0.1", "10.180.0.2"});
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->full);
  const FakeNftablesWriter::Counts& c = writer_.counts();
  EXPECT_EQ(c.transactions, 1u);
  EXPECT_GT(c.add_elements, 0u);
  EXPECT_EQ(c.add_rule + c.flush_chain + c.add_chain + c.delete_chain, 0u);
  EXPECT_EQ(c.add_set + c.delete_set, 0u);
  EXPECT_THAT(report->detail, HasSubstr("elements only"));
}

TEST_F(NftablesProxierTest, NothingChangedSendsNothing) {
  ASSERT_TRUE(proxier_->Sync().ok());
  writer_.ResetCounts();
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->full);
  EXPECT_EQ(writer_.counts().transactions, 0u);
}

TEST_F(NftablesProxierTest, FailedTransactionKeepsTheTableAndForcesAFullSync) {
  ASSERT_TRUE(proxier_->Sync().ok());
  const FakeNftablesWriter::Table before = Table();
  writer_.FailNextApply(absl::InternalError("EPERM"));
  SetEndpoints({"10.180.0.2"});
  auto failed = proxier_->Sync();
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("IPv4"));
  EXPECT_EQ(Table(), before);
  EXPECT_EQ(proxier_->failures().sync, 1u);
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  // The full sync wrote what a fresh proxier writes for the same state.
  const FakeNftablesWriter::Table repaired = Table();
  writer_ = FakeNftablesWriter();
  auto restarted = MakeProxier();
  ASSERT_TRUE(restarted->Sync().ok());
  EXPECT_EQ(Table(), repaired);
}

TEST_F(NftablesProxierTest, FullSyncEveryHour) {
  ASSERT_TRUE(proxier_->Sync().ok());
  now_ += absl::Minutes(30);
  auto partial = proxier_->Sync();
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->full);
  now_ += absl::Minutes(31);
  auto full = proxier_->Sync();
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->full);
}

TEST_F(NftablesProxierTest, DeletedServiceChainsAreFlushedThenDeletedInALaterTransaction) {
  ASSERT_TRUE(proxier_->Sync().ok());
  ASSERT_TRUE(HasChainContaining("ns/svc1/tcp/p"));
  writer_.ResetCounts();
  state_.OnServiceDelete(Service("svc1", "172.30.0.1", proxier::Protocol::kTCP, 80));
  state_.OnEndpointSliceDelete(slice1_);
  auto report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(writer_.counts().transactions, 1u);
  EXPECT_GT(writer_.counts().flush_chain, 0u);
  EXPECT_EQ(writer_.counts().delete_chain, 0u);
  for (const auto& [name, rules] : Table().chains) {
    if (absl::StrContains(name, "ns/svc1/tcp/p")) EXPECT_TRUE(rules.empty()) << name;
  }
  // The next sync, with nothing else to do, deletes them in a transaction of their own.
  writer_.ResetCounts();
  report = proxier_->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(HasChainContaining("ns/svc1/tcp/p"));
  EXPECT_GT(writer_.counts().delete_chain, 0u);
  EXPECT_EQ(writer_.counts().add_rule + writer_.counts().add_elements, 0u);
  EXPECT_EQ(proxier_->failures().cleanup, 0u);
}

TEST_F(NftablesProxierTest, RestartReusesTheTableAndRemovesWhatItNoLongerWants) {
  ASSERT_TRUE(proxier_->Sync().ok());
  const FakeNftablesWriter::Table written = Table();
  // Something another proxy (or an older version) left in the table.
  FakeNftablesWriter::Table* table = writer_.mutable_table(IpFamily::kIPv4);
  table->chains["endpoint-OLD-ns/gone/tcp/p__10.1.1.1/80"] = {"ip saddr 10.1.1.1 jump mark-for-masquerade"};
  table->sets["old-set"] = NftSetSpec{"old-set", "", {"ipv4_addr"}, {}, false, false, {}, 0};
  auto restarted = MakeProxier();
  auto report = restarted->Sync();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->full);
  EXPECT_EQ(Table(), written);
}

TEST_F(NftablesProxierTest, DryRunPrintsTheScriptAndWritesNothing) {
  auto text = proxier_->DryRun();
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("table ip kube-proxy"));
  EXPECT_EQ(writer_.counts().transactions, 0u);
  EXPECT_EQ(writer_.table(IpFamily::kIPv4), nullptr);
}

}  // namespace
}  // namespace kproxy::backends::nftables
