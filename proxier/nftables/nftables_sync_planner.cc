#include "proxier/nftables/nftables_sync_planner.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace kproxy::proxier::nftables {

struct NftablesSyncPlanner::Owned {
  ServicePortName name;  // empty for the table-wide fragment, which sorts first
  NftFragment fragment;
};

namespace {

const NftFragment kEmptyFragment;

std::string OwnerKey(const std::string& set, const NftElement& element) {
  return absl::StrCat(set, "\x1f", ElementKeyText(element));
}

bool NodeEquals(const NodeContext& a, const NodeContext& b) {
  return a.node_name == b.node_name && a.family == b.family && a.node_ips == b.node_ips &&
         a.zone == b.zone && a.labels == b.labels && a.pod_cidrs == b.pod_cidrs;
}

// The first element per key of `set` in `fragment`, in order.
std::vector<const NftElement*> OwnElements(const NftFragment& fragment, const std::string& set) {
  std::vector<const NftElement*> out;
  absl::flat_hash_set<std::string> seen;
  for (const auto& [name, element] : fragment.elements) {
    if (name == set && seen.insert(ElementKeyText(element)).second) out.push_back(&element);
  }
  return out;
}

const NftSet* FindSet(const NftFragment& fragment, const std::string& name) {
  for (const NftSet& set : fragment.sets) {
    if (set.name == name) return &set;
  }
  return nullptr;
}

}  // namespace

// Accumulates one Sync's change; shared-set elements are compared before/after at the end.
class NftablesSyncPlanner::ChangeBuilder {
 public:
  explicit ChangeBuilder(NftChange& change) : change_(change) {}

  NftChange& change() { return change_; }
  absl::flat_hash_set<std::string>& stale() { return stale_; }
  std::vector<std::string>& flushed() { return flushed_; }
  // Remembers the kernel's element for `owner_key` before this Sync touched it (null: none). The
  // element stays alive until the end of the Sync (replaced fragments are retired, not freed).
  void Touch(const std::string& owner_key, const std::string& set, const NftElement* current) {
    touched_.try_emplace(owner_key, set, current);
  }
  const absl::flat_hash_map<std::string, std::pair<std::string, const NftElement*>>& touched()
      const {
    return touched_;
  }
  void Retire(std::unique_ptr<Owned> fragment) {
    if (fragment) retired_.push_back(std::move(fragment));
  }
  void Recreated(const std::string& set) { recreated_shared_.insert(set); }
  const absl::flat_hash_set<std::string>& recreated_shared() const { return recreated_shared_; }

 private:
  NftChange& change_;
  absl::flat_hash_set<std::string> stale_;  // chains stale before this Sync, not re-added so far
  std::vector<std::string> flushed_;        // chains this Sync flushes
  absl::flat_hash_map<std::string, std::pair<std::string, const NftElement*>> touched_;
  std::vector<std::unique_ptr<Owned>> retired_;        // replaced fragments, alive until the end
  absl::flat_hash_set<std::string> recreated_shared_;  // table-wide sets recreated
};

NftablesSyncPlanner::NftablesSyncPlanner(IpFamily family, NftablesPlannerOptions options)
    : family_(family), options_(std::move(options)) {}

NftablesSyncPlanner::~NftablesSyncPlanner() = default;

void NftablesSyncPlanner::Reset() {
  table_exists_ = false;
  table_wide_.reset();
  service_ports_.clear();
  owners_.clear();
  stale_chains_.clear();
}

