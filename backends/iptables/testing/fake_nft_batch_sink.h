// FakeNftBatchSink: an in-memory NftBatchSink with IptablesNftWriter's semantics — the real
// translator decides what is Unimplemented, a table must exist (FailedPrecondition otherwise), and
// the transaction is all or nothing with the kernel's errors (jump to or -X of a missing chain,
// rule into a missing chain, deleting a referenced chain) — for unit tests. Counts calls.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "backends/iptables/nft_batch_sink.h"
#include "backends/iptables/nft_rule_translator.h"

namespace kproxy::backends::iptables::testing {

class FakeNftBatchSink final : public NftBatchSink {
 public:
  explicit FakeNftBatchSink(proxier::IpFamily family = proxier::IpFamily::kIPv4)
      : translator_(family) {}

  absl::Status Apply(absl::Span<const absl::string_view> pieces) override;

  // --- test controls and observations ---
  // Makes `table` exist (as iptables-nft would create it), with no chains.
  void CreateTable(absl::string_view table);
  // The next Apply that gets past translation and the table check fails with `status`.
  void FailNextApply(absl::Status status);
  // Calls of Apply, and those that changed the tables.
  int apply_count() const;
  int committed_count() const;
  // The chains of `table` and how many rules each has.
  std::map<std::string, size_t> Chains(absl::string_view table) const;

 private:
  using Tables = std::map<std::string, std::map<std::string, std::vector<NftAppendRule>>>;
  const NftRuleTranslator translator_;
  mutable absl::Mutex mutex_;
  Tables tables_ ABSL_GUARDED_BY(mutex_);
  absl::Status next_failure_ ABSL_GUARDED_BY(mutex_);
  int apply_count_ ABSL_GUARDED_BY(mutex_) = 0;
  int committed_count_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace kproxy::backends::iptables::testing
