// The long-running daemon in a fresh network namespace (root only; label kernel): it programs the
// rules and serves /healthz, SIGTERM stops it with exit 0 leaving the rules in place, and a change
// of its --config file makes it exit non-zero so the DaemonSet restarts it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

class DaemonNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || system("command -v ip >/dev/null && command -v iptables-save >/dev/null") != 0) {
      // On CI (root, CI=true) a kernel test that cannot run is a failure, not a skip.
      const char* ci = getenv("CI");
      if (ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1")) {
        FAIL() << "CI=true but this kernel test cannot run: needs root, ip and iptables-save";
      }
      GTEST_SKIP() << "needs root, ip and iptables-save";
    }
    ns_ = absl::StrCat("kpt-", getpid(), "-daemon");
    system(("ip netns del " + ns_ + " 2>/dev/null").c_str());
    ASSERT_EQ(system(("ip netns add " + ns_ + " && ip netns exec " + ns_ + " ip link set lo up").c_str()), 0);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (!ns_.empty()) system(("ip netns del " + ns_ + " 2>/dev/null").c_str());
    // Built with -DKPROXY_SANITIZE=thread (scripts/sanitize.sh), the daemon's own threads --
    // sources, sync loop, HTTP servers, signal handling -- run under TSan here: a race it
    // reported in its log fails the test that drove it.
    if (!ns_.empty()) {
      const std::string log = Log();
      EXPECT_THAT(log, Not(HasSubstr("WARNING: ThreadSanitizer"))) << log;
    }
  }

  void Start(std::vector<std::string> flags) {
    std::vector<std::string> argv = {"ip", "netns", "exec", ns_, KPROXY_BINARY,
                                     std::string("--objects=") + KPROXY_SOURCE_DIR + "/manifests/examples/",
                                     "--hostname-override=node-a"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, (::testing::TempDir() + "/kp-daemon.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_EQ(posix_spawnp(&pid_, "ip", &actions, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }

  // Waits for the process to exit; returns its exit code, or -1 on timeout.
  int WaitExit(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  bool WaitHealthy() {
    for (int i = 0; i < 100; ++i) {
      std::string code = Shell("ip netns exec " + ns_ + " curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:10256/healthz");
      if (code == "200") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Another process listening on the healthz port of the namespace for `seconds`; returns its pid
  // once it has had time to bind (the daemon must start second).
  pid_t HoldHealthzPort(int seconds) {
    pid_t holder = fork();
    if (holder == 0) {
      const std::string script = absl::StrCat(
          "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
          "s.bind(('0.0.0.0',10256))\ns.listen()\ntime.sleep(", seconds, ")");
      execlp("ip", "ip", "netns", "exec", ns_.c_str(), "python3", "-c", script.c_str(), nullptr);
      _exit(127);
    }
    if (holder > 0) std::this_thread::sleep_for(std::chrono::milliseconds(800));
    return holder;
  }

  std::string Save() { return Shell("ip netns exec " + ns_ + " iptables-save"); }
  std::string Get(const std::string& url) { return Shell("ip netns exec " + ns_ + " curl -s " + url); }
  std::string Log() { return Shell("cat " + ::testing::TempDir() + "/kp-daemon.log"); }

  // The value of one sample line of /metrics ("name{labels} value"), or -1 when absent.
  double Metric(const std::string& metrics, const std::string& sample) {
    size_t at = metrics.find("\n" + sample + " ");
    if (at == std::string::npos) return -1;
    return std::stod(metrics.substr(at + sample.size() + 2));
  }

  // /healthz is 200 from the start (as upstream); the first sync follows shortly.
  bool WaitForRules() {
    for (int i = 0; i < 100; ++i) {
      if (Save().find("KUBE-SVC-") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::string ns_;
  pid_t pid_ = -1;
};

TEST_F(DaemonNetnsTest, ServesHealthAndLeavesRulesOnSigterm) {
  Start({});
  ASSERT_TRUE(WaitHealthy()) << Shell("cat " + ::testing::TempDir() + "/kp-daemon.log");
  ASSERT_TRUE(WaitForRules()) << Shell("cat " + ::testing::TempDir() + "/kp-daemon.log");
  std::string rules = Save();
  EXPECT_THAT(rules, HasSubstr("KUBE-SVC-"));
  EXPECT_THAT(rules, HasSubstr("10.96.128.10"));
  EXPECT_THAT(rules, Not(HasSubstr("203.0.113.10")));  // the pass-through LB IP gets no rule
  std::string health_check = Shell("ip netns exec " + ns_ + " curl -s http://127.0.0.1:32080/");
  EXPECT_THAT(health_check, HasSubstr("\"localEndpoints\": 2"));
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 0);
  EXPECT_THAT(Save(), HasSubstr("KUBE-SVC-"));  // rules stay in place
}

TEST_F(DaemonNetnsTest, ExitsWhenTheConfigFileChanges) {
  std::string config = ::testing::TempDir() + "/kp-daemon-config.yaml";
  ASSERT_EQ(system((std::string(KPROXY_BINARY) + " --write-config-to=" + config + " 2>/dev/null").c_str()), 0);
  Start({"--config=" + config});
  ASSERT_TRUE(WaitHealthy()) << Shell("cat " + ::testing::TempDir() + "/kp-daemon.log");
  std::ofstream(config, std::ios::app) << "# edited\n";
  EXPECT_EQ(WaitExit(std::chrono::seconds(15)), 1);
  EXPECT_THAT(Shell("cat " + ::testing::TempDir() + "/kp-daemon.log"), HasSubstr("changed"));
}

TEST_F(DaemonNetnsTest, MetricsMoveAndConfigzServesTheConfiguration) {
  Start({});
  ASSERT_TRUE(WaitHealthy()) << Log();
  ASSERT_TRUE(WaitForRules()) << Log();
  std::string metrics;
  for (int i = 0; i < 50; ++i) {  // the sync's metrics are recorded right after the restore
    metrics = Get("http://127.0.0.1:10249/metrics");
    if (Metric(metrics,
               "kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}") >= 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(Metric(metrics, "kubeproxy_sync_proxy_rules_service_changes_total"), 1) << metrics;
  EXPECT_GE(Metric(metrics, "kubeproxy_sync_proxy_rules_endpoint_changes_total"), 1) << metrics;
  EXPECT_EQ(Metric(metrics, "kubeproxy_sync_proxy_rules_service_changes_pending"), 0) << metrics;
  EXPECT_GE(
      Metric(metrics, "kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}"),
      1)
      << metrics;
  EXPECT_GT(Metric(metrics,
                   "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"nat\"}"),
            0)
      << metrics;
  EXPECT_GT(
      Metric(metrics, "kubeproxy_sync_proxy_rules_iptables_last{ip_family=\"IPv4\",table=\"nat\"}"),
      0)
      << metrics;
  EXPECT_GT(
      Metric(metrics,
             "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"filter\"}"),
      0)
      << metrics;
  EXPECT_EQ(
      Metric(metrics,
             "kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv4\"}"),
      0)
      << metrics;
  // The example Service's endpoints are on this node: present, and zero.
  EXPECT_EQ(Metric(metrics,
                   "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_"
                   "policy=\"external\"}"),
            0)
      << metrics;
  EXPECT_EQ(Metric(metrics,
                   "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_"
                   "policy=\"internal\"}"),
            0)
      << metrics;
  std::string configz = Get("http://127.0.0.1:10249/configz");
  EXPECT_THAT(configz, HasSubstr("{\"kubeproxy.config.k8s.io\":{"));
  EXPECT_THAT(configz, HasSubstr("\"mode\":\"iptables\""));
}

// Something else holds the healthz port for a while: without bindAddressHardFail the daemon keeps
// proxying and binds it on a later retry (every 5 s); with it, the daemon exits non-zero.
TEST_F(DaemonNetnsTest, BusyHealthzPortIsRetriedUnlessBindAddressHardFail) {
  pid_t holder = HoldHealthzPort(4);
  ASSERT_GE(holder, 0);
  Start({});
  ASSERT_TRUE(WaitForRules()) << Log();
  EXPECT_THAT(Log(), HasSubstr("retrying in 5s"));
  waitpid(holder, nullptr, 0);  // the holder lets go after 4 s
  EXPECT_TRUE(WaitHealthy()) << Log();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 0);

  holder = HoldHealthzPort(8);
  ASSERT_GE(holder, 0);
  Start({"--bind-address-hard-fail"});
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 1) << Log();
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
}

// Clients that shut or reset metrics and health connections in the middle of a response cost only
// their connection: SIGPIPE is ignored.
TEST_F(DaemonNetnsTest, ClientsResettingConnectionsMidResponseDoNotKillTheDaemon) {
  Start({});
  ASSERT_TRUE(WaitHealthy()) << Log();
  const std::string script = ::testing::TempDir() + "/kp-reset-clients.py";
  // Pipelined requests, a few bytes read, then the connection shut and closed while the server
  // still writes (this killed the daemon with SIGPIPE), or reset outright.
  std::ofstream(script) << "import socket, struct, time\n"
                           "for rnd in range(30):\n"
                           "    for port, path in ((10249, '/metrics'), (10256, '/healthz'), (10256, '/livez')):\n"
                           "        try:\n"
                           "            s = socket.socket()\n"
                           "            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)\n"
                           "            s.connect(('127.0.0.1', port))\n"
                           "            s.sendall(('GET %s HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' % path).encode() * 64)\n"
                           "            if rnd % 2:\n"
                           "                s.recv(100)\n"
                           "                s.shutdown(socket.SHUT_RDWR)\n"
                           "            else:\n"
                           "                time.sleep(0.01)\n"
                           "                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
                           "            s.close()\n"
                           "        except OSError:\n"
                           "            pass\n";
  Shell("ip netns exec " + ns_ + " python3 " + script);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int status = 0;
  const pid_t reaped = waitpid(pid_, &status, WNOHANG);
  if (reaped == pid_) pid_ = -1;
  ASSERT_EQ(reaped, 0) << "the daemon died (signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0)
                       << "): " << Log();
  EXPECT_TRUE(WaitHealthy()) << Log();
  // The disposition itself: SIGPIPE (13) is ignored, bit 12 of SigIgn.
  std::string sig_ign = Shell(absl::StrCat("grep SigIgn /proc/", pid_, "/status"));
  ASSERT_THAT(sig_ign, HasSubstr("SigIgn:"));
  const uint64_t mask = std::stoull(sig_ign.substr(sig_ign.find(':') + 1), nullptr, 16);
  EXPECT_NE(mask & (uint64_t{1} << (SIGPIPE - 1)), 0u) << sig_ign;
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  EXPECT_EQ(WaitExit(std::chrono::seconds(10)), 0);
}

// --init-only does the privileged part (conntrack sysctls, route_localnet) and exits 0 without
// starting the proxy, so a split deployment works: privileged init container, then NET_ADMIN only.
TEST_F(DaemonNetnsTest, InitOnlySetsTheSysctlsAndExits) {
  const std::string in_ns = "ip netns exec " + ns_ + " ";
  const std::string close_wait = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait";
  const bool conntrack = Shell(in_ns + "sh -c 'echo 60 > " + close_wait + " && echo written'").find("written") !=
                         std::string::npos;
  Shell(in_ns + "sh -c 'echo 0 > /proc/sys/net/ipv4/conf/all/route_localnet'");
  // nf_conntrack_max is read-only outside the initial namespace: maxPerCore 0 leaves it alone.
  std::string out = Shell(in_ns + KPROXY_BINARY + " --init-only --conntrack-max-per-core=0 2>&1; echo exit=$?");
  EXPECT_THAT(out, HasSubstr("exit=0")) << out;
  EXPECT_THAT(out, HasSubstr("--init-only")) << out;
  EXPECT_EQ(Shell(in_ns + "cat /proc/sys/net/ipv4/conf/all/route_localnet"), "1\n");
  if (conntrack) EXPECT_EQ(Shell(in_ns + "cat " + close_wait), "3600\n");
  EXPECT_THAT(Save(), Not(HasSubstr("KUBE-"))) << "--init-only must not start proxying";
}

}  // namespace
