// IptablesRunner: the kernel side of iptables mode for one IP family — iptables-restore of rendered
// rules, reading which chains exist, and the jump rules from built-in chains.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::iptables {

enum class Table { kFilter, kNat, kMangle };
absl::string_view TableName(Table table);

class IptablesRunner {
 public:
  virtual ~IptablesRunner() = default;
  virtual proxier::IpFamily family() const = 0;
  // Feeds `input` (iptables-restore format, one or more tables, each ending in COMMIT) to
  // `iptables-restore --noflush` under the xtables lock. Atomic per table: on error nothing of that
  // table changed. The error names the failing line when the tool reports it.
  virtual absl::Status Restore(absl::string_view input) = 0;
  // The same input given as consecutive pieces (never joined by runners that stream to the tool).
  virtual absl::Status RestoreFromPieces(absl::Span<const absl::string_view> pieces) {
    return Restore(absl::StrJoin(pieces, ""));
  }
  // Names of the chains of `table` that exist now (built-in ones included).
  virtual absl::StatusOr<absl::flat_hash_set<std::string>> ListChains(Table table) = 0;
  // Makes sure `rule` (e.g. "-m comment --comment ... -j KUBE-SERVICES") is in `chain`, inserting it
  // at the top when missing (iptables -C, then -I). Idempotent.
  virtual absl::Status EnsureRule(Table table, absl::string_view chain,
                                  const std::vector<std::string>& rule) = 0;
  // Creates `chain` if missing. Idempotent.
  virtual absl::Status EnsureChain(Table table, absl::string_view chain) = 0;
  // Whether `chain` exists in `table` (canary check).
  virtual absl::StatusOr<bool> ChainExists(Table table, absl::string_view chain) = 0;
  // The table in iptables-save format (what --cleanup reads the jump rules from). Default:
  // Unimplemented, so implementers that never clean up need not provide it.
  virtual absl::StatusOr<std::string> SaveTable(Table table) {
    return absl::UnimplementedError("SaveTable not supported by this IptablesRunner");
  }
};

}  // namespace kproxy::backends::iptables
