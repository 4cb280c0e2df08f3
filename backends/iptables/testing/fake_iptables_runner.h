// FakeIptablesRunner: an in-memory IptablesRunner with iptables-restore --noflush semantics and the
// kernel's errors (unknown chain, deleting a non-empty or referenced chain), for unit tests.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "backends/iptables/iptables_runner.h"

namespace kproxy::backends::iptables::testing {

class FakeIptablesRunner final : public IptablesRunner {
 public:
  explicit FakeIptablesRunner(proxier::IpFamily family = proxier::IpFamily::kIPv4);

  proxier::IpFamily family() const override { return family_; }
  // Applies `input` table by table; a bad line fails the restore naming the line ("line N: ...")
  // and leaves the table being restored unchanged (tables COMMITted before it stay applied).
  absl::Status Restore(absl::string_view input) override;
  absl::StatusOr<absl::flat_hash_set<std::string>> ListChains(Table table) override;
  absl::Status EnsureRule(Table table, absl::string_view chain, const std::vector<std::string>& rule) override;
  absl::Status EnsureChain(Table table, absl::string_view chain) override;
  absl::StatusOr<bool> ChainExists(Table table, absl::string_view chain) override;
  absl::StatusOr<std::string> SaveTable(Table table) override;

  // --- test controls and observations ---
  // The next Restore fails with `status` and changes nothing.
  void FailNextRestore(absl::Status status = absl::InternalError("injected restore failure"));
  // Removes `chain` and every rule jumping to it, as a firewalld reload or `iptables -F; -X` would
  // (the canary disappearing).
  void DropChain(Table table, absl::string_view chain);
  // Removes every user chain of `table` and empties the built-in ones.
  void FlushTable(Table table);
  int restore_count() const;
  std::string last_restore_input() const;
  // Rules of `chain` as "args..." after "-A CHAIN" (single-space separated, quoted when needed);
  // nullopt when the chain does not exist.
  std::optional<std::vector<std::string>> Rules(Table table, absl::string_view chain) const;
  // Chains of `table` in creation order (built-in first).
  std::vector<std::string> Chains(Table table) const;

  struct Chain {
    std::string name;
    bool builtin = false;
    std::vector<std::vector<std::string>> rules;  // arguments after "-A CHAIN"
  };
  struct TableState {
    std::vector<Chain> chains;
    Chain* Find(absl::string_view name);
    const Chain* Find(absl::string_view name) const;
  };

 private:
  // Applies one table's lines to `state`; on error returns it and `state` is to be discarded.
  absl::Status ApplyLine(TableState& state, absl::string_view line) const;
  TableState* StateOf(absl::string_view table) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const proxier::IpFamily family_;
  mutable absl::Mutex mu_;
  std::map<std::string, TableState> tables_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> fail_next_ ABSL_GUARDED_BY(mu_);
  int restore_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_input_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::backends::iptables::testing
