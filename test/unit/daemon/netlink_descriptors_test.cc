// The daemon's netlink sockets (conntrack, the nf_tables writer, IPVS and rtnetlink) are opened
// close-on-exec: an iptables-restore or ipset child started through RunSubprocess does not inherit
// them.
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "backends/conntrack/netlink_conntrack_client.h"
#include "backends/iptables/iptables_nft_writer.h"
#include "backends/iptables/subprocess.h"
#include "backends/ipvs/ipvs_proxier.h"
#include "backends/ipvs/netlink_link_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

// "socket:[inode]" of every AF_NETLINK socket this process holds.
std::set<std::string> NetlinkSockets() {
  std::set<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK) continue;
    std::error_code ec;
    std::filesystem::path target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec) out.insert(target.string());
  }
  return out;
}

TEST(NetlinkDescriptorsTest, ChildProcessesDoNotInheritNetlinkSockets) {
  auto conntrack = backends::conntrack::NetlinkConntrackClient::Create(proxier::IpFamily::kIPv4);
  ASSERT_TRUE(conntrack.ok()) << conntrack.status();
  auto nft = backends::iptables::IptablesNftWriter::Create(proxier::IpFamily::kIPv4);
  ASSERT_TRUE(nft.ok()) << nft.status();
  // libnl: rtnetlink always; IPVS's generic netlink needs the ip_vs module, checked when it is there.
  auto links = backends::ipvs::NetlinkLinkManager::Create();
  ASSERT_TRUE(links.ok()) << links.status();
  absl::StatusOr<backends::ipvs::IpvsKernel> ipvs = backends::ipvs::CreateNetlinkIpvsKernel();
  const std::set<std::string> ours = NetlinkSockets();
  ASSERT_GE(ours.size(), 3u) << "the conntrack, nf_tables and rtnetlink sockets were not found";

  // ls lists its own descriptors: "... 7 -> socket:[1234]".
  absl::StatusOr<backends::iptables::SubprocessResult> child =
      backends::iptables::RunSubprocess({"ls", "-l", "/proc/self/fd/"}, "", absl::Seconds(10));
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_EQ(child->exit_code, 0) << child->stderr_text;
  ASSERT_NE(child->stdout_text.find("-> "), std::string::npos) << child->stdout_text;
  std::vector<std::string> inherited;
  for (absl::string_view line : absl::StrSplit(child->stdout_text, '\n', absl::SkipEmpty())) {
    const size_t arrow = line.find("-> ");
    if (arrow != absl::string_view::npos && ours.contains(std::string(line.substr(arrow + 3)))) {
      inherited.emplace_back(line);
    }
  }
  EXPECT_THAT(inherited, ::testing::IsEmpty()) << "netlink sockets leaked into the child";
}

}  // namespace
}  // namespace kproxy::daemon
