#include "proxier/iptables/restore_renderer.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "proxier/iptables/chain_names.h"

namespace kproxy::proxier::iptables {
namespace {

ChainView ViewOf(const PlannedChain& chain) { return {chain.name, chain.rules}; }

// One table's output being collected: chain headers, rule lines and deletions.
struct TableWriter {
  std::vector<ChainView> written;
  std::vector<absl::string_view> deleted;

  bool empty() const { return written.empty() && deleted.empty(); }

  void Render(absl::string_view table, RestorePieces& out) const {
    if (empty()) return;
    std::string& head = out.owned.emplace_back();
    size_t size = table.size() + 3;
    for (const ChainView& chain : written) size += chain.name.size() + 10;
    for (absl::string_view name : deleted) size += name.size() + 10;
    head.reserve(size);
    head.append("*").append(table.data(), table.size()).append("\n");
    // Every header first: a jump may only name a chain that is already declared.
    for (const ChainView& chain : written) {
      head.append(":").append(chain.name.data(), chain.name.size()).append(" - [0:0]\n");
    }
    // A header line flushes the chain, so a deleted chain is empty before -X.
    for (absl::string_view name : deleted) head.append(":").append(name.data(), name.size()).append(" - [0:0]\n");
    out.pieces.push_back(head);
    for (const ChainView& chain : written) {
      if (!chain.rules.empty()) out.pieces.push_back(chain.rules);
    }
    // Deletions come after the rules that referenced these chains were rewritten.
    std::string& tail = out.owned.emplace_back();
    for (absl::string_view name : deleted) absl::StrAppend(&tail, "-X ", name, "\n");
    tail.append("COMMIT\n");
    out.pieces.push_back(tail);
  }
};

const PlannedChain* FindChain(const SharedChainList& chains, absl::string_view name) {
  for (const PlannedChain& chain : chains) {
    if (chain.name == name) return &chain;
  }
  return nullptr;
}

// Top-level chains: written when new or different. A chain the planner carried over from the
// applied plan is the same object and is not compared.
void DiffTopLevel(const SharedChainList& desired, const SharedChainList& applied, TableWriter& writer) {
  for (const PlannedChain& chain : desired) {
    const PlannedChain* old = FindChain(applied, chain.name);
    if (old == nullptr || (old != &chain && old->rules != chain.rules)) writer.written.push_back(ViewOf(chain));
  }
  for (const PlannedChain& chain : applied) {
    if (FindChain(desired, chain.name) == nullptr) writer.deleted.push_back(chain.name);
  }
}

// The index of the chain named `name` in `chains`, or -1.
int FindIn(const FragmentChains& chains, absl::string_view name) {
  for (size_t i = 0; i < chains.size(); ++i) {
    if (chains[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// One ServicePort's chains: the new ones and changed ones are written; vanished ones deleted.
void DiffFragment(const ServicePortFragment* desired, const ServicePortFragment* applied,
                  TableWriter& writer) {
  static const FragmentChains kNone;
  const FragmentChains& new_chains = desired ? desired->nat_chains : kNone;
  const FragmentChains& old_chains = applied ? applied->nat_chains : kNone;
  // Small fragments are compared by scanning; large ones (many endpoints) through an index.
  constexpr size_t kIndexThreshold = 16;
  if (new_chains.size() <= kIndexThreshold && old_chains.size() <= kIndexThreshold) {
    for (const ChainView chain : new_chains) {
      const int old = FindIn(old_chains, chain.name);
      if (old < 0 || old_chains[static_cast<size_t>(old)].rules != chain.rules) writer.written.push_back(chain);
    }
    for (const ChainView chain : old_chains) {
      if (FindIn(new_chains, chain.name) < 0) writer.deleted.push_back(chain.name);
    }
    return;
  }
  absl::flat_hash_map<absl::string_view, absl::string_view> old_index;  // name -> rules
  old_index.reserve(old_chains.size());
  for (const ChainView chain : old_chains) old_index.emplace(chain.name, chain.rules);
  absl::flat_hash_set<absl::string_view> new_names;
  new_names.reserve(new_chains.size());
  for (const ChainView chain : new_chains) {
    new_names.insert(chain.name);
    auto it = old_index.find(chain.name);
    if (it == old_index.end() || it->second != chain.rules) writer.written.push_back(chain);
  }
  for (const ChainView chain : old_chains) {
    if (!new_names.contains(chain.name)) writer.deleted.push_back(chain.name);
  }
}

}  // namespace

RestorePieces RenderRestorePieces(const IptablesPlan& desired, const RenderOptions& options) {
  TableWriter filter;
  TableWriter nat;
  const bool full = options.full || options.applied == nullptr;
  if (full) {
    for (const PlannedChain& chain : desired.filter_chains) filter.written.push_back(ViewOf(chain));
    for (const PlannedChain& chain : desired.nat_chains) nat.written.push_back(ViewOf(chain));
    size_t fragment_chains = 0;
    for (const auto& [name, fragment] : desired.fragments) fragment_chains += fragment->nat_chains.size();
    nat.written.reserve(nat.written.size() + fragment_chains);
    for (const auto& [name, fragment] : desired.fragments) {
      for (const ChainView chain : fragment->nat_chains) nat.written.push_back(chain);
    }
    if (options.existing_filter_chains != nullptr) {
      for (const std::string& name : *options.existing_filter_chains) {
        if (IsServiceChainName(name)) filter.deleted.push_back(name);
      }
      std::sort(filter.deleted.begin(), filter.deleted.end());
    }
    // Service chains the kernel (or the last applied plan) has and this plan does not want.
    std::vector<absl::string_view> candidates;
    if (options.existing_nat_chains != nullptr) {
      for (const std::string& name : *options.existing_nat_chains) {
        if (IsServiceChainName(name)) candidates.push_back(name);
      }
    }
    if (options.applied != nullptr) {
      for (const auto& [name, fragment] : options.applied->fragments) {
        for (const ChainView chain : fragment->nat_chains) candidates.push_back(chain.name);
      }
    }
    if (!candidates.empty()) {
      absl::flat_hash_set<absl::string_view> wanted;
      wanted.reserve(nat.written.size());
      for (const ChainView& chain : nat.written) wanted.insert(chain.name);
      absl::flat_hash_set<absl::string_view> seen;
      for (absl::string_view name : candidates) {
        if (!wanted.contains(name) && seen.insert(name).second) nat.deleted.push_back(name);
      }
      // Deterministic output regardless of hash-set iteration order.
      std::sort(nat.deleted.begin(), nat.deleted.end());
    }
  } else {
    const IptablesPlan& applied = *options.applied;
    DiffTopLevel(desired.filter_chains, applied.filter_chains, filter);
    DiffTopLevel(desired.nat_chains, applied.nat_chains, nat);
    if (desired.base_id != 0 && desired.base_id == applied.id) {
      // `desired` was derived from `applied`: only the rebuilt fragments can differ. They are
      // sorted, so the output is the same as the walk below would produce.
      for (const ServicePortName& name : desired.rebuilt) {
        auto it_new = desired.fragments.find(name);
        auto it_old = applied.fragments.find(name);
        const ServicePortFragment* new_fragment =
            it_new == desired.fragments.end() ? nullptr : it_new->second.get();
        const ServicePortFragment* old_fragment =
            it_old == applied.fragments.end() ? nullptr : it_old->second.get();
        if (new_fragment != old_fragment) DiffFragment(new_fragment, old_fragment, nat);
      }
    } else {
    // Walk both fragment maps in key order; shared fragments (same pointer) are unchanged.
    auto it_new = desired.fragments.begin();
    auto it_old = applied.fragments.begin();
    while (it_new != desired.fragments.end() || it_old != applied.fragments.end()) {
      if (it_old == applied.fragments.end() ||
          (it_new != desired.fragments.end() && it_new->first < it_old->first)) {
        DiffFragment(it_new->second.get(), nullptr, nat);
        ++it_new;
      } else if (it_new == desired.fragments.end() || it_old->first < it_new->first) {
        DiffFragment(nullptr, it_old->second.get(), nat);
        ++it_old;
      } else {
        if (it_new->second != it_old->second) DiffFragment(it_new->second.get(), it_old->second.get(), nat);
        ++it_new;
        ++it_old;
      }
    }
    }
  }

  RestorePieces result;
  filter.Render("filter", result);
  nat.Render("nat", result);
  result.chains_written = filter.written.size() + nat.written.size();
  result.chains_deleted = filter.deleted.size() + nat.deleted.size();
  return result;
}

size_t RestorePieces::size() const {
  size_t n = 0;
  for (absl::string_view piece : pieces) n += piece.size();
  return n;
}

std::string RestorePieces::Join() const {
  std::string out;
  out.reserve(size());
  for (absl::string_view piece : pieces) out.append(piece.data(), piece.size());
  return out;
}

RenderedRestore RenderRestore(const IptablesPlan& desired, const RenderOptions& options) {
  RestorePieces pieces = RenderRestorePieces(desired, options);
  RenderedRestore result;
  result.input = pieces.Join();
  result.chains_written = pieces.chains_written;
  result.chains_deleted = pieces.chains_deleted;
  return result;
}

}  // namespace kproxy::proxier::iptables
