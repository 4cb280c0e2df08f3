// NftablesWriter: applies the nftables mode's transactions to nf_tables, each atomically, and
// reads back which chains and sets the mode's table holds (a restart reuses the table, as
// upstream, and a full sync removes what it no longer wants).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backends/nftables/nft_transaction.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::nftables {

// What a table holds, by name (sorted).
struct NftTableContents {
  bool exists = false;
  std::vector<std::string> chains;
  std::vector<std::string> sets;  // sets and maps
  friend bool operator==(const NftTableContents&, const NftTableContents&) = default;
};

class NftablesWriter {
 public:
  virtual ~NftablesWriter() = default;
  // Applies every operation of `transaction` as one nf_tables transaction: all or nothing.
  // - Unimplemented / InvalidArgument: a rule or element is outside the translator's grammar or
  //   does not parse; nothing was sent.
  // - any other error: the kernel refused the transaction, so nothing changed; the message names
  //   the first refused operation (e.g. "NEWRULE ip kube-proxy services \"...\": ENOENT").
  // Adding what exists (table, chain, set, an element with the same value) is not an error;
  // deleting or flushing what does not exist is (ENOENT), as with `nft -f`.
  virtual absl::Status Apply(const NftTransaction& transaction) = 0;
  // The chains and sets of `table` in `family`; exists=false when there is no such table.
  virtual absl::StatusOr<NftTableContents> Read(proxier::IpFamily family,
                                                const std::string& table) = 0;
};

}  // namespace kproxy::backends::nftables
