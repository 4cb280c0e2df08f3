// Cleanup: what `kube-proxy --cleanup` removes, in an order the kernel accepts.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "backends/iptables/iptables_runner.h"

namespace kproxy::daemon {

// Removes kube-proxy's iptables rules of every family in `runners` first, then calls
// `cleanup_ipvs` (virtual servers, kube-ipvs0, ipsets): IPVS mode's IPv4 and IPv6 rules reference
// the ipsets, and an ipset in use by a rule cannot be destroyed. Every step runs even when an
// earlier one failed; the first error is returned.
absl::Status CleanupProxyRules(const std::vector<backends::iptables::IptablesRunner*>& runners,
                               const std::function<absl::Status()>& cleanup_ipvs);

// What a daemon starting in `mode` removes of the other modes' rules, as upstream's
// platformCleanup: iptables and IPVS modes delete the nftables mode's `kube-proxy` tables
// (`cleanup_nftables`), so rules an nftables-mode proxy left stop acting on Service traffic;
// nftables mode removes the iptables and IPVS modes' rules (as CleanupProxyRules). Every step runs;
// failures are logged and the first is returned (the daemon goes on, as upstream).
absl::Status CleanupOtherModes(absl::string_view mode,
                               const std::vector<backends::iptables::IptablesRunner*>& runners,
                               const std::function<absl::Status()>& cleanup_ipvs,
                               const std::function<absl::Status()>& cleanup_nftables);

}  // namespace kproxy::daemon
