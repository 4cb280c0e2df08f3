// ProcessSetup: what kube-proxy does to its process and the node before proxying: oom_score_adj
// and the conntrack sysctls (upstream's server_linux.go), plus the --config file watcher that makes
// the process exit when the file changes so the DaemonSet restarts it.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cmd/kube-proxy/options.h"

namespace kproxy::daemon {

// One sysctl to set, e.g. {"net/netfilter/nf_conntrack_max", 262144}.
struct SysctlWrite {
  std::string path;  // relative to /proc/sys
  int64_t value = 0;
  friend bool operator==(const SysctlWrite&, const SysctlWrite&) = default;
};

// The conntrack sysctls upstream sets: nf_conntrack_max = max(maxPerCore x cpus, min) unless
// maxPerCore is 0; the TCP established / close-wait and UDP timeouts when non-zero (in seconds);
// tcp_be_liberal when asked. Pure.
std::vector<SysctlWrite> PlanConntrackSysctls(const KubeProxyConfiguration::Conntrack& conntrack, int cpus);

// Writes `value` to <proc_root>/sys/<path> unless it already holds it. Errors name the file.
absl::Status WriteSysctl(const std::string& proc_root, const SysctlWrite& write);

// Applies oom_score_adj and the conntrack sysctls. Failures are logged and do not stop the proxy
// (a network namespace has a read-only nf_conntrack_max; upstream goes on too). Also raises the
// conntrack hash size to max/4 when it is smaller, as upstream.
void ApplyProcessSetup(const KubeProxyConfiguration& config, const std::string& proc_root = "/proc",
                       const std::string& sys_root = "/sys");

// --init-only (upstream's newProxyServer with initOnly): the settings that need full privileges,
// so that the proxy can then run with only CAP_NET_ADMIN: the conntrack sysctls and hash size,
// route_localnet for localhost NodePorts (iptables mode), the IPVS sysctls (ipvs mode). Each is
// written only when it differs. Unlike ApplyProcessSetup every failure is returned, naming the
// sysctl. `kernel_release` (uname -r) defaults to the running kernel's.
absl::Status InitializeNode(const KubeProxyConfiguration& config, const std::string& proc_root = "/proc",
                            const std::string& sys_root = "/sys", std::string kernel_release = "");

// Watches a file by polling its content; calls `on_change` once (from its thread) when the content
// differs from what it was at Start(), or the file disappears.
class ConfigFileWatcher {
 public:
  ConfigFileWatcher(std::string path, absl::Duration poll_interval, std::function<void()> on_change);
  ~ConfigFileWatcher();
  ConfigFileWatcher(const ConfigFileWatcher&) = delete;
  ConfigFileWatcher& operator=(const ConfigFileWatcher&) = delete;
  void Start();
  void Stop();

 private:
  const std::string path_;
  const absl::Duration poll_interval_;
  const std::function<void()> on_change_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace kproxy::daemon
