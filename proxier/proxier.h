// Proxier: one proxy mode (iptables or IPVS) programming all of the node's IP families. The sync
// runner calls Sync(); an implementation plans from ProxyState snapshots and writes the kernel.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proxier/ip_address.h"

namespace kproxy::proxier {

// One stale-flow cleanup after a sync (kubeproxy_conntrack_reconciler_sync_duration_seconds and
// _deleted_entries_total, per IP family as upstream's CleanStaleEntries).
struct ConntrackCleanupReport {
  IpFamily family = IpFamily::kIPv4;
  absl::Duration duration;
  size_t deleted = 0;  // flows removed (0 when the cleanup failed; it is retried next sync)
};

struct SyncReport {
  bool full = false;             // a full sync (vs partial)
  // The families this sync planned and wrote (the ip_family label of the sync metrics).
  std::vector<IpFamily> families;
  size_t changed_services = 0;   // Services whose rules were rewritten
  std::string detail;            // one line for the log, e.g. "wrote 4 chains, 1.2 KiB"
  // When each change this sync applied was first queued, with its family
  // (ProxyState::Taken::change_times); the sync runner turns them into network-programming
  // latencies.
  std::vector<std::pair<IpFamily, absl::Time>> change_times;
  // iptables mode, per family: rules ("-A" lines) per table ("filter", "nat") in the desired
  // tables, and written by this sync (kubeproxy_sync_proxy_rules_iptables_total / _last).
  std::map<IpFamily, std::map<std::string, size_t>> iptables_rules_total;
  std::map<IpFamily, std::map<std::string, size_t>> iptables_rules_written;
  // Per family, "internal" / "external": Services (IPVS) or ServicePorts (iptables) with a Local
  // traffic policy whose endpoints are all on other nodes
  // (kubeproxy_sync_proxy_rules_no_local_endpoints_total). Empty when the sync did not plan.
  std::map<IpFamily, std::map<std::string, size_t>> no_local_endpoints;
  // "namespace/name" of the LoadBalancer Services some of whose ingress IPs got no local rule as
  // programmed by this sync (IPVS mode: after each ELB's setting was enforced), over all families
  // (kubeproxy_pass_through_services). Unset when the sync did not plan.
  std::optional<std::set<std::string>> pass_through_services;
  // The conntrack cleanups this sync ran (none for families whose Services did not change).
  std::vector<ConntrackCleanupReport> conntrack_cleanups;
};

class Proxier {
 public:
  virtual ~Proxier() = default;
  // Programs the kernel from the current state. On error the previous rules stay in place and the
  // next Sync() is a full one.
  virtual absl::StatusOr<SyncReport> Sync() = 0;
  // What a full sync would write (iptables-restore input; IPVS operations, ipsets and addresses),
  // touching nothing. Used by --dry-run.
  virtual absl::StatusOr<std::string> DryRun() = 0;
  // The next Sync() rewrites everything (canary lost, periodic resync).
  virtual void ForceFullSync() = 0;
};

}  // namespace kproxy::proxier
