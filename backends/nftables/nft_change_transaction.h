// Turns the planner's NftChange (proxier/nftables) into the writer's NftTransaction, in the
// application order NftChange documents, and the planner's set declarations into the writer's.
#pragma once

#include "absl/status/statusor.h"
#include "backends/nftables/nft_transaction.h"
#include "proxier/nftables/nft_ruleset.h"

namespace kproxy::backends::nftables {

// The writer's view of a planner set: `typeof` declarations become the types they stand for
// ("numgen random mod N" -> integer, "ip daddr" -> ipv4_addr, "th dport" -> inet_service).
absl::StatusOr<NftSetSpec> SetSpecOf(const proxier::nftables::NftSet& set);

// One transaction applying `change`; `desired` is the ruleset the change leads to (its sets are
// declared to the translator, so rules can refer to any of them).
absl::StatusOr<NftTransaction> TransactionForChange(const proxier::nftables::NftChange& change,
                                                    const proxier::nftables::NftRuleset& desired);

}  // namespace kproxy::backends::nftables
