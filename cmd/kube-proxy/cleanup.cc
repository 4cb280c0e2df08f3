#include "cmd/kube-proxy/cleanup.h"

#include "absl/strings/str_cat.h"
#include "backends/iptables/iptables_cleanup.h"
#include "logging/log.h"

namespace kproxy::daemon {

absl::Status CleanupProxyRules(const std::vector<backends::iptables::IptablesRunner*>& runners,
                               const std::function<absl::Status()>& cleanup_ipvs) {
  absl::Status first;
  for (backends::iptables::IptablesRunner* runner : runners) {
    if (absl::Status s = backends::iptables::CleanupIptables(*runner); !s.ok()) {
      KLOG_ERROR << "Cleanup of " << proxier::IpFamilyName(runner->family())
                 << " iptables rules failed: " << s.message();
      if (first.ok()) {
        first = absl::Status(s.code(), absl::StrCat(proxier::IpFamilyName(runner->family()),
                                                    " iptables: ", s.message()));
      }
    }
  }
  if (cleanup_ipvs) {
    if (absl::Status s = cleanup_ipvs(); !s.ok()) {
      KLOG_ERROR << "Cleanup of IPVS state failed: " << s.message();
      if (first.ok()) first = absl::Status(s.code(), absl::StrCat("IPVS: ", s.message()));
    }
  }
  return first;
}

absl::Status CleanupOtherModes(absl::string_view mode,
                               const std::vector<backends::iptables::IptablesRunner*>& runners,
                               const std::function<absl::Status()>& cleanup_ipvs,
                               const std::function<absl::Status()>& cleanup_nftables) {
  if (mode == "nftables") return CleanupProxyRules(runners, cleanup_ipvs);
  if (!cleanup_nftables) return absl::OkStatus();
  absl::Status s = cleanup_nftables();
  if (!s.ok()) KLOG_ERROR << "Cleanup of the nftables mode's tables failed: " << s.message();
  return s;
}

}  // namespace kproxy::daemon
