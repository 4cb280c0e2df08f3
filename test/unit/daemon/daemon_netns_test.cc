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
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

#ifdef KPROXY_BINARY
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

  std::string Save() { return Shell("ip netns exec " + ns_ + " iptables-save"); }

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

}  // namespace
#endif  // KPROXY_BINARY
