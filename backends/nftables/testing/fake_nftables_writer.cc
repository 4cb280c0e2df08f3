#include "backends/nftables/testing/fake_nftables_writer.h"

#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backends/nftables/nft_statement_translator.h"

namespace kproxy::backends::nftables::testing {
namespace {

std::string KeyOf(const NftElementSpec& element) { return absl::StrJoin(element.key, " . "); }

// Whether any rule of `table` refers to chain or set `name` (jump/goto/@set, or a vmap element).
bool Referenced(const FakeNftablesWriter::Table& table, const std::string& name, bool set) {
  for (const auto& [chain, rules] : table.chains) {
    for (const std::string& rule : rules) {
      for (absl::string_view word : absl::StrSplit(rule, ' ')) {
        if (set ? word == absl::StrCat("@", name) : word == name) return true;
      }
    }
  }
  if (set) return false;
  for (const auto& [set_name, elements] : table.elements) {
    for (const auto& [key, element] : elements) {
      for (const std::string& value : element.value) {
        if (value == absl::StrCat("goto ", name) || value == absl::StrCat("jump ", name)) return true;
      }
    }
  }
  return false;
}

}  // namespace

const FakeNftablesWriter::Table* FakeNftablesWriter::table(proxier::IpFamily family,
                                                           const std::string& name) const {
  auto it = tables_.find({family, name});
  return it == tables_.end() ? nullptr : &it->second;
}

FakeNftablesWriter::Table* FakeNftablesWriter::mutable_table(proxier::IpFamily family,
                                                             const std::string& name) {
  auto it = tables_.find({family, name});
  return it == tables_.end() ? nullptr : &it->second;
}

absl::StatusOr<NftTableContents> FakeNftablesWriter::Read(proxier::IpFamily family,
                                                          const std::string& name) {
  NftTableContents contents;
  const Table* t = table(family, name);
  if (t == nullptr) return contents;
  contents.exists = true;
  for (const auto& [chain, rules] : t->chains) contents.chains.push_back(chain);
  for (const auto& [set, spec] : t->sets) contents.sets.push_back(set);
  return contents;
}

absl::Status FakeNftablesWriter::Apply(const NftTransaction& transaction) {
  if (!fail_next_.ok()) {
    absl::Status failed = std::move(fail_next_);
    fail_next_ = absl::OkStatus();
    return failed;
  }
  const NftStatementTranslator translator(transaction.family, transaction.sets);
  auto tables = tables_;  // all or nothing
  Counts counts = counts_;
  ++counts.transactions;
  const auto key = std::make_pair(transaction.family, transaction.table);
  auto fail = [&](size_t index, absl::string_view why) {
    return absl::InternalError(absl::StrCat("fake nf_tables operation ", index, ": ", why));
  };
  for (size_t i = 0; i < transaction.operations.size(); ++i) {
    const NftOperation& op = transaction.operations[i];
    if (std::holds_alternative<NftAddTable>(op)) {
      tables[key];
      ++counts.add_table;
      continue;
    }
    auto found = tables.find(key);
    if (found == tables.end()) return fail(i, "ENOENT (no table)");
    Table& t = found->second;
    if (std::holds_alternative<NftDeleteTable>(op)) {
      tables.erase(found);
      ++counts.delete_table;
    } else if (const auto* add = std::get_if<NftAddChain>(&op)) {
      t.chains[add->name];
      ++counts.add_chain;
    } else if (const auto* flush = std::get_if<NftFlushChain>(&op)) {
      auto it = t.chains.find(flush->name);
      if (it == t.chains.end()) return fail(i, absl::StrCat("ENOENT flush chain ", flush->name));
      it->second.clear();
      ++counts.flush_chain;
    } else if (const auto* remove = std::get_if<NftDeleteChain>(&op)) {
      auto it = t.chains.find(remove->name);
      if (it == t.chains.end()) return fail(i, absl::StrCat("ENOENT delete chain ", remove->name));
      if (!it->second.empty() || Referenced(t, remove->name, false)) {
        return fail(i, absl::StrCat("EBUSY delete chain ", remove->name));
      }
      t.chains.erase(it);
      ++counts.delete_chain;
    } else if (const auto* rule = std::get_if<NftAddRule>(&op)) {
      auto it = t.chains.find(rule->chain);
      if (it == t.chains.end()) return fail(i, absl::StrCat("ENOENT chain ", rule->chain));
      std::vector<NftAnonymousSet> anonymous;
      auto translated = translator.TranslateRule(rule->statement, 1, &anonymous);
      if (!translated.ok()) return translated.status();
      for (absl::string_view word : absl::StrSplit(rule->statement, ' ')) {
        if (absl::ConsumePrefix(&word, "@") && !t.sets.contains(std::string(word))) {
          return fail(i, absl::StrCat("ENOENT set ", word));
        }
      }
      it->second.push_back(rule->statement);
      ++counts.add_rule;
    } else if (const auto* add_set = std::get_if<NftAddSet>(&op)) {
      auto it = t.sets.find(add_set->set.name);
      if (it != t.sets.end() && (it->second.key_types != add_set->set.key_types ||
                                 it->second.value_types != add_set->set.value_types)) {
        return fail(i, absl::StrCat("EEXIST set ", add_set->set.name, " with other types"));
      }
      t.sets[add_set->set.name] = add_set->set;
      t.elements[add_set->set.name];
      ++counts.add_set;
    } else if (const auto* remove_set = std::get_if<NftDeleteSet>(&op)) {
      if (!t.sets.contains(remove_set->name)) return fail(i, absl::StrCat("ENOENT set ", remove_set->name));
      if (Referenced(t, remove_set->name, true)) return fail(i, absl::StrCat("EBUSY set ", remove_set->name));
      t.sets.erase(remove_set->name);
      t.elements.erase(remove_set->name);
      ++counts.delete_set;
    } else if (const auto* flush_set = std::get_if<NftFlushSet>(&op)) {
      if (!t.sets.contains(flush_set->name)) return fail(i, absl::StrCat("ENOENT set ", flush_set->name));
      t.elements[flush_set->name].clear();
      ++counts.flush_set;
    } else if (const auto* add_elements = std::get_if<NftAddElements>(&op)) {
      auto spec = t.sets.find(add_elements->set);
      if (spec == t.sets.end()) return fail(i, absl::StrCat("ENOENT set ", add_elements->set));
      auto& elements = t.elements[add_elements->set];
      for (const NftElementSpec& element : add_elements->elements) {
        auto encoded = translator.EncodeElement(spec->second, element);
        if (!encoded.ok()) return encoded.status();
        auto [it, inserted] = elements.emplace(KeyOf(element), element);
        if (!inserted && it->second.value != element.value) {
          return fail(i, absl::StrCat("EEXIST element ", KeyOf(element), " of ", add_elements->set));
        }
        ++counts.add_elements;
      }
    } else if (const auto* delete_elements = std::get_if<NftDeleteElements>(&op)) {
      auto& elements = t.elements[delete_elements->set];
      if (!t.sets.contains(delete_elements->set)) return fail(i, absl::StrCat("ENOENT set ", delete_elements->set));
      for (const NftElementSpec& element : delete_elements->elements) {
        if (elements.erase(KeyOf(element)) == 0) {
          return fail(i, absl::StrCat("ENOENT element ", KeyOf(element), " of ", delete_elements->set));
        }
        ++counts.delete_elements;
      }
    }
  }
  tables_ = std::move(tables);
  counts_ = counts;
  return absl::OkStatus();
}

}  // namespace kproxy::backends::nftables::testing
