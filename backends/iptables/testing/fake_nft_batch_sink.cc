#include "backends/iptables/testing/fake_nft_batch_sink.h"

#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"

namespace kproxy::backends::iptables::testing {

void FakeNftBatchSink::CreateTable(absl::string_view table) {
  absl::MutexLock lock(&mutex_);
  tables_[std::string(table)];
}

void FakeNftBatchSink::FailNextApply(absl::Status status) {
  absl::MutexLock lock(&mutex_);
  next_failure_ = std::move(status);
}

int FakeNftBatchSink::apply_count() const {
  absl::MutexLock lock(&mutex_);
  return apply_count_;
}

int FakeNftBatchSink::committed_count() const {
  absl::MutexLock lock(&mutex_);
  return committed_count_;
}

std::map<std::string, size_t> FakeNftBatchSink::Chains(absl::string_view table) const {
  absl::MutexLock lock(&mutex_);
  std::map<std::string, size_t> out;
  auto it = tables_.find(std::string(table));
  if (it == tables_.end()) return out;
  for (const auto& [chain, rules] : it->second) out[chain] = rules.size();
  return out;
}

absl::Status FakeNftBatchSink::Apply(absl::Span<const absl::string_view> pieces) {
  absl::MutexLock lock(&mutex_);
  ++apply_count_;
  absl::StatusOr<NftTranslation> translation = translator_.Translate(pieces);
  if (!translation.ok()) return translation.status();
  for (const std::string& table : translation->tables) {
    if (!tables_.contains(table))
      return absl::FailedPreconditionError(absl::StrCat("table ", table, " does not exist"));
  }
  if (!next_failure_.ok()) return std::exchange(next_failure_, absl::OkStatus());
  Tables next = tables_;  // the transaction: committed only when every operation succeeded
  for (const NftOperation& operation : translation->operations) {
    auto& chains = next[operation.table];
    auto fail = [&](absl::string_view what) {
      return absl::InternalError(
          absl::StrCat("fake nf_tables: input line ", operation.line, ": ", what));
    };
    if (const auto* add = std::get_if<NftAddOrFlushChain>(&operation.kind)) {
      chains[add->chain].clear();
    } else if (const auto* remove = std::get_if<NftDeleteChain>(&operation.kind)) {
      if (!chains.contains(remove->chain)) return fail("ENOENT: no chain " + remove->chain);
      for (const auto& [chain, rules] : chains) {
        for (const NftAppendRule& rule : rules) {
          for (const NftExpression& expression : rule.expressions) {
            const auto* verdict = std::get_if<NftVerdict>(&expression);
            if (verdict != nullptr && verdict->chain == remove->chain)
              return fail("EBUSY: chain is referenced");
          }
        }
      }
      chains.erase(remove->chain);
    } else if (const auto* append = std::get_if<NftAppendRule>(&operation.kind)) {
      auto it = chains.find(append->chain);
      if (it == chains.end()) return fail("ENOENT: no chain " + append->chain);
      for (const NftExpression& expression : append->expressions) {
        const auto* verdict = std::get_if<NftVerdict>(&expression);
        if (verdict != nullptr && !verdict->chain.empty() && !chains.contains(verdict->chain)) {
          return fail("ENOENT: no chain " + verdict->chain);
        }
      }
      it->second.push_back(*append);
    }
  }
  tables_ = std::move(next);
  ++committed_count_;
  return absl::OkStatus();
}

}  // namespace kproxy::backends::iptables::testing
