#include "cmd/kube-proxy/node_addresses.h"

#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using proxier::IpAddress;
using proxier::IpFamily;

proxier::Node DualStackNode() {
  proxier::Node n;
  n.metadata.name = "node-a";
  n.metadata.labels["topology.kubernetes.io/zone"] = "zone-a";
  n.addresses = {{"Hostname", "node-a"}, {"ExternalIP", "198.51.100.7"}, {"InternalIP", "fd00::7"},
                 {"InternalIP", "192.0.2.7"}};
  n.pod_cidrs = {*proxier::Cidr::Parse("10.244.1.0/24"), *proxier::Cidr::Parse("fd01::/64")};
  return n;
}

TEST(NodeAddressesTest, ContextHoldsInternalThenExternalIpsOfTheFamily) {
  proxier::Node n = DualStackNode();
  proxier::NodeContext v4 = BuildNodeContext("node-a", IpFamily::kIPv4, &n, std::nullopt);
  ASSERT_EQ(v4.node_ips.size(), 2u);
  EXPECT_EQ(v4.node_ips[0].ToString(), "192.0.2.7");
  EXPECT_EQ(v4.node_ips[1].ToString(), "198.51.100.7");
  EXPECT_EQ(v4.zone, "zone-a");
  ASSERT_EQ(v4.pod_cidrs.size(), 1u);
  EXPECT_EQ(v4.pod_cidrs[0].ToString(), "10.244.1.0/24");
  proxier::NodeContext v6 = BuildNodeContext("node-a", IpFamily::kIPv6, &n, std::nullopt);
  ASSERT_EQ(v6.node_ips.size(), 1u);
  EXPECT_EQ(v6.node_ips[0].ToString(), "fd00::7");
}

TEST(NodeAddressesTest, BindAddressComesFirstUnlessUnspecified) {
  proxier::Node n = DualStackNode();
  auto ctx = BuildNodeContext("node-a", IpFamily::kIPv4, &n, *IpAddress::Parse("192.0.2.99"));
  EXPECT_EQ(ctx.node_ips[0].ToString(), "192.0.2.99");
  auto any = BuildNodeContext("node-a", IpFamily::kIPv4, &n, *IpAddress::Parse("0.0.0.0"));
  EXPECT_EQ(any.node_ips[0].ToString(), "192.0.2.7");
}

TEST(NodeAddressesTest, PrimaryFamilyFollowsBindAddressThenFirstInternalIp) {
  proxier::Node n = DualStackNode();
  EXPECT_EQ(PrimaryFamily(&n, std::nullopt), IpFamily::kIPv6);
  EXPECT_EQ(PrimaryFamily(&n, *IpAddress::Parse("192.0.2.7")), IpFamily::kIPv4);
  EXPECT_EQ(PrimaryFamily(&n, *IpAddress::Parse("::")), IpFamily::kIPv6);
  EXPECT_EQ(PrimaryFamily(nullptr, std::nullopt), IpFamily::kIPv4);
}

TEST(NodeAddressesTest, LabelChangeIsAContextChange) {
  proxier::Node n = DualStackNode();
  auto before = BuildNodeContext("node-a", IpFamily::kIPv4, &n, std::nullopt);
  n.metadata.labels["topology.kubernetes.io/zone"] = "zone-b";
  auto after = BuildNodeContext("node-a", IpFamily::kIPv4, &n, std::nullopt);
  EXPECT_TRUE(NodeContextChanged(before, after));
  EXPECT_FALSE(NodeContextChanged(before, before));
}

std::vector<std::string> Strings(const absl::StatusOr<std::vector<IpAddress>>& ips) {
  std::vector<std::string> out;
  if (!ips.ok()) return {ips.status().ToString()};
  for (const IpAddress& ip : *ips) out.push_back(ip.ToString());
  return out;
}

// IPVS mode: without --nodeport-addresses (or with only the other family's CIDRs, or a zero CIDR)
// NodePorts go on every local address but loopback and IPv6 link-local, as upstream.
TEST(NodeAddressesTest, IpvsNodePortAddressesMatchAllLocalAddressesWhenUnrestricted) {
  proxier::Node n = DualStackNode();
  auto v4 = BuildNodeContext("node-a", IpFamily::kIPv4, &n, std::nullopt);
  auto v6 = BuildNodeContext("node-a", IpFamily::kIPv6, &n, std::nullopt);
  std::vector<IpAddress> local = {*IpAddress::Parse("127.0.0.1"), *IpAddress::Parse("192.0.2.7"),
                                  *IpAddress::Parse("10.1.1.1"),  *IpAddress::Parse("fd00::7"),
                                  *IpAddress::Parse("fe80::1"),   *IpAddress::Parse("::1")};
  using V = std::vector<std::string>;
  EXPECT_EQ(Strings(IpvsNodePortAddresses({}, v4, local)), (V{"10.1.1.1", "192.0.2.7"}));
  EXPECT_EQ(Strings(IpvsNodePortAddresses({}, v6, local)), (V{"fd00::7"}));
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"0.0.0.0/0"}, v4, local)), (V{"10.1.1.1", "192.0.2.7"}));
  // Only IPv4 CIDRs: IPv6 matches everything.
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"192.0.2.0/24"}, v6, local)), (V{"fd00::7"}));
}

TEST(NodeAddressesTest, IpvsNodePortAddressesFollowCidrsAndPrimary) {
  proxier::Node n = DualStackNode();
  auto v4 = BuildNodeContext("node-a", IpFamily::kIPv4, &n, std::nullopt);
  std::vector<IpAddress> local = {*IpAddress::Parse("127.0.0.1"), *IpAddress::Parse("192.0.2.7"),
                                  *IpAddress::Parse("10.1.1.1")};
  using V = std::vector<std::string>;
  // Loopback is never an IPVS NodePort address, even when a CIDR covers it.
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"192.0.2.0/24", "127.0.0.0/8"}, v4, local)), (V{"192.0.2.7"}));
  // A CIDR that matches nothing here means no NodePort virtual server, not "all".
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"203.0.113.0/24"}, v4, local)), V{});
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"primary"}, v4, local)), (V{"192.0.2.7"}));
  // The primary IP must be configured here.
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"primary"}, v4, {*IpAddress::Parse("10.1.1.1")})), V{});
  // No Node object: no primary IP, so upstream matches everything.
  auto no_node = BuildNodeContext("node-a", IpFamily::kIPv4, nullptr, std::nullopt);
  EXPECT_EQ(Strings(IpvsNodePortAddresses({"primary"}, no_node, local)), (V{"10.1.1.1", "192.0.2.7"}));
  EXPECT_FALSE(IpvsNodePortAddresses({"nope"}, v4, local).ok());
}

}  // namespace
}  // namespace kproxy::daemon
