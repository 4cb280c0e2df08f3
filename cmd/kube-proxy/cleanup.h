// Cleanup: what `kube-proxy --cleanup` removes, in an order the kernel accepts.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "backends/iptables/iptables_runner.h"

namespace kproxy::daemon {

// Removes kube-proxy's iptables rules of every family in `runners` first, then calls
// `cleanup_ipvs` (virtual servers, kube-ipvs0, ipsets): IPVS mode's IPv4 and IPv6 rules reference
// the ipsets, and an ipset in use by a rule cannot be destroyed. Every step runs even when an
// earlier one failed; the first error is returned.
absl::Status CleanupProxyRules(const std::vector<backends::iptables::IptablesRunner*>& runners,
                               const std::function<absl::Status()>& cleanup_ipvs);

}  // namespace kproxy::daemon
