// CleanupIpvs: what `kube-proxy --cleanup` removes in IPVS mode.
#pragma once

#include "absl/status/status.h"
#include "backends/iptables/iptables_runner.h"
#include "backends/ipvs/ipset_writer.h"
#include "backends/ipvs/ipvs_client.h"
#include "backends/ipvs/link_manager.h"

namespace kproxy::backends::ipvs {

// --cleanup for IPVS mode: removes kube-proxy's iptables chains first when `iptables` is given
// (they reference the ipsets), then every virtual server (as upstream's ipvs Flush), the
// kube-ipvs0 link and every KUBE-* ipset. Tolerates what is already gone.
absl::Status CleanupIpvs(IpvsClient& ipvs, LinkManager& links, IpsetWriter& ipsets,
                         iptables::IptablesRunner* iptables);

// The same with the real writers (netlink, ipset); IPVS not loaded is not an error. Also removes
// the other IP family's kube-proxy chains (same iptables variant), since they reference ipsets.
absl::Status CleanupIpvs(iptables::IptablesRunner* iptables);

}  // namespace kproxy::backends::ipvs
