#include "proxier/node_port_addresses.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier {
namespace {

using testing::Ip;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Strings(const std::vector<IpAddress>& ips) {
  std::vector<std::string> out;
  for (const IpAddress& ip : ips) out.push_back(ip.ToString());
  return out;
}

const std::vector<IpAddress> kLocal = {Ip("192.0.2.129"), Ip("127.0.0.1"), Ip("10.99.0.6"), Ip("10.99.0.5"),
                                       Ip("fd00::7"), Ip("::1"), Ip("10.99.0.5")};

TEST(NodePortAddressesTest, UnsetMatchesEveryAddressOfTheFamily) {
  NodePortAddresses v4(IpFamily::kIPv4);
  EXPECT_TRUE(v4.MatchAll());
  EXPECT_TRUE(v4.ContainsIPv4Loopback());
  EXPECT_THAT(Strings(v4.Select(kLocal)), ElementsAre("10.99.0.5", "10.99.0.6", "127.0.0.1", "192.0.2.129"));
  auto v6 = NodePortAddresses::Create(IpFamily::kIPv6, {}, {});
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->MatchAll());
  EXPECT_FALSE(v6->ContainsIPv4Loopback());
  EXPECT_THAT(Strings(v6->Select(kLocal)), ElementsAre("::1", "fd00::7"));
}

TEST(NodePortAddressesTest, CidrsSelectTheLocalAddressesInsideThem) {
  auto npa = NodePortAddresses::Create(IpFamily::kIPv4, {"10.99.0.0/24", "fd00::/64"}, {});
  ASSERT_TRUE(npa.ok());
  EXPECT_FALSE(npa->MatchAll());
  EXPECT_FALSE(npa->ContainsIPv4Loopback());
  EXPECT_THAT(Strings(npa->Select(kLocal)), ElementsAre("10.99.0.5", "10.99.0.6"));
  EXPECT_EQ(npa->ToString(), "[10.99.0.0/24]");
  // Only the other family's CIDRs: this family is unrestricted, as upstream.
  auto v6 = NodePortAddresses::Create(IpFamily::kIPv6, {"10.99.0.0/24"}, {});
  EXPECT_TRUE(v6->MatchAll());
  // A zero CIDR outweighs the others.
  EXPECT_TRUE(NodePortAddresses::Create(IpFamily::kIPv4, {"10.99.0.0/24", "0.0.0.0/0"}, {})->MatchAll());
  EXPECT_TRUE(NodePortAddresses::Create(IpFamily::kIPv4, {"127.0.0.0/8"}, {})->ContainsIPv4Loopback());
}

// The exposure of issue 15: CIDRs that match nothing select nothing; they never mean "all".
TEST(NodePortAddressesTest, CidrsMatchingNoLocalAddressSelectNothing) {
  auto npa = NodePortAddresses::Create(IpFamily::kIPv4, {"10.99.0.0/24"}, {});
  ASSERT_TRUE(npa.ok());
  EXPECT_FALSE(npa->MatchAll());
  EXPECT_THAT(npa->Select({Ip("192.0.2.129"), Ip("127.0.0.1")}), IsEmpty());
  EXPECT_THAT(npa->Select({}), IsEmpty());
}

TEST(NodePortAddressesTest, PrimaryIsTheNodesPrimaryIpOfTheFamilyWhenItIsConfiguredHere) {
  const std::vector<IpAddress> node_ips = {Ip("10.99.0.6"), Ip("192.0.2.129")};
  auto npa = NodePortAddresses::Create(IpFamily::kIPv4, {"primary"}, node_ips);
  ASSERT_TRUE(npa.ok());
  EXPECT_FALSE(npa->MatchAll());
  EXPECT_EQ(npa->ToString(), "[10.99.0.6/32]");
  EXPECT_THAT(Strings(npa->Select(kLocal)), ElementsAre("10.99.0.6"));
  // Not configured on an interface: selects nothing.
  EXPECT_THAT(npa->Select({Ip("192.0.2.129")}), IsEmpty());
  // No primary IP of the family, or a loopback one: every address, as upstream.
  EXPECT_TRUE(NodePortAddresses::Create(IpFamily::kIPv4, {"primary"}, {})->MatchAll());
  EXPECT_TRUE(NodePortAddresses::Create(IpFamily::kIPv4, {"primary"}, {Ip("127.0.0.1")})->MatchAll());
  EXPECT_THAT(Strings(NodePortAddresses::Create(IpFamily::kIPv6, {"primary"}, {Ip("fd00::7")})->Select(kLocal)),
              ElementsAre("fd00::7"));
}

TEST(NodePortAddressesTest, RejectsWhatIsNeitherACidrNorTheLonePrimary) {
  EXPECT_TRUE(NodePortAddresses::Validate({}).ok());
  EXPECT_TRUE(NodePortAddresses::Validate({"primary"}).ok());
  EXPECT_TRUE(NodePortAddresses::Validate({"10.0.0.0/8", "fd00::/64"}).ok());
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"nope"}, {"10.0.0.1"}, {"primary", "10.0.0.0/8"}, {"10.0.0.0/8", "primary"}}) {
    EXPECT_FALSE(NodePortAddresses::Validate(bad).ok()) << bad.front();
    EXPECT_FALSE(NodePortAddresses::Create(IpFamily::kIPv4, bad, {}).ok()) << bad.front();
  }
}

}  // namespace
}  // namespace kproxy::proxier
