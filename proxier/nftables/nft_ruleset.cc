#include "proxier/nftables/nft_ruleset.h"

#include <algorithm>

namespace kproxy::proxier::nftables {
namespace {

template <typename T>
const T* FindByName(const std::vector<T>& sorted, const std::string& name) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), name,
                             [](const T& item, const std::string& n) { return item.name < n; });
  return it != sorted.end() && it->name == name ? &*it : nullptr;
}

}  // namespace

const NftChain* NftRuleset::FindChain(const std::string& name) const {
  return FindByName(chains, name);
}

const NftSet* NftRuleset::FindSet(const std::string& name) const { return FindByName(sets, name); }

}  // namespace kproxy::proxier::nftables
