#include "test/unit/proxier/nftables/testing/nft_evaluator.h"

#include <algorithm>
#include <map>
#include <memory>
#include <cstdint>
#include <set>
#include <stdexcept>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kproxy::proxier::nftables::testing {
namespace {

// Thrown inside the evaluator only (test code): a statement outside the grammar.
struct GrammarError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// kReturn: the rule said "return": the chain ends, its caller continues.
enum class Verdict { kContinue, kReturn, kAccept, kDrop, kReject };

struct PacketState {
  std::string saddr, daddr, protocol, iif;
  int dport = 0;
  std::string original_daddr;
  int original_dport = 0;
  bool dnat_done = false;
  uint32_t mark = 0;
  bool masquerade = false;
  bool output_path = false;
};

// A value of an expression: one string per concatenated component. "" never matches.
using Value = std::vector<std::string>;

}  // namespace

// What the packet path wrote into dynamic maps (session affinity), by map and key.
struct DynamicMaps {
  std::map<std::string, std::map<Value, NftElement>> maps;
};

namespace {

bool AddressMatches(const std::string& value, const std::string& literal) {
  if (value.empty()) return false;
  if (literal.find('/') != std::string::npos) {
    auto cidr = Cidr::Parse(literal);
    auto ip = IpAddress::Parse(value);
    return cidr.ok() && ip.ok() && ip->family() == cidr->family() && cidr->Contains(*ip);
  }
  return value == literal;
}

bool ComponentMatches(const std::string& value, const std::string& literal) {
  if (literal.size() >= 2 && literal.front() == '"') {
    std::string pattern = literal.substr(1, literal.size() - 2);
    if (!pattern.empty() && pattern.back() == '*') {
      pattern.pop_back();
      return value.rfind(pattern, 0) == 0;
    }
    return value == pattern;
  }
  return AddressMatches(value, literal);
}

class RuleRunner {
 public:
  RuleRunner(const NftRuleset& ruleset, const std::vector<std::string>& local, PacketState& packet,
             int choice, int& choices_seen, DynamicMaps* dynamic)
      : dynamic_(dynamic),
        ruleset_(ruleset),
        local_(local),
        packet_(packet),
        choice_(choice),
        choices_seen_(choices_seen) {}

  Verdict RunChain(const std::string& name, int depth = 0) {
    if (depth > 16) throw GrammarError("chain loop at " + name);
    const NftChain* chain = ruleset_.FindChain(name);
    if (chain == nullptr) throw GrammarError("no chain " + name);
    for (const NftRule& rule : chain->rules) {
      std::string target;
      bool is_goto = false;
      Verdict verdict = RunRule(rule.statement, target, is_goto);
      if (verdict == Verdict::kReturn) return Verdict::kContinue;
      if (!target.empty()) {
        Verdict inner = RunChain(target, depth + 1);
        if (is_goto) return inner;
        if (inner != Verdict::kContinue) return inner;
        continue;
      }
      if (verdict != Verdict::kContinue) return verdict;
    }
    return Verdict::kContinue;
  }

 private:
  bool IsLocal(const std::string& address) const {
    return std::find(local_.begin(), local_.end(), address) != local_.end();
  }

  const std::vector<NftElement>& Elements(const std::string& set) const {
    static const std::vector<NftElement> kNone;
    if (ruleset_.FindSet(set) == nullptr) throw GrammarError("no set " + set);
    auto it = ruleset_.elements.find(set);
    return it == ruleset_.elements.end() ? kNone : it->second;
  }

  const NftElement* Lookup(const std::string& set, const Value& key) const {
    for (const NftElement& element : Elements(set)) {
      if (element.key == key) return &element;
    }
    auto map = dynamic_->maps.find(set);
    if (map == dynamic_->maps.end()) return nullptr;
    auto entry = map->second.find(key);
    return entry == map->second.end() ? nullptr : &entry->second;
  }

