// FakeNftablesWriter: an in-memory NftablesWriter with the kernel's error semantics (ENOENT for
// what is missing, EBUSY for a non-empty chain or a referenced one, EEXIST for an element whose
// value differs), all or nothing per transaction; rules are translated as the real writer does,
// so text outside the grammar fails the same way. Counts operations by kind, so a test can assert
// that a sync changed only elements.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "backends/nftables/nftables_writer.h"

namespace kproxy::backends::nftables::testing {

class FakeNftablesWriter final : public NftablesWriter {
 public:
  struct Table {
    std::map<std::string, std::vector<std::string>> chains;  // rules as statements
    std::map<std::string, NftSetSpec> sets;
    std::map<std::string, std::map<std::string, NftElementSpec>> elements;  // by set, then key
    friend bool operator==(const Table&, const Table&) = default;
  };
  // Operations applied by successful transactions, by kind.
  struct Counts {
    size_t transactions = 0;
    size_t add_table = 0, delete_table = 0;
    size_t add_chain = 0, flush_chain = 0, delete_chain = 0, add_rule = 0;
    size_t add_set = 0, delete_set = 0, flush_set = 0;
    size_t add_elements = 0, delete_elements = 0;  // elements, not messages
  };

  absl::Status Apply(const NftTransaction& transaction) override;
  absl::StatusOr<NftTableContents> Read(proxier::IpFamily family, const std::string& table) override;

  // The next Apply fails with `status` and changes nothing.
  void FailNextApply(absl::Status status) { fail_next_ = std::move(status); }
  const Counts& counts() const { return counts_; }
  void ResetCounts() { counts_ = Counts(); }
  // Null when the table does not exist.
  const Table* table(proxier::IpFamily family, const std::string& name = "kube-proxy") const;
  Table* mutable_table(proxier::IpFamily family, const std::string& name = "kube-proxy");

 private:
  std::map<std::pair<proxier::IpFamily, std::string>, Table> tables_;
  absl::Status fail_next_;
  Counts counts_;
};

}  // namespace kproxy::backends::nftables::testing