void NftablesSyncPlanner::Replace(std::unique_ptr<Owned>& slot, std::unique_ptr<Owned> next,
                                  ChangeBuilder& builder) {
  NftChange& change = builder.change();
  const NftFragment& before = slot ? slot->fragment : kEmptyFragment;
  const NftFragment& after = next ? next->fragment : kEmptyFragment;

  // Sets the fragment owns.
  absl::flat_hash_set<std::string> added_sets;  // new or recreated: every element is added
  absl::flat_hash_set<std::string> recreated;
  for (const NftSet& set : after.sets) {
    const NftSet* old = FindSet(before, set.name);
    if (old == nullptr) {
      change.sets_to_add.push_back(set);
      added_sets.insert(set.name);
    } else if (!(*old == set)) {
      change.sets_to_delete.push_back(set.name);
      change.sets_to_add.push_back(set);
      added_sets.insert(set.name);
      recreated.insert(set.name);
    }
  }
  for (const NftSet& set : before.sets) {
    if (FindSet(after, set.name) == nullptr) change.sets_to_delete.push_back(set.name);
  }

  // Chains the fragment owns (names are unique to it).
  auto find_chain = [](const NftFragment& fragment, const std::string& name) -> const NftChain* {
    auto it = std::lower_bound(fragment.chains.begin(), fragment.chains.end(), name,
                               [](const NftChain& c, const std::string& n) { return c.name < n; });
    return it != fragment.chains.end() && it->name == name ? &*it : nullptr;
  };
  auto refers_to_recreated = [&](const NftChain& chain) {
    for (const NftRule& rule : chain.rules) {
      for (const std::string& set : recreated) {
        if (StatementRefersToSet(rule.statement, set)) return true;
      }
    }
    // A table-wide set recreated by this Sync's table-wide fragment.
    for (const NftRule& rule : chain.rules) {
      for (const std::string& set : builder.recreated_shared()) {
        if (StatementRefersToSet(rule.statement, set)) return true;
      }
    }
    return false;
  };
  for (const NftChain& chain : after.chains) {
    const NftChain* old = find_chain(before, chain.name);
    if (old == nullptr) {
      if (builder.stale().erase(chain.name) > 0) {
        change.chains_to_refill.push_back(chain);  // exists, flushed by the previous Sync
      } else {
        change.chains_to_add.push_back(chain);
      }
    } else if (!(*old == chain) || refers_to_recreated(*old)) {
      change.chains_to_refill.push_back(chain);
    }
  }
  for (const NftChain& chain : before.chains) {
    if (find_chain(after, chain.name) == nullptr) {
      change.chains_to_flush.push_back(chain.name);
      builder.flushed().push_back(chain.name);
    }
  }

  // Elements of the fragment's own sets: straight from before to after.
  for (const NftSet& set : after.sets) {
    const std::vector<const NftElement*> now = OwnElements(after, set.name);
    if (added_sets.contains(set.name)) {
      for (const NftElement* element : now) change.elements_to_add[set.name].push_back(*element);
      continue;
    }
    const std::vector<const NftElement*> was = OwnElements(before, set.name);
    absl::flat_hash_map<std::string, const NftElement*> was_by_key;
    for (const NftElement* element : was) was_by_key.emplace(ElementKeyText(*element), element);
    for (const NftElement* element : now) {
      auto it = was_by_key.find(ElementKeyText(*element));
      if (it == was_by_key.end()) {
        change.elements_to_add[set.name].push_back(*element);
        continue;
      }
      if (!(*it->second == *element)) {
        change.elements_to_delete[set.name].push_back(*it->second);
        change.elements_to_add[set.name].push_back(*element);
      }
      was_by_key.erase(it);
    }
    for (const NftElement* element : was) {
      if (was_by_key.contains(ElementKeyText(*element))) {
        change.elements_to_delete[set.name].push_back(*element);
      }
    }
    // A dynamic map whose endpoints left is emptied (see NftSet::flush_when_values_leave).
    if (set.timeout && !set.flush_when_values_leave.empty()) {
      absl::flat_hash_set<std::string> values;
      for (const NftElement* element : OwnElements(after, set.flush_when_values_leave)) {
        values.insert(absl::StrJoin(element->value, " . "));
      }
      for (const NftElement* element : OwnElements(before, set.flush_when_values_leave)) {
        if (!values.contains(absl::StrJoin(element->value, " . "))) {
          change.sets_to_flush.push_back(set.name);
          break;
        }
      }
    }
  }

  // Elements of table-wide sets: leave the previous owner, join as the next one.
  auto is_own = [](const NftFragment& fragment, const std::string& set) {
    return FindSet(fragment, set) != nullptr;
  };
  const Owned* old_owner = slot.get();
  for (const auto& [set, element] : before.elements) {
    if (is_own(before, set)) continue;
    const std::string key = OwnerKey(set, element);
    auto it = owners_.find(key);
    if (it == owners_.end()) continue;
    auto& list = it->second;
    builder.Touch(key, set, list.empty() ? nullptr : list.front().second);
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const auto& entry) { return entry.first == old_owner; }),
               list.end());
  }
  builder.Retire(std::move(slot));
  slot = std::move(next);
  if (slot) {
    const Owned* owner = slot.get();
    for (const auto& [set, element] : slot->fragment.elements) {
      if (is_own(slot->fragment, set)) continue;
      const std::string key = OwnerKey(set, element);
      auto& list = owners_[key];
      builder.Touch(key, set, list.empty() ? nullptr : list.front().second);
      bool present = false;
      for (const auto& entry : list) present = present || entry.first == owner;
      if (present) continue;  // a repeated key in one fragment: the first counts
      auto at = std::find_if(list.begin(), list.end(),
                             [&](const auto& entry) { return owner->name < entry.first->name; });
      list.insert(at, {owner, &element});
    }
  }
}

