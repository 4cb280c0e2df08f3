#include "cmd/kube-proxy/process_setup.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "backends/ipvs/ipvs_sysctls.h"
#include "logging/log.h"
#include "proxier/ip_address.h"

namespace kproxy::daemon {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, " for writing"));
  out << content;
  out.flush();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Upstream raises the conntrack hash size to a quarter of nf_conntrack_max when it is smaller. A
// read-only /sys (containers) is logged, as upstream.
void RaiseConntrackHashSize(const std::string& sys_root, int64_t conntrack_max) {
  std::string hash_path = absl::StrCat(sys_root, "/module/nf_conntrack/parameters/hashsize");
  int64_t hashsize = 0;
  if (auto cur = ReadFile(hash_path); cur.has_value() &&
                                      absl::SimpleAtoi(absl::StripAsciiWhitespace(*cur), &hashsize) &&
                                      hashsize < conntrack_max / 4) {
    if (absl::Status hs = WriteFile(hash_path, absl::StrCat(conntrack_max / 4, "\n")); !hs.ok()) {
      KLOG_WARNING << "Could not raise the conntrack hash size to " << conntrack_max / 4 << ": " << hs.message();
    }
  }
}

// What upstream's NodePortAddresses.ContainsIPv4Loopback answers for the configured list: unset
// means every address, 127.0.0.1 included; "primary" is the node IP only.
bool NodePortAddressesIncludeIpv4Loopback(const std::vector<std::string>& node_port_addresses) {
  if (node_port_addresses.empty()) return true;
  const absl::StatusOr<proxier::IpAddress> loopback = proxier::IpAddress::Parse("127.0.0.1");
  for (const std::string& s : node_port_addresses) {
    absl::StatusOr<proxier::Cidr> cidr = proxier::Cidr::Parse(s);
    if (cidr.ok() && loopback.ok() && cidr->Contains(*loopback)) return true;
  }
  return false;
}

}  // namespace

std::vector<SysctlWrite> PlanConntrackSysctls(const KubeProxyConfiguration::Conntrack& c, int cpus) {
  std::vector<SysctlWrite> out;
  if (c.max_per_core > 0) {
    int64_t scaled = static_cast<int64_t>(c.max_per_core) * std::max(cpus, 1);
    out.push_back({"net/netfilter/nf_conntrack_max", std::max<int64_t>(scaled, c.min)});
  }
  auto secs = [](absl::Duration d) { return absl::ToInt64Seconds(d); };
  if (c.tcp_established_timeout > absl::ZeroDuration()) {
    out.push_back({"net/netfilter/nf_conntrack_tcp_timeout_established", secs(c.tcp_established_timeout)});
  }
  if (c.tcp_close_wait_timeout > absl::ZeroDuration()) {
    out.push_back({"net/netfilter/nf_conntrack_tcp_timeout_close_wait", secs(c.tcp_close_wait_timeout)});
  }
  if (c.tcp_be_liberal) out.push_back({"net/netfilter/nf_conntrack_tcp_be_liberal", 1});
  if (c.udp_timeout > absl::ZeroDuration()) out.push_back({"net/netfilter/nf_conntrack_udp_timeout", secs(c.udp_timeout)});
  if (c.udp_stream_timeout > absl::ZeroDuration()) {
    out.push_back({"net/netfilter/nf_conntrack_udp_timeout_stream", secs(c.udp_stream_timeout)});
  }
  return out;
}

absl::Status WriteSysctl(const std::string& proc_root, const SysctlWrite& w) {
  std::string path = absl::StrCat(proc_root, "/sys/", w.path);
  if (auto current = ReadFile(path); current.has_value()) {
    int64_t v;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(*current), &v) && v == w.value) return absl::OkStatus();
  }
  absl::Status s = WriteFile(path, absl::StrCat(w.value, "\n"));
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("sysctl ", w.path, "=", w.value, ": ", s.message()));
  return absl::OkStatus();
}

void ApplyProcessSetup(const KubeProxyConfiguration& config, const std::string& proc_root, const std::string& sys_root) {
  if (absl::Status s = WriteFile(absl::StrCat(proc_root, "/self/oom_score_adj"), absl::StrCat(config.oom_score_adj, "\n"));
      !s.ok()) {
    KLOG_WARNING << "Failed to apply oomScoreAdj " << config.oom_score_adj << ": " << s.message();
  } else {
    KLOG_V(2) << "Set oom_score_adj to " << config.oom_score_adj;
  }
  const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  for (const SysctlWrite& w : PlanConntrackSysctls(config.conntrack, cpus)) {
    absl::Status s = WriteSysctl(proc_root, w);
    if (!s.ok()) {
      // Inside a network namespace (containers, tests) nf_conntrack_max is read-only; upstream logs
      // and goes on.
      KLOG_WARNING << "Could not set conntrack parameter (continuing): " << s.message();
      continue;
    }
    KLOG_V(2) << "Set sysctl " << w.path << " to " << w.value;
    if (w.path == "net/netfilter/nf_conntrack_max") RaiseConntrackHashSize(sys_root, w.value);
  }
}

absl::Status InitializeNode(const KubeProxyConfiguration& config, const std::string& proc_root,
                            const std::string& sys_root, std::string kernel_release) {
  const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  for (const SysctlWrite& w : PlanConntrackSysctls(config.conntrack, cpus)) {
    if (absl::Status s = WriteSysctl(proc_root, w); !s.ok()) return s;
    KLOG_INFO << "--init-only: sysctl " << w.path << " = " << w.value;
    if (w.path == "net/netfilter/nf_conntrack_max") RaiseConntrackHashSize(sys_root, w.value);
  }
  if (config.mode == "iptables" && config.iptables.localhost_node_ports &&
      NodePortAddressesIncludeIpv4Loopback(config.node_port_addresses)) {
    const SysctlWrite route_localnet{"net/ipv4/conf/all/route_localnet", 1};
    if (absl::Status s = WriteSysctl(proc_root, route_localnet); !s.ok()) return s;
    KLOG_INFO << "--init-only: sysctl " << route_localnet.path << " = 1 (NodePorts on 127.0.0.1)";
  }
  if (config.mode == "ipvs") {
    if (kernel_release.empty()) {
      utsname u{};
      if (uname(&u) == 0) kernel_release = u.release;
    }
    const auto sysctls = backends::ipvs::IpvsSysctls(kernel_release, config.ipvs.strict_arp);
    if (absl::Status s = backends::ipvs::ApplySysctls(sysctls, absl::StrCat(proc_root, "/sys")); !s.ok()) return s;
    for (const auto& sysctl : sysctls) KLOG_INFO << "--init-only: sysctl " << sysctl.path << " = " << sysctl.value;
  }
  return absl::OkStatus();
}

ConfigFileWatcher::ConfigFileWatcher(std::string path, absl::Duration poll_interval, std::function<void()> on_change)
    : path_(std::move(path)), poll_interval_(poll_interval), on_change_(std::move(on_change)) {}

ConfigFileWatcher::~ConfigFileWatcher() { Stop(); }

void ConfigFileWatcher::Start() {
  std::optional<std::string> initial = ReadFile(path_);
  thread_ = std::thread([this, initial] {
    while (!stop_.WaitForNotificationWithTimeout(poll_interval_)) {
      if (ReadFile(path_) != initial) {
        on_change_();
        return;
      }
    }
  });
}

void ConfigFileWatcher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace kproxy::daemon
