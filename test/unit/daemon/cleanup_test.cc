#include "cmd/kube-proxy/cleanup.h"

#include "backends/iptables/testing/fake_iptables_runner.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using backends::iptables::Table;
using backends::iptables::testing::FakeIptablesRunner;

constexpr char kIpvsModeNat[] =
    "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
    "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
    "-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n"
    "COMMIT\n";

bool HasServicesChain(FakeIptablesRunner& r) {
  return *r.ChainExists(Table::kNat, "KUBE-SERVICES");
}

TEST(CleanupTest, BothFamiliesRulesAreGoneBeforeIpvsStateIsRemoved) {
  FakeIptablesRunner v4(proxier::IpFamily::kIPv4);
  FakeIptablesRunner v6(proxier::IpFamily::kIPv6);
  ASSERT_TRUE(v4.Restore(kIpvsModeNat).ok());
  ASSERT_TRUE(v6.Restore(kIpvsModeNat).ok());
  bool ipvs_called = false;
  absl::Status s = CleanupProxyRules({&v4, &v6}, [&] {
    ipvs_called = true;
    // Destroying the ipsets fails while any rule still references them.
    EXPECT_FALSE(HasServicesChain(v4));
    EXPECT_FALSE(HasServicesChain(v6));
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(ipvs_called);
}

TEST(CleanupTest, AFailingFamilyDoesNotStopTheRest) {
  FakeIptablesRunner v4(proxier::IpFamily::kIPv4);
  FakeIptablesRunner v6(proxier::IpFamily::kIPv6);
  ASSERT_TRUE(v4.Restore(kIpvsModeNat).ok());
  ASSERT_TRUE(v6.Restore(kIpvsModeNat).ok());
  v4.FailNextRestore();
  bool ipvs_called = false;
  absl::Status s = CleanupProxyRules({&v4, &v6}, [&] {
    ipvs_called = true;
    return absl::OkStatus();
  });
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("IPv4"), absl::string_view::npos) << s;
  EXPECT_FALSE(HasServicesChain(v6));
  EXPECT_TRUE(ipvs_called);
}

TEST(CleanupTest, IptablesAndIpvsModesRemoveOnlyTheNftablesTables) {
  for (const char* mode : {"iptables", "ipvs"}) {
    FakeIptablesRunner v4(proxier::IpFamily::kIPv4);
    ASSERT_TRUE(v4.Restore(kIpvsModeNat).ok());
    int nftables_calls = 0;
    bool ipvs_called = false;
    absl::Status s = CleanupOtherModes(
        mode, {&v4},
        [&] {
          ipvs_called = true;
          return absl::OkStatus();
        },
        [&] {
          ++nftables_calls;
          return absl::OkStatus();
        });
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(nftables_calls, 1) << mode;
    EXPECT_FALSE(ipvs_called) << mode;
    EXPECT_TRUE(HasServicesChain(v4)) << mode;
  }
}

TEST(CleanupTest, NftablesModeRemovesIptablesAndIpvsLeftoversButNotItsTables) {
  FakeIptablesRunner v4(proxier::IpFamily::kIPv4);
  FakeIptablesRunner v6(proxier::IpFamily::kIPv6);
  ASSERT_TRUE(v4.Restore(kIpvsModeNat).ok());
  ASSERT_TRUE(v6.Restore(kIpvsModeNat).ok());
  bool ipvs_called = false;
  bool nftables_called = false;
  absl::Status s = CleanupOtherModes(
      "nftables", {&v4, &v6},
      [&] {
        ipvs_called = true;
        return absl::OkStatus();
      },
      [&] {
        nftables_called = true;
        return absl::OkStatus();
      });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(ipvs_called);
  EXPECT_FALSE(nftables_called);
  EXPECT_FALSE(HasServicesChain(v4));
  EXPECT_FALSE(HasServicesChain(v6));
}

TEST(CleanupTest, AFailedNftablesCleanupIsReported) {
  absl::Status s = CleanupOtherModes("iptables", {}, nullptr,
                                     [] { return absl::InternalError("DELTABLE: EPERM"); });
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace kproxy::daemon
