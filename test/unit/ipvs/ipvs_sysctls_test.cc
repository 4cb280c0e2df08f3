#include "backends/ipvs/ipvs_sysctls.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::ipvs {
namespace {

using ::testing::Contains;
using ::testing::Not;

TEST(IpvsSysctlsTest, SetsUpstreamValues) {
  auto s = IpvsSysctls("6.1.0-56-cloud-amd64", false);
  EXPECT_THAT(s, Contains(Sysctl{"net/ipv4/vs/conntrack", "1"}));
  EXPECT_THAT(s, Contains(Sysctl{"net/ipv4/vs/expire_nodest_conn", "1"}));
  EXPECT_THAT(s, Contains(Sysctl{"net/ipv4/vs/expire_quiescent_template", "1"}));
  EXPECT_THAT(s, Contains(Sysctl{"net/ipv4/ip_forward", "1"}));
  EXPECT_THAT(s, Not(Contains(Sysctl{"net/ipv4/conf/all/arp_ignore", "1"})));
}

TEST(IpvsSysctlsTest, ConnReuseModeOnlyOnKernelsBefore59) {
  EXPECT_THAT(IpvsSysctls("5.4.0-1", false), Contains(Sysctl{"net/ipv4/vs/conn_reuse_mode", "0"}));
  EXPECT_THAT(IpvsSysctls("5.10.0-1", false), Not(Contains(Sysctl{"net/ipv4/vs/conn_reuse_mode", "0"})));
  EXPECT_THAT(IpvsSysctls("3.10.0", false), Not(Contains(Sysctl{"net/ipv4/vs/conn_reuse_mode", "0"})));
}

TEST(IpvsSysctlsTest, StrictArpSetsArpIgnoreAndAnnounce) {
  auto s = IpvsSysctls("6.1.0", true);
  EXPECT_THAT(s, Contains(Sysctl{"net/ipv4/conf/all/arp_ignore", "1"}));
  EXPECT_THAT(s, Contains(Sysctl{"net/ipv4/conf/all/arp_announce", "2"}));
}

TEST(IpvsSysctlsTest, ApplyWritesUnderRootAndNamesFailingPath) {
  std::filesystem::path root = std::filesystem::temp_directory_path() / ("ipvs-sysctl-" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "net/ipv4/vs");
  ASSERT_TRUE(ApplySysctls({{"net/ipv4/vs/conntrack", "1"}}, root.string()).ok());
  std::ifstream in(root / "net/ipv4/vs/conntrack");
  std::string value;
  in >> value;
  EXPECT_EQ(value, "1");
  absl::Status s = ApplySysctls({{"net/missing/dir/x", "1"}}, root.string());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("net/missing/dir/x"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace kproxy::backends::ipvs