  // One primary expression at tokens_[pos_], advancing pos_.
  std::string Primary() {
    auto take = [&](const char* expected) {
      if (pos_ >= tokens_.size() || tokens_[pos_] != expected) {
        throw GrammarError(absl::StrCat("expected '", expected, "' in: ", statement_));
      }
      ++pos_;
    };
    const std::string token = Next();
    if (token == "ip" || token == "ip6") {
      const std::string field = Next();
      if (field == "daddr") return packet_.daddr;
      if (field == "saddr") return packet_.saddr;
      throw GrammarError("field " + field);
    }
    if (token == "meta") {
      const std::string field = Next();
      if (field == "l4proto") return packet_.protocol;
      if (field == "mark") return absl::StrCat(packet_.mark);
      throw GrammarError("meta " + field);
    }
    if (token == "th") {
      take("dport");
      return absl::StrCat(packet_.dport);
    }
    if (token == "tcp" || token == "udp" || token == "sctp") {
      take("dport");
      return packet_.protocol == token ? absl::StrCat(packet_.dport) : "";
    }
    if (token == "ct") {
      const std::string field = Next();
      if (field == "state") return "new";
      if (field == "status") return packet_.dnat_done ? "dnat" : "none";
      if (field == "original") {
        const std::string what = Next();
        if (what == "ip" || what == "ip6") {
          take("daddr");
          return packet_.original_daddr;
        }
        if (what == "proto-dst") return absl::StrCat(packet_.original_dport);
        throw GrammarError("ct original " + what);
      }
      throw GrammarError("ct " + field);
    }
    if (token == "fib") {
      const std::string field = Next();
      take("type");
      const std::string& address = field == "daddr" ? packet_.daddr : packet_.saddr;
      return IsLocal(address) ? "local" : "unicast";
    }
    if (token == "iifname") return packet_.output_path ? "" : packet_.iif;
    throw GrammarError(absl::StrCat("unknown expression '", token, "' in: ", statement_));
  }

  Value Concat() {
    Value value{Primary()};
    while (pos_ < tokens_.size() && tokens_[pos_] == ".") {
      ++pos_;
      value.push_back(Primary());
    }
    return value;
  }

  // The right-hand side: a literal, "{ a, b }" or "@set"; whether `value` is in it.
  bool RightHandSide(const Value& value) {
    const std::string token = Next();
    if (token == "{") {
      bool found = false;
      for (std::string item = Next(); item != "}"; item = Next()) {
        item = std::string(absl::StripSuffix(item, ","));
        if (value.size() == 1 && ComponentMatches(value[0], item)) found = true;
      }
      return found;
    }
    if (token[0] == '@') return Lookup(token.substr(1), value) != nullptr;
    if (value.size() != 1) throw GrammarError("concatenation against a literal: " + statement_);
    return ComponentMatches(value[0], token);
  }

  std::string Next() {
    if (pos_ >= tokens_.size()) throw GrammarError("unexpected end of: " + statement_);
    return tokens_[pos_++];
  }

  uint32_t Hex(const std::string& text) {
    uint32_t value = 0;
    if (!absl::SimpleHexAtoi(text, &value)) throw GrammarError("not hex: " + text);
    return value;
  }

  Verdict Dnat() {
    // dnat <ipx> to (<ipx> saddr | numgen random mod N) map @m, or (IPv6 affinity)
    // dnat to ip6 saddr map @a:ip6 saddr map @p
    if (Next() != "to" && Next() != "to") throw GrammarError("dnat: " + statement_);
    std::string map;
    std::vector<const NftElement*> candidates;
    const bool random = tokens_.at(pos_) == "numgen";
    if (random) {
      pos_ += 4;  // numgen random mod N
      if (Next() != "map") throw GrammarError("dnat: " + statement_);
      map = Next().substr(1);
      for (const NftElement& element : Elements(map)) candidates.push_back(&element);
    } else {
      const Value key{Primary()};
      if (Next() != "map") throw GrammarError("dnat: " + statement_);
      map = Next().substr(1);
      if (const size_t colon = map.find(':'); colon != std::string::npos) {
        // address and port in two maps: an entry counts when both have it.
        const std::string port_map = tokens_.at(pos_ + 2).substr(1);
        pos_ += 3;
        const NftElement* address = Lookup(map.substr(0, colon), key);
        const NftElement* port = Lookup(port_map, key);
        if (address == nullptr || port == nullptr) return Verdict::kContinue;
        packet_.daddr = address->value.at(0);
        if (!absl::SimpleAtoi(port->value.at(0), &packet_.dport)) throw GrammarError(port_map);
        packet_.dnat_done = true;
        return Verdict::kAccept;
      }
      if (const NftElement* element = Lookup(map, key)) candidates.push_back(element);
    }
    if (candidates.empty()) return Verdict::kContinue;  // the lookup breaks the rule
    const NftElement* chosen = candidates.front();
    if (random) {
      choices_seen_ = static_cast<int>(candidates.size());
      chosen = candidates[std::min<size_t>(choice_, candidates.size() - 1)];
    }
    if (chosen->value.size() != 2) throw GrammarError("endpoint map value: " + map);
    packet_.daddr = chosen->value[0];
    if (!absl::SimpleAtoi(chosen->value[1], &packet_.dport)) throw GrammarError("port " + map);
    packet_.dnat_done = true;
    return Verdict::kAccept;
  }

