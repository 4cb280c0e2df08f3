// IptablesProxier: iptables mode. For each IP family it plans the desired tables from ProxyState
// snapshots (IptablesPlanner), writes full or partial iptables-restore input through the family's
// IptablesRunner, keeps the jump rules and canary chains in place, and cleans stale UDP flows.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "backends/conntrack/conntrack_client.h"
#include "backends/iptables/iptables_runner.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/node_context.h"
#include "proxier/proxier.h"
#include "proxier/proxy_state.h"

namespace kproxy::backends::iptables {

// What one IP family of the proxier works with. Pointers are not owned and must outlive it.
struct IptablesFamilyConfig {
  proxier::ProxyState* state = nullptr;
  // The node's current context for this family (addresses, labels, pod CIDRs).
  std::function<proxier::NodeContext()> node_context;
  // The addresses on the node's interfaces (any family), read at each sync when
  // planner.node_port_addresses does not match every address. Unset or failing: none, so the
  // NodePorts of this family are reachable nowhere until a read succeeds (fail closed, as upstream).
  std::function<absl::StatusOr<std::vector<proxier::IpAddress>>()> local_addresses;
  proxier::iptables::IptablesPlannerConfig planner;
  IptablesRunner* runner = nullptr;
  conntrack::ConntrackClient* conntrack = nullptr;  // optional: no stale-flow cleanup without it
};

// A jump from a built-in chain to one of kproxy's top-level chains (upstream's iptablesJumpChains).
struct JumpRule {
  Table table;
  const char* destination;
  const char* source;
  const char* comment;  // empty: none
  std::vector<std::string> extra_args;
  // The rule as EnsureRule takes it: extra args, comment, "-j destination".
  std::vector<std::string> Args() const;
};
const std::vector<JumpRule>& JumpRules();

struct IptablesProxierOptions {
  // How often partial syncs look for the canary chains: reading a large table is not free, so,
  // like upstream's monitor (every syncPeriod), not on every sync. Zero: on every partial sync.
  absl::Duration canary_check_interval = absl::Seconds(30);
  // A partial sync only writes what the plan says changed; rules edited or flushed behind our back
  // (with the canaries left in place) are only repaired by a full sync, forced this often (upstream's
  // FullSyncPeriod). Zero: never forced by time.
  absl::Duration full_sync_period = absl::Hours(1);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class IptablesProxier final : public proxier::Proxier {
 public:
  explicit IptablesProxier(std::vector<IptablesFamilyConfig> families,
                           IptablesProxierOptions options = IptablesProxierOptions());

  // Syncs every family; the first family's error is returned (naming the family) after the others
  // were still attempted. A failed family keeps its previous rules and syncs in full next time.
  absl::StatusOr<proxier::SyncReport> Sync() override;
  // The full restore input of every family ("# IPv4" / "# IPv6" comment lines between them),
  // touching nothing. Changes it consumes from ProxyState are still rewritten by the next Sync().
  absl::StatusOr<std::string> DryRun() override;
  void ForceFullSync() override;

  // iptables-restore failures since creation (kubeproxy_sync_proxy_rules_iptables_restore_failures_total
  // and _partial_restore_failures_total: a failed partial restore counts in both, as upstream).
  struct RestoreFailures {
    uint64_t total = 0;
    uint64_t partial = 0;
  };
  RestoreFailures restore_failures(proxier::IpFamily family) const {
    const int i = family == proxier::IpFamily::kIPv6 ? 1 : 0;
    return {restore_failures_[i].load(), partial_restore_failures_[i].load()};
  }

 private:
  struct Family {
    IptablesFamilyConfig config;
    proxier::iptables::IptablesPlanner planner;
    // The plan last written successfully; null when the next sync must be full.
    std::shared_ptr<const proxier::iptables::IptablesPlan> applied;
    // The plan of the last snapshot taken (applied or not): the base for reusing fragments, since
    // ProxyState reports changes relative to that snapshot.
    std::shared_ptr<const proxier::iptables::IptablesPlan> last_planned;
    // Changes taken from ProxyState but not yet written (DryRun takes snapshots too).
    proxier::ChangedServices pending_changed;
    std::vector<absl::Time> pending_change_times;
    bool needs_full = true;
    absl::Time last_canary_check = absl::InfinitePast();
    absl::Time last_full_sync = absl::InfinitePast();
    // Rules of the per-ServicePort nat chains of `applied`, kept up to date from the changed
    // Services on partial syncs so counting stays O(changed).
    size_t fragment_nat_rules = 0;
    // The NodePort addresses last logged, so a change is logged once.
    std::optional<std::vector<proxier::IpAddress>> logged_node_port_ips;
  };
  // The node context to plan with: the configured one plus, when --nodeport-addresses needs them,
  // the interfaces' addresses of the family as they are now.
  static proxier::NodeContext CurrentNode(Family& family);
  struct FamilyResult {
    bool full = false;
    bool skipped = false;
    size_t changed_services = 0;
    size_t chains_written = 0;
    size_t chains_deleted = 0;
    size_t bytes = 0;
    size_t filter_rules = 0;  // in the desired table
    size_t nat_rules = 0;
    size_t filter_rules_written = 0;
    size_t nat_rules_written = 0;
    size_t no_local_internal_endpoints = 0;
    size_t no_local_external_endpoints = 0;
    std::optional<proxier::ConntrackCleanupReport> conntrack_cleanup;
    std::vector<std::string> pass_through_services;  // "namespace/name", as programmed
  };
  absl::StatusOr<FamilyResult> SyncFamily(
      Family& family, bool force_full,
      std::vector<std::pair<proxier::IpFamily, absl::Time>>& change_times)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills the rule counts of `result` from the plan and the restore input written.
  // `previous` is the plan applied before this one (null on full syncs: everything is counted).
  static void CountRules(Family& family, const proxier::iptables::IptablesPlan& plan,
                         const proxier::iptables::IptablesPlan* previous, const proxier::ChangedServices& changed,
                         absl::Span<const absl::string_view> restore_input, FamilyResult& result);
  // Canary chains and jump rules from the built-in chains; only on full syncs.
  static absl::Status EnsureJumps(IptablesRunner& runner);
  // True when the canary is gone from any of mangle, nat and filter (someone flushed the tables).
  static bool CanaryMissing(IptablesRunner& runner);

  const IptablesProxierOptions options_;
  std::atomic<bool> force_full_{false};
  // Indexed by family: [0] IPv4, [1] IPv6.
  std::array<std::atomic<uint64_t>, 2> restore_failures_{};
  std::array<std::atomic<uint64_t>, 2> partial_restore_failures_{};
  absl::Mutex mu_;
  std::vector<Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::backends::iptables
