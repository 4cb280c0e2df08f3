// NftablesProxier: nftables mode. For each IP family NftablesSyncPlanner turns the changed Services
// into the change of the `kube-proxy` table, applied as one nf_tables transaction through the
// family's NftablesWriter; a full sync (first, after a failure, hourly) replaces the whole table in
// one transaction. Chains no longer wanted are flushed, then deleted by a later transaction.
// Cleans stale UDP flows after syncs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backends/conntrack/conntrack_client.h"
#include "backends/nftables/nftables_writer.h"
#include "proxier/nftables/nft_ruleset.h"
#include "proxier/nftables/nftables_planner.h"
#include "proxier/nftables/nftables_sync_planner.h"
#include "proxier/node_context.h"
#include "proxier/node_port_addresses.h"
#include "proxier/proxier.h"
#include "proxier/proxy_state.h"

namespace kproxy::backends::nftables {

// What one IP family of the proxier works with. Pointers are not owned and must outlive it.
struct NftablesFamilyConfig {
  proxier::IpFamily family = proxier::IpFamily::kIPv4;
  proxier::ProxyState* state = nullptr;
  std::function<proxier::NodeContext()> node_context;
  proxier::nftables::NftablesPlannerOptions planner;
  // --nodeport-addresses for this family; unless it selects every address, the addresses it
  // selects are read again at each sync from `local_addresses` (the node's interface addresses),
  // and none selected means NodePorts on no address.
  proxier::NodePortAddresses node_port_addresses;
  std::function<absl::StatusOr<std::vector<proxier::IpAddress>>()> local_addresses;
  NftablesWriter* writer = nullptr;                 // null: dry run only
  conntrack::ConntrackClient* conntrack = nullptr;  // optional: no stale-flow cleanup without it
};

struct NftablesProxierOptions {
  // A partial sync only sends what the diff against the last applied ruleset says; changes made
  // behind our back are repaired by a full sync, forced this often (upstream's FullSyncPeriod).
  absl::Duration full_sync_period = absl::Hours(1);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class NftablesProxier final : public proxier::Proxier {
 public:
  explicit NftablesProxier(std::vector<NftablesFamilyConfig> families,
                           NftablesProxierOptions options = NftablesProxierOptions());

  // Syncs every family; the first family's error is returned (naming the family) after the others
  // were still attempted. A failed family keeps its previous rules and syncs in full next time.
  absl::StatusOr<proxier::SyncReport> Sync() override;
  // The whole table of every family as `nft -f` input, touching nothing.
  absl::StatusOr<std::string> DryRun() override;
  void ForceFullSync() override;

  // Failed transactions since creation (kubeproxy_sync_proxy_rules_nftables_sync_failures_total)
  // and failed deletions of stale chains (…_nftables_cleanup_failures_total).
  struct Failures {
    uint64_t sync = 0;
    uint64_t cleanup = 0;
  };
  Failures failures() const { return {sync_failures_.load(), cleanup_failures_.load()}; }

 private:
  struct Family {
    NftablesFamilyConfig config;
    // Keeps the applied table as per-ServicePort fragments, so a partial sync re-plans and diffs
    // only the changed Services.
    std::unique_ptr<proxier::nftables::NftablesSyncPlanner> planner;
    bool needs_full = true;
    std::map<std::string, NftSetSpec> sets;  // declarations of the sets in the kernel
    absl::Time last_full_sync = absl::InfinitePast();
    proxier::ChangedServices pending_changed;  // taken from ProxyState, not yet applied
    std::vector<absl::Time> pending_change_times;
    bool pending_changes = false;
    bool stale_chains = false;  // the last sync flushed chains the next one deletes
    bool node_ports_logged = false;
  };
  // Selects this sync's NodePort addresses; when they differ from the planner's, the planner is
  // rebuilt with them (the next sync is then full). Returns whether it was rebuilt.
  bool RefreshNodePortAddresses(Family& family) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct FamilyResult {
    bool full = false;
    bool skipped = false;
    size_t changed_services = 0;
    size_t operations = 0;
    bool only_elements = false;
    absl::Duration plan, diff, apply, conntrack;  // where the sync's time went (the log line)
    std::optional<proxier::ConntrackCleanupReport> conntrack_cleanup;
  };
  absl::StatusOr<FamilyResult> SyncFamily(
      Family& family, bool force_full,
      std::vector<std::pair<proxier::IpFamily, absl::Time>>& change_times)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const NftablesProxierOptions options_;
  std::atomic<bool> force_full_{false};
  std::atomic<uint64_t> sync_failures_{0};
  std::atomic<uint64_t> cleanup_failures_{0};
  absl::Mutex mu_;
  std::vector<Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::backends::nftables
