// NftablesSyncPlanner: the nftables planner of a sync loop. It keeps, per ServicePort, what the
// table holds after the last sync, so a partial sync re-plans only the changed Services and
// derives the change from them alone (cost independent of the number of Services); a full sync
// re-plans everything and still sends only what differs. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "proxier/nftables/nft_fragment.h"
#include "proxier/nftables/nft_ruleset.h"
#include "proxier/nftables/nftables_planner.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier::nftables {

class NftablesSyncPlanner {
 public:
  NftablesSyncPlanner(IpFamily family, NftablesPlannerOptions options);
  ~NftablesSyncPlanner();

  // The change that moves the table from what the previous Sync left (nothing after
  // construction or Reset: then create_table is set) to the plan of `snapshot`. `changed`: the
  // Services whose ports or endpoints changed since the previous Sync; nullptr re-plans every
  // Service (a full sync). A node context different from the previous call's re-plans
  // everything. The result equals DiffNftRulesets(Ruleset() before, PlanNftables(snapshot, node,
  // options)) up to the order of its lists; chains it flushes are deleted by the next Sync.
  NftChange Sync(const ProxySnapshot& snapshot, const NodeContext& node,
                 const ChangedServices* changed);

  // Forgets the table: the next Sync creates everything. Call it after a failed transaction (the
  // writer then deletes the table in the next transaction, before recreating it).
  void Reset();

  // The table as the last Sync leaves it (for --dry-run and tests), stale chains included.
  NftRuleset Ruleset() const;

 private:
  struct Owned;  // a fragment with the ServicePortName that owns it (empty for the table-wide)
  struct Touched;
  class ChangeBuilder;

  void Replace(std::unique_ptr<Owned>& slot, std::unique_ptr<Owned> next, ChangeBuilder& builder);

  const IpFamily family_;
  const NftablesPlannerOptions options_;
  std::optional<NodeContext> node_;
  std::unique_ptr<NftFragmentPlanner> planner_;
  bool table_exists_ = false;
  std::unique_ptr<Owned> table_wide_;
  absl::btree_map<ServicePortName, std::unique_ptr<Owned>> service_ports_;
  // Elements of table-wide sets and maps, by "<set>\x1f<key>": every fragment that lists the key,
  // the first by ServicePortName (table-wide first) being the one in the kernel.
  absl::flat_hash_map<std::string, std::vector<std::pair<const Owned*, const NftElement*>>> owners_;
  std::vector<std::string> stale_chains_;  // flushed by the previous Sync
};

}  // namespace kproxy::proxier::nftables
