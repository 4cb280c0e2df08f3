#include "proxier/nftables/nft_ruleset_diff.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "proxier/nftables/nft_fragment.h"
#include "proxier/nftables/nft_script_renderer.h"

namespace kproxy::proxier::nftables {
namespace {

const std::vector<NftElement>& ElementsOf(const NftRuleset& ruleset, const std::string& set) {
  static const std::vector<NftElement> kNone;
  auto it = ruleset.elements.find(set);
  return it == ruleset.elements.end() ? kNone : it->second;
}

// Element changes of one set present (with the same declaration) on both sides.
void DiffElements(const std::string& set, const std::vector<NftElement>& previous,
                  const std::vector<NftElement>& desired, NftChange& change) {
  if (previous.empty() && desired.empty()) return;
  absl::flat_hash_map<std::string, const NftElement*> previous_by_key;
  previous_by_key.reserve(previous.size());
  for (const NftElement& element : previous)
    previous_by_key.emplace(ElementKeyText(element), &element);
  std::vector<NftElement> to_add;
  std::vector<NftElement> to_delete;
  for (const NftElement& element : desired) {
    auto it = previous_by_key.find(ElementKeyText(element));
    if (it == previous_by_key.end()) {
      to_add.push_back(element);
      continue;
    }
    if (!(*it->second == element)) {
      to_delete.push_back(*it->second);
      to_add.push_back(element);
    }
    previous_by_key.erase(it);
  }
  // What is left was not desired; keep the previous ruleset's order.
  if (!previous_by_key.empty()) {
    for (const NftElement& element : previous) {
      if (previous_by_key.contains(ElementKeyText(element))) to_delete.push_back(element);
    }
  }
  if (!to_delete.empty()) change.elements_to_delete[set] = std::move(to_delete);
  if (!to_add.empty()) change.elements_to_add[set] = std::move(to_add);
}

// Some value of `map` in `previous` is no value of it in `desired` (an endpoint left).
bool ValuesLeft(const NftRuleset& previous, const NftRuleset& desired, const std::string& map) {
  absl::flat_hash_set<std::string> desired_values;
  for (const NftElement& element : ElementsOf(desired, map)) {
    desired_values.insert(absl::StrJoin(element.value, " . "));
  }
  for (const NftElement& element : ElementsOf(previous, map)) {
    if (!desired_values.contains(absl::StrJoin(element.value, " . "))) return true;
  }
  return false;
}

}  // namespace

NftChange DiffNftRulesets(const NftRuleset& previous, const NftRuleset& desired) {
  NftChange change;
  change.family = desired.family;
  change.create_table =
      previous.chains.empty() && previous.sets.empty() && previous.stale_chains.empty();

  // Sets: new, recreated (declaration changed) or gone; elements of the ones that stay.
  absl::flat_hash_set<std::string> recreated;
  for (const NftSet& set : desired.sets) {
    const NftSet* before = previous.FindSet(set.name);
    if (before == nullptr) {
      change.sets_to_add.push_back(set);
      const auto& elements = ElementsOf(desired, set.name);
      if (!elements.empty()) change.elements_to_add[set.name] = elements;
      continue;
    }
    if (!(*before == set)) {
      recreated.insert(set.name);
      change.sets_to_delete.push_back(set.name);
      change.sets_to_add.push_back(set);
      const auto& elements = ElementsOf(desired, set.name);
      if (!elements.empty()) change.elements_to_add[set.name] = elements;
      continue;
    }
    DiffElements(set.name, ElementsOf(previous, set.name), ElementsOf(desired, set.name), change);
    if (set.timeout && !set.flush_when_values_leave.empty() &&
        ValuesLeft(previous, desired, set.flush_when_values_leave)) {
      change.sets_to_flush.push_back(set.name);
    }
  }
  for (const NftSet& set : previous.sets) {
    if (desired.FindSet(set.name) == nullptr) change.sets_to_delete.push_back(set.name);
  }

  // Chains: new, changed (or referring to a recreated set), gone, and gone since last time.
  absl::flat_hash_set<absl::string_view> stale(previous.stale_chains.begin(),
                                               previous.stale_chains.end());
  auto refers_to_recreated = [&](const NftChain& chain) {
    if (recreated.empty()) return false;
    for (const NftRule& rule : chain.rules) {
      for (const std::string& set : recreated) {
        if (StatementRefersToSet(rule.statement, set)) return true;
      }
    }
    return false;
  };
  for (const NftChain& chain : desired.chains) {
    const NftChain* before = previous.FindChain(chain.name);
    if (before == nullptr) {
      if (stale.contains(chain.name)) {
        change.chains_to_refill.push_back(chain);  // exists, empty
      } else {
        change.chains_to_add.push_back(chain);
      }
    } else if (!(*before == chain) || refers_to_recreated(*before)) {
      change.chains_to_refill.push_back(chain);
    }
  }
  for (const NftChain& chain : previous.chains) {
    if (desired.FindChain(chain.name) == nullptr) change.chains_to_flush.push_back(chain.name);
  }
  for (const std::string& name : previous.stale_chains) {
    if (desired.FindChain(name) == nullptr) change.chains_to_delete.push_back(name);
  }
  return change;
}

NftRuleset AppliedRuleset(NftRuleset desired, const NftChange& change) {
  desired.stale_chains = change.chains_to_flush;
  return desired;
}

std::string RenderNftChange(const NftChange& change) {
  const std::string table = absl::StrCat(FamilyName(change.family), " ", kTableName);
  auto set_kind = [](const NftSet& set) { return set.value_types.empty() ? "set" : "map"; };
  std::string out;
  if (change.create_table) {
    absl::StrAppend(&out, "add table ", table, " { comment \"rules for kube-proxy\" ; }\n");
  }
  for (const NftChain& chain : change.chains_to_refill) {
    absl::StrAppend(&out, "flush chain ", table, " ", chain.name, "\n");
  }
  for (const std::string& name : change.chains_to_flush) {
    absl::StrAppend(&out, "flush chain ", table, " ", name, "\n");
  }
  for (const std::string& name : change.sets_to_delete) {
    // `delete set` removes maps too.
    absl::StrAppend(&out, "delete set ", table, " ", name, "\n");
  }
  for (const NftSet& set : change.sets_to_add) {
    absl::StrAppend(&out, "add ", set_kind(set), " ", table, " ", set.name, " { ",
                    RenderSetDeclaration(set), " }\n");
  }
  for (const NftChain& chain : change.chains_to_add) {
    absl::StrAppend(&out, "add chain ", table, " ", chain.name);
    if (chain.base || !chain.comment.empty()) {
      out += " {";
      if (chain.base) {
        absl::StrAppend(&out, " type ", chain.base->type, " hook ", chain.base->hook, " priority ",
                        chain.base->priority, " ; policy accept ;");
      }
      if (!chain.comment.empty()) absl::StrAppend(&out, " comment \"", chain.comment, "\" ;");
      out += " }";
    }
    out += "\n";
  }
  for (const auto& [set, elements] : change.elements_to_delete) {
    // Deleting by key: values and comments are not part of an element's identity.
    std::vector<std::string> keys;
    for (const NftElement& element : elements) keys.push_back(ElementKeyText(element));
    absl::StrAppend(&out, "delete element ", table, " ", set, " { ", absl::StrJoin(keys, ", "),
                    " }\n");
  }
  for (const std::string& set : change.sets_to_flush) {
    // The planner's dynamic sets are all maps (client -> endpoint).
    absl::StrAppend(&out, "flush map ", table, " ", set, "\n");
  }
  for (const auto& [set, elements] : change.elements_to_add) {
    std::vector<std::string> rendered;
    for (const NftElement& element : elements) rendered.push_back(RenderElement(element));
    absl::StrAppend(&out, "add element ", table, " ", set, " { ", absl::StrJoin(rendered, ", "),
                    " }\n");
  }
  for (const auto* chains : {&change.chains_to_refill, &change.chains_to_add}) {
    for (const NftChain& chain : *chains) {
      for (const NftRule& rule : chain.rules) {
        absl::StrAppend(&out, "add rule ", table, " ", chain.name, " ", RenderRule(rule), "\n");
      }
    }
  }
  for (const std::string& name : change.chains_to_delete) {
    absl::StrAppend(&out, "delete chain ", table, " ", name, "\n");
  }
  return out;
}

}  // namespace kproxy::proxier::nftables
