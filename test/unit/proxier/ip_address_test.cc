#include "proxier/ip_address.h"

#include "gtest/gtest.h"

namespace kproxy::proxier {
namespace {

TEST(IpAddressTest, ParsesAndFormatsBothFamilies) {
  auto v4 = IpAddress::Parse("10.96.0.10");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ToString(), "10.96.0.10");
  EXPECT_EQ(v4->JoinPort(53), "10.96.0.10:53");
  auto v6 = IpAddress::Parse("fd00:0::0001");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family(), IpFamily::kIPv6);
  EXPECT_EQ(v6->ToString(), "fd00::1");
  EXPECT_EQ(v6->JoinPort(80), "[fd00::1]:80");
}

TEST(IpAddressTest, RejectsGarbageAndMappedAddresses) {
  EXPECT_FALSE(IpAddress::Parse("").ok());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.256").ok());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1 ").ok());
  EXPECT_FALSE(IpAddress::Parse("::ffff:10.0.0.1").ok());
}

TEST(CidrTest, MasksHostBitsAndChecksContainment) {
  auto cidr = Cidr::Parse(" 10.1.2.3/16 ");
  ASSERT_TRUE(cidr.ok());
  EXPECT_EQ(cidr->ToString(), "10.1.0.0/16");
  EXPECT_TRUE(cidr->Contains(*IpAddress::Parse("10.1.255.1")));
  EXPECT_FALSE(cidr->Contains(*IpAddress::Parse("10.2.0.1")));
  EXPECT_FALSE(cidr->Contains(*IpAddress::Parse("fd00::1")));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->IsAllAddresses());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0").ok());
}

}  // namespace
}  // namespace kproxy::proxier
