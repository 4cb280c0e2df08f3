#include "cmd/kube-proxy/process_setup.h"

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "logging/log.h"

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
    if (w.path == "net/netfilter/nf_conntrack_max") {
      std::string hash_path = absl::StrCat(sys_root, "/module/nf_conntrack/parameters/hashsize");
      int64_t hashsize = 0;
      if (auto cur = ReadFile(hash_path); cur.has_value() &&
                                          absl::SimpleAtoi(absl::StripAsciiWhitespace(*cur), &hashsize) &&
                                          hashsize < w.value / 4) {
        if (absl::Status hs = WriteFile(hash_path, absl::StrCat(w.value / 4, "\n")); !hs.ok()) {
          KLOG_WARNING << "Could not raise the conntrack hash size to " << w.value / 4 << ": " << hs.message();
        }
      }
    }
  }
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