NftChange NftablesSyncPlanner::Sync(const ProxySnapshot& snapshot, const NodeContext& node,
                                    const ChangedServices* changed) {
  NftChange change;
  change.family = family_ == IpFamily::kIPv4 ? NftFamily::kIp : NftFamily::kIp6;
  change.create_table = !table_exists_;
  ChangeBuilder builder(change);
  builder.stale().insert(stale_chains_.begin(), stale_chains_.end());

  bool full = changed == nullptr || !table_exists_;
  if (!planner_ || !node_ || !NodeEquals(*node_, node)) {
    node_ = node;
    planner_ = std::make_unique<NftFragmentPlanner>(family_, node, options_);
    full = true;
  }

  auto table_wide = std::make_unique<Owned>();
  table_wide->fragment = planner_->TableWide();
  if (!table_wide_ || !(table_wide_->fragment == table_wide->fragment)) {
    for (const NftSet& set : table_wide->fragment.sets) {
      const NftSet* old = table_wide_ ? FindSet(table_wide_->fragment, set.name) : nullptr;
      if (old != nullptr && !(*old == set)) builder.Recreated(set.name);
    }
    Replace(table_wide_, std::move(table_wide), builder);
  }

  auto replan = [&](const ServicePortName& name) {
    auto service = snapshot.services.find(name);
    std::unique_ptr<Owned> next;
    if (service != snapshot.services.end()) {
      next = std::make_unique<Owned>();
      next->name = name;
      next->fragment = planner_->ForServicePort(*service->second, snapshot.EndpointsOf(name));
    }
    auto slot = service_ports_.find(name);
    if (slot == service_ports_.end()) {
      if (!next) return;
      std::unique_ptr<Owned> empty;
      Replace(empty, std::move(next), builder);
      service_ports_.emplace(name, std::move(empty));
      return;
    }
    if (next && slot->second->fragment == next->fragment) return;
    Replace(slot->second, std::move(next), builder);
    if (!slot->second) service_ports_.erase(slot);
  };

  if (full) {
    std::vector<ServicePortName> names;
    names.reserve(service_ports_.size() + snapshot.services.size());
    for (const auto& [name, owned] : service_ports_) names.push_back(name);
    for (const auto& [name, service] : snapshot.services) names.push_back(name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const ServicePortName& name : names) replan(name);
  } else {
    std::vector<ServiceName> services(changed->begin(), changed->end());
    std::sort(services.begin(), services.end());
    for (const ServiceName& service : services) {
      // Ports sort by Service first: each Service's ports are one range in both maps.
      const ServicePortName first{service, "", Protocol::kTCP};
      std::vector<ServicePortName> names;
      for (auto it = service_ports_.lower_bound(first);
           it != service_ports_.end() && it->first.service == service; ++it) {
        names.push_back(it->first);
      }
      for (auto it = snapshot.services.lower_bound(first);
           it != snapshot.services.end() && it->first.service == service; ++it) {
        names.push_back(it->first);
      }
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      for (const ServicePortName& name : names) replan(name);
    }
  }

  // Elements of table-wide sets: what the kernel held before against what it holds now.
  for (const auto& [key, touched] : builder.touched()) {
    const auto& [set, before] = touched;
    auto it = owners_.find(key);
    const NftElement* after =
        it == owners_.end() || it->second.empty() ? nullptr : it->second.front().second;
    if (builder.recreated_shared().contains(set)) continue;  // re-added below
    if (before == nullptr && after != nullptr) {
      change.elements_to_add[set].push_back(*after);
    } else if (before != nullptr && after == nullptr) {
      change.elements_to_delete[set].push_back(*before);
    } else if (before != nullptr && after != nullptr && !(*before == *after)) {
      change.elements_to_delete[set].push_back(*before);
      change.elements_to_add[set].push_back(*after);
    }
    if (it != owners_.end() && it->second.empty()) owners_.erase(it);
  }
  if (!builder.recreated_shared().empty()) {
    for (const auto& [key, list] : owners_) {
      const std::string set = key.substr(0, key.find('\x1f'));
      if (builder.recreated_shared().contains(set) && !list.empty()) {
        change.elements_to_add[set].push_back(*list.front().second);
      }
    }
  }

  // Chains flushed by the previous Sync and not wanted again are deleted now.
  change.chains_to_delete.assign(builder.stale().begin(), builder.stale().end());
  std::sort(change.chains_to_delete.begin(), change.chains_to_delete.end());
  stale_chains_ = std::move(builder.flushed());
  table_exists_ = true;
  return change;
}

NftRuleset NftablesSyncPlanner::Ruleset() const {
  std::vector<const NftFragment*> fragments;
  fragments.reserve(service_ports_.size() + 1);
  if (table_wide_) fragments.push_back(&table_wide_->fragment);
  for (const auto& [name, owned] : service_ports_) fragments.push_back(&owned->fragment);
  NftRuleset ruleset = AssembleRuleset(family_, fragments);
  ruleset.stale_chains = stale_chains_;
  return ruleset;
}

}  // namespace kproxy::proxier::nftables
