// CleanupIptables: what `kube-proxy --cleanup` does to iptables — removes every chain and jump rule
// that upstream kube-proxy (iptables or IPVS mode) or kproxy installed, and nothing of kubelet's.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "backends/iptables/iptables_runner.h"

namespace kproxy::backends::iptables {

// The iptables-restore --noflush input that removes kube-proxy's chains (those
// proxier::IsKubeProxyChain() accepts) from one table, given the table's iptables-save output:
// declare (= flush) each such chain, delete every rule of the other chains that jumps to one, then
// -X each. Empty when there is nothing to remove.
std::string BuildCleanupRestoreInput(Table table, absl::string_view save_output);

// Runs the cleanup on nat, filter and mangle, one restore per table. Tables that fail are reported
// together; the others are still cleaned. Idempotent.
//
// Not done here: IPVS mode's ipsets (KUBE-CLUSTER-IP, ...), virtual servers and the kube-ipvs0
// link — backends/ipvs owns those; --cleanup must call its cleanup as well.
absl::Status CleanupIptables(IptablesRunner& runner);

}  // namespace kproxy::backends::iptables