  // Runs one rule; a jump/goto comes back in `target`.
  Verdict RunRule(const std::string& statement, std::string& target, bool& is_goto) {
    statement_ = statement;
    tokens_ = absl::StrSplit(statement, ' ', absl::SkipEmpty());
    pos_ = 0;
    while (pos_ < tokens_.size()) {
      const std::string& token = tokens_[pos_];
      if (token == "jump" || token == "goto") {
        ++pos_;
        is_goto = token == "goto";
        target = Next();
        return Verdict::kContinue;
      }
      if (token == "return") return Verdict::kReturn;
      if (token == "accept") return Verdict::kAccept;
      if (token == "drop") return Verdict::kDrop;
      if (token == "reject") return Verdict::kReject;
      if (token == "masquerade") {
        packet_.masquerade = true;
        return Verdict::kAccept;
      }
      if (token == "dnat") {
        ++pos_;
        return Dnat();
      }
      if (token == "update") {
        // update @m { <key> : <value> }: what the kernel adds to a dynamic map.
        ++pos_;
        const std::string map = Next().substr(1);
        if (ruleset_.FindSet(map) == nullptr || Next() != "{") throw GrammarError(statement_);
        const Value key = Concat();
        if (Next() != ":") throw GrammarError(statement_);
        const Value value = Concat();
        if (Next() != "}") throw GrammarError(statement_);
        dynamic_->maps[map].try_emplace(key, NftElement{key, value, ""});
        continue;
      }
      if (token == "meta" && pos_ + 2 < tokens_.size() && tokens_[pos_ + 2] == "set") {
        // meta mark set meta mark (| or ^) <mark>
        pos_ += 5;
        const std::string op = Next();
        const uint32_t mark = Hex(Next());
        packet_.mark = op == "|" ? packet_.mark | mark : packet_.mark ^ mark;
        continue;
      }
      const Value value = Concat();
      if (pos_ >= tokens_.size()) throw GrammarError("dangling expression: " + statement_);
      const std::string op = tokens_[pos_];
      bool matched;
      if (op == "vmap") {
        ++pos_;
        const NftElement* element = Lookup(Next().substr(1), value);
        if (element == nullptr) return Verdict::kContinue;
        std::vector<std::string> verdict = absl::StrSplit(element->value.at(0), ' ');
        if (verdict[0] == "goto" || verdict[0] == "jump") {
          target = verdict.at(1);
          is_goto = verdict[0] == "goto";
          return Verdict::kContinue;
        }
        if (verdict[0] == "drop") return Verdict::kDrop;
        if (verdict[0] == "accept") return Verdict::kAccept;
        throw GrammarError("vmap verdict " + element->value[0]);
      } else if (op == "&") {
        ++pos_;
        const uint32_t mask = Hex(Next());
        if (Next() != "==") throw GrammarError("mark test: " + statement_);
        const uint32_t want = Hex(Next());
        matched = (packet_.mark & mask) == want;
      } else if (op == "!=") {
        ++pos_;
        matched = !RightHandSide(value);
      } else {
        if (op == "==") ++pos_;
        matched = RightHandSide(value);
      }
      if (!matched) return Verdict::kContinue;
    }
    return Verdict::kContinue;
  }

 private:
  DynamicMaps* dynamic_;
  const NftRuleset& ruleset_;
  const std::vector<std::string>& local_;
  PacketState& packet_;
  const int choice_;
  int& choices_seen_;
  std::string statement_;
  std::vector<std::string> tokens_;
  size_t pos_ = 0;
};

}  // namespace

NftEvaluator::NftEvaluator(const NftRuleset& ruleset, std::vector<std::string> local_addresses)
    : ruleset_(ruleset),
      local_addresses_(std::move(local_addresses)),
      dynamic_(std::make_unique<DynamicMaps>()) {
  local_addresses_.push_back("127.0.0.1");
  local_addresses_.push_back("::1");
}

