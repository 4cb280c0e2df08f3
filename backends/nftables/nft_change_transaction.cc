#include "backends/nftables/nft_change_transaction.h"

#include <algorithm>
#include <set>
#include <type_traits>

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
  for (const char* protocol : {"th", "tcp", "udp", "sctp"}) {
    if (expression == absl::StrCat(protocol, " dport")) return std::string("inet_service");
  }
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
      absl::StartsWith(set.key_types[0], "numgen random mod ") && set.value_types.size() == 2 &&
      (set.value_types[0] == "ip daddr" || set.value_types[0] == "ip6 daddr") &&
      absl::EndsWith(set.value_types[1], " dport")) {
    (void)absl::SimpleAtoi(absl::string_view(set.key_types[0]).substr(18), &spec.typeof_numgen_modulus);
    spec.typeof_port_protocol = set.value_types[1].substr(0, set.value_types[1].find(' '));
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
                                                    std::map<std::string, NftSetSpec>& known_sets) {
  NftTransaction t;
  t.family = change.family == pn::NftFamily::kIp6 ? proxier::IpFamily::kIPv6 : proxier::IpFamily::kIPv4;
  t.table = pn::kTableName;
  for (const std::string& name : change.sets_to_delete) known_sets.erase(name);
  for (const pn::NftSet& set : change.sets_to_add) {
    auto spec = SetSpecOf(set);
    if (!spec.ok()) return spec.status();
    known_sets[set.name] = *std::move(spec);
  }
  std::set<std::string> named;
  for (const auto* elements : {&change.elements_to_add, &change.elements_to_delete}) {
    for (const auto& [name, list] : *elements) named.insert(name);
  }
  for (const std::vector<pn::NftChain>* chains : {&change.chains_to_refill, &change.chains_to_add}) {
    for (const pn::NftChain& chain : *chains) {
      for (const pn::NftRule& rule : chain.rules) {
        for (size_t at = rule.statement.find('@'); at != std::string::npos;
             at = rule.statement.find('@', at + 1)) {
          const size_t end = rule.statement.find_first_of(" :", at);
          named.insert(rule.statement.substr(at + 1, end == std::string::npos ? end : end - at - 1));
        }
      }
    }
  }
  for (const std::string& name : named) {
    auto it = known_sets.find(name);
    if (it != known_sets.end()) t.sets.push_back(it->second);
  }
  auto& ops = t.operations;
  if (change.create_table) ops.push_back(NftAddTable{"rules for kube-proxy"});
  for (const pn::NftChain& chain : change.chains_to_refill) ops.push_back(NftFlushChain{chain.name});
  for (const std::string& name : change.chains_to_flush) ops.push_back(NftFlushChain{name});
  for (const std::string& name : change.sets_to_delete) ops.push_back(NftDeleteSet{name});
  // Created in name order, as `nft -f` of the rendered table creates them (`nft list` lists in
  // creation order).
  auto by_name = [](const auto& items) {
    std::vector<const std::decay_t<decltype(items[0])>*> sorted;
    for (const auto& item : items) sorted.push_back(&item);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
    return sorted;
  };
  for (const pn::NftSet* set : by_name(change.sets_to_add)) {
    ops.push_back(NftAddSet{known_sets.at(set->name)});
  }
  for (const pn::NftChain* chain_pointer : by_name(change.chains_to_add)) {
    const pn::NftChain& chain = *chain_pointer;
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
      for (const pn::NftChain* chain_pointer : by_name(*chains)) {
        const pn::NftChain& chain = *chain_pointer;
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
