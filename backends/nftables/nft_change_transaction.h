// Turns the planner's NftChange (proxier/nftables) into the writer's NftTransaction, in the
// application order NftChange documents, and the planner's set declarations into the writer's.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "backends/nftables/nft_transaction.h"
#include "proxier/nftables/nft_ruleset.h"

namespace kproxy::backends::nftables {

// The writer's view of a planner set: `typeof` declarations become the types they stand for
// ("numgen random mod N" -> integer, "ip daddr" -> ipv4_addr, "th dport" -> inet_service).
absl::StatusOr<NftSetSpec> SetSpecOf(const proxier::nftables::NftSet& set);

// One transaction applying `change`. `known_sets` holds the declarations of the sets already in
// the kernel (by name) and receives the change's: the transaction declares to the translator only
// the sets its rules and elements name, so its cost follows the change, not the table.
absl::StatusOr<NftTransaction> TransactionForChange(const proxier::nftables::NftChange& change,
                                                    std::map<std::string, NftSetSpec>& known_sets);

}  // namespace kproxy::backends::nftables