std::vector<FlowOutcome> NftEvaluator::Trace(const FlowPacket& packet, int record_choice) const {
  std::vector<FlowOutcome> outcomes;
  int choices = 1;
  for (int choice = 0; choice < choices; ++choice) {
    DynamicMaps scratch = *dynamic_;  // what other choices would write is thrown away
    PacketState state;
    state.saddr = packet.source;
    state.daddr = packet.destination;
    state.dport = packet.port;
    state.protocol = packet.protocol;
    state.iif = packet.input_interface;
    state.original_daddr = packet.destination;
    state.original_dport = packet.port;
    state.output_path = std::find(local_addresses_.begin(), local_addresses_.end(),
                                  packet.source) != local_addresses_.end();
    int choices_seen = 1;
    FlowOutcome outcome{"ACCEPT", "", false};
    auto run_hook = [&](const std::string& hook) {
      std::vector<const NftChain*> chains;
      for (const NftChain& chain : ruleset_.chains) {
        if (chain.base && chain.base->hook == hook) chains.push_back(&chain);
      }
      std::stable_sort(chains.begin(), chains.end(), [](const NftChain* a, const NftChain* b) {
        return a->base->priority < b->base->priority;
      });
      for (const NftChain* chain : chains) {
        RuleRunner runner(ruleset_, local_addresses_, state, choice, choices_seen,
                          choice == record_choice ? dynamic_.get() : &scratch);
        const Verdict verdict = runner.RunChain(chain->name);
        if (verdict == Verdict::kDrop) return std::string("DROP");
        if (verdict == Verdict::kReject) return std::string("REJECT");
      }
      return std::string();
    };
    auto is_local = [&](const std::string& address) {
      return std::find(local_addresses_.begin(), local_addresses_.end(), address) !=
             local_addresses_.end();
    };
    std::vector<std::string> hooks;
    if (state.output_path) {
      hooks = {"output", "postrouting"};
    } else {
      hooks = {"prerouting"};
    }
    std::string result;
    for (size_t i = 0; i < hooks.size() && result.empty(); ++i) result = run_hook(hooks[i]);
    if (result.empty() && !state.output_path) {
      // Routing after prerouting: delivered locally or forwarded.
      if (is_local(state.daddr)) {
        result = run_hook("input");
      } else {
        result = run_hook("forward");
        if (result.empty()) result = run_hook("postrouting");
      }
    } else if (result.empty() && state.output_path && is_local(state.daddr)) {
      result = run_hook("input");
    }
    if (!result.empty()) outcome.verdict = result;
    if (state.dnat_done)
      outcome.dnat = IpAddress::Parse(state.daddr).ok()
                         ? IpAddress::Parse(state.daddr)->JoinPort(state.dport)
                         : state.daddr;
    outcome.masquerade = state.masquerade;
    outcomes.push_back(outcome);
    choices = std::max(choices, choices_seen);
  }
  return outcomes;
}

NftEvaluator::~NftEvaluator() = default;

std::string NftEvaluator::Connect(const FlowPacket& packet, int choice) {
  const std::vector<FlowOutcome> outcomes = Trace(packet, choice);
  return outcomes.at(std::min<size_t>(choice, outcomes.size() - 1)).dnat;
}

void NftEvaluator::FlushDynamicMaps() { dynamic_->maps.clear(); }

NftEvaluator::Summary NftEvaluator::Summarize(const FlowPacket& packet) const {
  Summary summary;
  std::vector<FlowOutcome> outcomes;
  try {
    outcomes = Trace(packet);
  } catch (const GrammarError& error) {
    summary.error = error.what();
    return summary;
  }
  std::set<std::string> endpoints;
  const FlowOutcome& first = outcomes.front();
  summary.masquerade = true;
  for (const FlowOutcome& outcome : outcomes) {
    if (outcome.verdict != first.verdict) summary.error = "outcomes disagree on the verdict";
    if (!outcome.dnat.empty()) endpoints.insert(outcome.dnat);
    summary.masquerade = summary.masquerade && outcome.masquerade;
  }
  if (first.verdict != "ACCEPT") {
    summary.output = first.verdict;
    summary.masquerade = false;
  } else {
    summary.output = absl::StrJoin(endpoints, ", ");
  }
  return summary;
}

}  // namespace kproxy::proxier::nftables::testing
