#include "cmd/kube-proxy/process_setup.h"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

TEST(ProcessSetupTest, ConntrackMaxIsPerCoreTimesCoresButAtLeastMin) {
  KubeProxyConfiguration::Conntrack c;  // 32768 per core, min 131072
  auto two = PlanConntrackSysctls(c, 2);
  ASSERT_FALSE(two.empty());
  EXPECT_EQ(two[0], (SysctlWrite{"net/netfilter/nf_conntrack_max", 131072}));
  auto eight = PlanConntrackSysctls(c, 8);
  EXPECT_EQ(eight[0], (SysctlWrite{"net/netfilter/nf_conntrack_max", 262144}));
  EXPECT_EQ(eight[1], (SysctlWrite{"net/netfilter/nf_conntrack_tcp_timeout_established", 86400}));
  EXPECT_EQ(eight[2], (SysctlWrite{"net/netfilter/nf_conntrack_tcp_timeout_close_wait", 3600}));
  EXPECT_EQ(eight.size(), 3u);  // be_liberal off, UDP timeouts 0: left as they are
}

TEST(ProcessSetupTest, ZeroLeavesValuesAlone) {
  KubeProxyConfiguration::Conntrack c;
  c.max_per_core = 0;
  c.tcp_established_timeout = absl::ZeroDuration();
  c.tcp_close_wait_timeout = absl::ZeroDuration();
  c.tcp_be_liberal = true;
  c.udp_timeout = absl::Seconds(30);
  c.udp_stream_timeout = absl::Seconds(120);
  EXPECT_EQ(PlanConntrackSysctls(c, 4),
            (std::vector<SysctlWrite>{{"net/netfilter/nf_conntrack_tcp_be_liberal", 1},
                                      {"net/netfilter/nf_conntrack_udp_timeout", 30},
                                      {"net/netfilter/nf_conntrack_udp_timeout_stream", 120}}));
}

TEST(ProcessSetupTest, WritesSysctlsUnderTheRootAndReportsFailures) {
  std::string root = ::testing::TempDir() + "/kp-proc";
  std::filesystem::create_directories(root + "/sys/net/netfilter");
  std::filesystem::create_directories(root + "/self");
  ASSERT_TRUE(WriteSysctl(root, {"net/netfilter/nf_conntrack_max", 4242}).ok());
  std::ifstream in(root + "/sys/net/netfilter/nf_conntrack_max");
  std::string v;
  in >> v;
  EXPECT_EQ(v, "4242");
  absl::Status missing = WriteSysctl(root, {"net/nope/x", 1});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.message()).find("net/nope/x"), std::string::npos);
  KubeProxyConfiguration config;
  ApplyProcessSetup(config, root, root + "/nosys");  // must not throw or abort on missing files
  std::ifstream oom(root + "/self/oom_score_adj");
  oom >> v;
  EXPECT_EQ(v, "-999");
}

std::string ReadValue(const std::string& path) {
  std::ifstream in(path);
  std::string v;
  in >> v;
  return v;
}

// A fake /proc with every sysctl --init-only may touch, holding `value`.
std::string FakeProcRoot(const std::string& name, const std::string& value) {
  const std::string root = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(root);
  for (const char* dir : {"/sys/net/netfilter", "/sys/net/ipv4/conf/all", "/sys/net/ipv4/vs"}) {
    std::filesystem::create_directories(root + dir);
  }
  for (const char* f : {"netfilter/nf_conntrack_max", "netfilter/nf_conntrack_tcp_timeout_established",
                        "netfilter/nf_conntrack_tcp_timeout_close_wait", "ipv4/conf/all/route_localnet",
                        "ipv4/vs/conntrack", "ipv4/vs/expire_nodest_conn", "ipv4/vs/expire_quiescent_template",
                        "ipv4/ip_forward"}) {
    std::ofstream(root + "/sys/net/" + f) << value << "\n";
  }
  return root;
}

TEST(InitializeNodeTest, IptablesModeSetsConntrackAndRouteLocalnet) {
  const std::string root = FakeProcRoot("kp-init-iptables", "0");
  KubeProxyConfiguration config;  // iptables, localhost NodePorts, nodePortAddresses unset
  config.conntrack.max_per_core = 0;
  ASSERT_TRUE(InitializeNode(config, root, root + "/nosys", "6.1.0").ok());
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/conf/all/route_localnet"), "1");
  EXPECT_EQ(ReadValue(root + "/sys/net/netfilter/nf_conntrack_tcp_timeout_established"), "86400");
  EXPECT_EQ(ReadValue(root + "/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait"), "3600");
  EXPECT_EQ(ReadValue(root + "/sys/net/netfilter/nf_conntrack_max"), "0");  // maxPerCore 0: left alone
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/vs/conntrack"), "0");  // not IPVS mode
}

TEST(InitializeNodeTest, RouteLocalnetOnlyWhenNodePortsMayListenOnLoopback) {
  const std::string root = FakeProcRoot("kp-init-no-loopback", "0");
  KubeProxyConfiguration config;
  config.node_port_addresses = {"192.0.2.0/24"};
  ASSERT_TRUE(InitializeNode(config, root, root + "/nosys", "6.1.0").ok());
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/conf/all/route_localnet"), "0");
  config.node_port_addresses = {"127.0.0.0/8"};
  ASSERT_TRUE(InitializeNode(config, root, root + "/nosys", "6.1.0").ok());
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/conf/all/route_localnet"), "1");
}

TEST(InitializeNodeTest, IpvsModeSetsTheIpvsSysctls) {
  const std::string root = FakeProcRoot("kp-init-ipvs", "0");
  KubeProxyConfiguration config;
  config.mode = "ipvs";
  ASSERT_TRUE(InitializeNode(config, root, root + "/nosys", "6.1.0").ok());
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/vs/conntrack"), "1");
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/vs/expire_nodest_conn"), "1");
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/ip_forward"), "1");
  EXPECT_EQ(ReadValue(root + "/sys/net/ipv4/conf/all/route_localnet"), "0");  // IPVS mode does not use it
}

TEST(InitializeNodeTest, AFailureIsReturnedNamingTheSysctl) {
  const std::string root = ::testing::TempDir() + "/kp-init-missing";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/sys");
  KubeProxyConfiguration config;
  config.conntrack.max_per_core = 0;
  absl::Status s = InitializeNode(config, root, root + "/nosys", "6.1.0");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("nf_conntrack_tcp_timeout_established"), std::string::npos) << s;
}

TEST(ConfigFileWatcherTest, FiresWhenTheContentChanges) {
  std::string path = ::testing::TempDir() + "/kp-watch.yaml";
  std::ofstream(path) << "a: 1\n";
  absl::Notification fired;
  ConfigFileWatcher w(path, absl::Milliseconds(20), [&] { fired.Notify(); });
  w.Start();
  EXPECT_FALSE(fired.WaitForNotificationWithTimeout(absl::Milliseconds(150)));
  std::ofstream(path) << "a: 2\n";
  fired.WaitForNotification();  // no deadline: a watcher that never fires hangs until CTest's timeout
  w.Stop();
}

}  // namespace
}  // namespace kproxy::daemon
