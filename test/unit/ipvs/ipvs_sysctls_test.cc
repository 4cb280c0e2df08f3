#include "backends/ipvs/ipvs_sysctls.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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


// Runs ApplySysctls where the files cannot be written: as an unprivileged user when we are root
// (root writes through any mode), else with the files made read-only. Returns whether it succeeded.
bool ApplyWithoutWriteAccess(const std::vector<Sysctl>& sysctls, const std::filesystem::path& root) {
  if (geteuid() != 0) {
    for (const Sysctl& s : sysctls) chmod((root / s.path).c_str(), 0444);
    return ApplySysctls(sysctls, root.string()).ok();
  }
  pid_t child = fork();
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(2);
    _exit(ApplySysctls(sysctls, root.string()).ok() ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(IpvsSysctlsTest, ReadOnlySysctlsThatAlreadyHoldTheValuesAreNotAnError) {
  std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("ipvs-sysctl-ro-" + std::to_string(getpid()));
  std::filesystem::create_directories(root / "net/ipv4/vs");
  std::filesystem::permissions(root, std::filesystem::perms(0755));
  for (const char* dir : {"net", "net/ipv4", "net/ipv4/vs"}) {
    std::filesystem::permissions(root / dir, std::filesystem::perms(0755));
  }
  const std::vector<Sysctl> wanted = IpvsSysctls("6.1.0", false);
  for (const Sysctl& s : wanted) {
    std::ofstream(root / s.path) << s.value << "\n";
    chmod((root / s.path).c_str(), 0644);
  }
  EXPECT_TRUE(ApplyWithoutWriteAccess(wanted, root)) << "values already right: nothing to write";
  // One value differs: now a write is needed, and it fails naming the file.
  chmod((root / "net/ipv4/vs/conntrack").c_str(), 0644);
  std::ofstream(root / "net/ipv4/vs/conntrack") << "0\n";
  EXPECT_FALSE(ApplyWithoutWriteAccess(wanted, root)) << "the files were writable: the test proves nothing";
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace kproxy::backends::ipvs
