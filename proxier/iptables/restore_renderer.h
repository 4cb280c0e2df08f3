// Renders IptablesPlans as `iptables-restore --noflush` input: everything on a full sync, only the
// chains whose content differs from the applied plan on a partial one, plus deletion of chains no
// longer wanted.
#pragma once

#include <deque>
#include <string>
#include <vector>

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

// The same input as pieces, in order: chain rules are views into the plan (which must outlive
// this), the rest lives in `owned`. A 10k-Service full sync is ~40 MB of rules the plan already
// holds; the pieces are written to iptables-restore without joining them.
struct RestorePieces {
  std::vector<absl::string_view> pieces;
  std::deque<std::string> owned;  // a deque: growing it never moves the strings pieces point into
  size_t chains_written = 0;
  size_t chains_deleted = 0;

  size_t size() const;  // bytes
  bool empty() const { return size() == 0; }
  std::string Join() const;
};

RenderedRestore RenderRestore(const IptablesPlan& desired, const RenderOptions& options);
RestorePieces RenderRestorePieces(const IptablesPlan& desired, const RenderOptions& options);

}  // namespace kproxy::proxier::iptables
