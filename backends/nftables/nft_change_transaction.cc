#include "backends/nftables/nft_change_transaction.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kproxy::backends::nftables {
namespace {

namespace pn = ::kproxy::proxier::nftables;

absl::StatusOr<std::string> TypeOfExpression(const std::string& expression) {
  if (absl::StartsWith(expression, "numgen ")) return std::string("integer");
  if (expression == "ip daddr" || expression == "ip saddr") return std::string("ipv4_addr");
  if (expression == "ip6 daddr" || expression == "ip6 saddr") return std::string("ipv6_addr");
  if (expression == "th dport" || expression == "th sport") return std::string("inet_service");
  if (expression == "meta l4proto") return std::string("inet_proto");
  if (expression == "meta mark") return std::string("mark");
  return absl::UnimplementedError(absl::StrCat("nftables writer: typeof ", expression));
}

}  // namespace

absl::StatusOr<NftSetSpec> SetSpecOf(const pn::NftSet& set) {
  NftSetSpec spec;
  spec.name = set.name;
  spec.comment = set.comment;
  spec.interval = set.interval;
  spec.timeout = set.timeout;
  spec.default_timeout = set.default_timeout;
  // A component may itself be a concatenation ("inet_proto . inet_service").
  auto split = [](const std::vector<std::string>& in) {
    std::vector<std::string> out;
    for (const std::string& component : in) {
      for (absl::string_view part : absl::StrSplit(component, " . ")) out.emplace_back(part);
    }
    return out;
  };
  spec.key_types = split(set.key_types);
  spec.value_types = split(set.value_types);
  if (set.use_typeof && set.key_types.size() == 1 &&
      absl::StartsWith(set.key_types[0], "numgen random mod ") &&
      (set.value_types == std::vector<std::string>{"ip daddr", "th dport"} ||
       set.value_types == std::vector<std::string>{"ip6 daddr", "th dport"})) {
    (void)absl::SimpleAtoi(absl::string_view(set.key_types[0]).substr(18), &spec.typeof_numgen_modulus);
  }
  if (set.use_typeof) {
    for (std::vector<std::string>* types : {&spec.key_types, &spec.value_types}) {
      for (std::string& type : *types) {
        auto resolved = TypeOfExpression(type);
        if (!resolved.ok()) return absl::Status(resolved.status().code(), absl::StrCat("set ", set.name, ": ", resolved.status().message()));
        type = *resolved;
      }
    }
  }
  return spec;
}

absl::StatusOr<NftTransaction> TransactionForChange(const pn::NftChange& change,
                                                    const pn::NftRuleset& desired) {
  NftTransaction t;
  t.family = change.family == pn::NftFamily::kIp6 ? proxier::IpFamily::kIPv6 : proxier::IpFamily::kIPv4;
  t.table = pn::kTableName;
  for (const pn::NftSet& set : desired.sets) {
    auto spec = SetSpecOf(set);
    if (!spec.ok()) return spec.status();
    t.sets.push_back(*std::move(spec));
  }
  auto& ops = t.operations;
  if (change.create_table) ops.push_back(NftAddTable{desired.comment});
  for (const pn::NftChain& chain : change.chains_to_refill) ops.push_back(NftFlushChain{chain.name});
  for (const std::string& name : change.chains_to_flush) ops.push_back(NftFlushChain{name});
  for (const std::string& name : change.sets_to_delete) ops.push_back(NftDeleteSet{name});
  for (const pn::NftSet& set : change.sets_to_add) {
    auto spec = SetSpecOf(set);
    if (!spec.ok()) return spec.status();
    ops.push_back(NftAddSet{*std::move(spec)});
  }
  for (const pn::NftChain& chain : change.chains_to_add) {
    std::optional<NftHook> hook;
    if (chain.base) hook = NftHook{chain.base->type, chain.base->hook, chain.base->priority};
    ops.push_back(NftAddChain{chain.name, chain.comment, hook});
  }
  auto elements = [](const std::vector<pn::NftElement>& in) {
    std::vector<NftElementSpec> out;
    out.reserve(in.size());
    for (const pn::NftElement& e : in) out.push_back(NftElementSpec{e.key, e.value, e.comment});
    return out;
  };
  for (const auto& [set, list] : change.elements_to_delete) {
    if (!list.empty()) ops.push_back(NftDeleteElements{set, elements(list)});
  }
  for (const std::string& name : change.sets_to_flush) ops.push_back(NftFlushSet{name});
  for (const auto& [set, list] : change.elements_to_add) {
    if (!list.empty()) ops.push_back(NftAddElements{set, elements(list)});
  }
  // Base chains' rules last: while a rule with a jump is added, the kernel may re-validate all that
  // is reachable from the base chains, so the bulk goes in while little or nothing is reachable.
  for (const bool base : {false, true}) {
    for (const std::vector<pn::NftChain>* chains : {&change.chains_to_refill, &change.chains_to_add}) {
      for (const pn::NftChain& chain : *chains) {
        if (chain.base.has_value() != base) continue;
        for (const pn::NftRule& rule : chain.rules) {
          ops.push_back(NftAddRule{chain.name, rule.statement, rule.comment});
        }
      }
    }
  }
  for (const std::string& name : change.chains_to_delete) ops.push_back(NftDeleteChain{name});
  return t;
}

}  // namespace kproxy::backends::nftables
