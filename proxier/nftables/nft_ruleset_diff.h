// DiffNftRulesets: what one sync must send to move the kube-proxy table from the ruleset applied
// last to the desired one (chains added / refilled / flushed / deleted, sets added / deleted,
// elements added / deleted / replaced). Pure.
#pragma once

#include "proxier/nftables/nft_ruleset.h"

namespace kproxy::proxier::nftables {

// `previous` is the ruleset the kernel holds (an empty NftRuleset before the first sync: then the
// change creates everything). Chains no longer wanted are flushed and listed as stale; chains in
// previous.stale_chains still unwanted are deleted. Both rulesets must be of one family.
NftChange DiffNftRulesets(const NftRuleset& previous, const NftRuleset& desired);

// The ruleset the kernel holds once `change` (computed from some previous ruleset to `desired`)
// was applied: `desired` plus the chains the change flushed, kept as stale until the next diff.
NftRuleset AppliedRuleset(NftRuleset desired, const NftChange& change);

// `nft -f` text for the change (for --dry-run of a partial sync and for tests): add/delete/flush
// commands in the application order of NftChange.
std::string RenderNftChange(const NftChange& change);

}  // namespace kproxy::proxier::nftables
