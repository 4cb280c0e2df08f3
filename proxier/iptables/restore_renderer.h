// Renders IptablesPlans as `iptables-restore --noflush` input: everything on a full sync, only the
// chains whose content differs from the applied plan on a partial one, plus deletion of chains no
// longer wanted.
#pragma once

#include <string>

#include "absl/container/flat_hash_set.h"
#include "proxier/iptables/iptables_plan.h"

namespace kproxy::proxier::iptables {

struct RenderOptions {
  // Write every desired chain. Otherwise `applied` is required and only differences are written.
  bool full = true;
  // The plan last applied successfully, if any.
  const IptablesPlan* applied = nullptr;
  // Full syncs: nat chains that exist in the kernel now; service chains among them that the plan
  // does not want (e.g. left by a previous process) are deleted.
  const absl::flat_hash_set<std::string>* existing_nat_chains = nullptr;
  // The same for the filter table (kproxy never puts service chains there; another tool might).
  const absl::flat_hash_set<std::string>* existing_filter_chains = nullptr;
};

struct RenderedRestore {
  std::string input;          // empty: nothing to write
  size_t chains_written = 0;  // chains (re)written, both tables
  size_t chains_deleted = 0;
};

RenderedRestore RenderRestore(const IptablesPlan& desired, const RenderOptions& options);

}  // namespace kproxy::proxier::iptables
