#include "test/unit/proxier/iptables/testing/iptables_simulator.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kproxy::proxier::iptables::testing {
namespace {

// Splits a rule into words; "double quoted" words keep their spaces (quotes removed).
std::vector<std::string> Tokenize(absl::string_view line) {
  std::vector<std::string> tokens;
  std::string current;
  bool in_quotes = false;
  bool has_token = false;
  for (char c : line) {
    if (c == '"') {
      in_quotes = !in_quotes;
      has_token = true;
    } else if (c == ' ' && !in_quotes) {
      if (has_token) tokens.push_back(std::move(current));
      current.clear();
      has_token = false;
    } else {
      current.push_back(c);
      has_token = true;
    }
  }
  if (has_token) tokens.push_back(std::move(current));
  return tokens;
}

bool IsBuiltinTarget(absl::string_view target) {
  for (absl::string_view t : {"ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "MARK", "MASQUERADE"}) {
    if (target == t) return true;
  }
  return false;
}

absl::StatusOr<Cidr> ParseCidrOrIp(absl::string_view text) {
  if (absl::StrContains(text, '/')) return Cidr::Parse(text);
  auto ip = IpAddress::Parse(text);
  if (!ip.ok()) return ip.status();
  return Cidr::Host(*ip);
}

absl::StatusOr<uint32_t> ParseHex(absl::string_view text) {
  uint32_t value = 0;
  if (!absl::SimpleHexAtoi(text, &value)) return absl::InvalidArgumentError(absl::StrCat("bad mark ", text));
  return value;
}

// The rule's words after "-A CHAIN", split at "-j".
struct Rule {
  std::vector<std::string> matches;
  std::vector<std::string> target;  // empty: no target
};

}  // namespace

std::string TraceResult::ToString() const {
  if (!error.empty()) return absl::StrCat("error: ", error);
  switch (verdict) {
    case Verdict::kNotIntercepted:
      return "not intercepted";
    case Verdict::kDrop:
      return "DROP";
    case Verdict::kReject:
      return "REJECT";
    case Verdict::kDnat:
      return absl::StrCat(absl::StrJoin(endpoints, ", "), masquerade ? " (masq)" : "");
  }
  return "?";
}

struct IptablesSimulator::Walk {
  IpAddress source;
  IpAddress destination;
  int port = 0;
  Protocol protocol = Protocol::kTCP;
  std::string in_interface;
  uint32_t mark = 0;
  enum class End { kNone, kDnat, kAccept, kDrop, kReject } end = End::kNone;
  std::string dnat_to;
  bool source_local = false;
  bool destination_local = false;
};

IptablesSimulator::IptablesSimulator(std::vector<std::string> local_addresses, int masquerade_bit)
    : masquerade_mark_(1u << masquerade_bit) {
  for (const std::string& text : local_addresses) {
    auto ip = IpAddress::Parse(text);
    if (ip.ok()) local_addresses_.push_back(*ip);
  }
}

bool IptablesSimulator::IsLocal(const IpAddress& ip) const {
  if (ip.IsLoopback()) return true;
  return std::find(local_addresses_.begin(), local_addresses_.end(), ip) != local_addresses_.end();
}

absl::Status IptablesSimulator::Apply(absl::string_view restore_input) {
  Tables work = tables_;
  std::string table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(restore_input, '\n')) {
    ++line_number;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, " (", line, "): ", what));
    };
    if (line.empty()) continue;
    if (line[0] == '*') {
      if (!table.empty()) return error("table not committed");
      table = std::string(line.substr(1));
      work[table];
      continue;
    }
    if (line == "COMMIT") {
      if (table.empty()) return error("COMMIT outside a table");
      table.clear();
      continue;
    }
    if (table.empty()) return error("rule outside a table");
    auto& chains = work[table];
    if (line[0] == ':') {
      std::vector<std::string> words = absl::StrSplit(line.substr(1), ' ');
      if (words.size() != 3 || words[1] != "-" || words[2] != "[0:0]") return error("bad chain line");
      chains[words[0]].clear();  // creates or flushes
      continue;
    }
    std::vector<std::string> tokens = Tokenize(line);
    if (tokens.size() == 2 && tokens[0] == "-X") {
      auto it = chains.find(tokens[1]);
      if (it == chains.end()) return error("-X of a chain that does not exist");
      if (!it->second.empty()) return error("-X of a non-empty chain");
      for (const auto& [name, rules] : chains) {
        for (const std::string& rule : rules) {
          if (absl::EndsWith(rule, absl::StrCat("-j ", tokens[1])) ||
              absl::StrContains(rule, absl::StrCat("-j ", tokens[1], " "))) {
            return error(absl::StrCat("-X of a chain referenced by ", name));
          }
        }
      }
      chains.erase(it);
      continue;
    }
    if (tokens.size() < 2 || tokens[0] != "-A") return error("unsupported line");
    auto chain = chains.find(tokens[1]);
    if (chain == chains.end()) return error("-A to an undeclared chain");
    for (size_t i = 2; i + 1 < tokens.size(); ++i) {
      if (tokens[i] == "-j" && !IsBuiltinTarget(tokens[i + 1]) && !chains.contains(tokens[i + 1])) {
        return error("jump to an undeclared chain");
      }
    }
    std::string rest(line.substr(std::min(line.size(), tokens[0].size() + tokens[1].size() + 2)));
    chain->second.push_back(std::move(rest));
  }
  if (!table.empty()) return absl::InvalidArgumentError("missing COMMIT");
  tables_ = std::move(work);
  return absl::OkStatus();
}

// Evaluates the match part of a rule: false = no match; maybe = matches on some packets only
// (random, recent), so both outcomes are followed.
absl::StatusOr<bool> IptablesSimulator::Matches(const std::vector<std::string>& tokens, size_t& i,
                                                Walk& walk, bool& maybe) const {
  bool result = true;
  bool negate = false;
  auto next = [&]() -> absl::StatusOr<std::string> {
    if (i + 1 >= tokens.size()) return absl::InvalidArgumentError(absl::StrCat("missing value after ", tokens[i]));
    return tokens[++i];
  };
  for (; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (t == "-j") break;
    if (t == "!") {
      negate = true;
      continue;
    }
    bool match = true;
    if (t == "-m" || t == "--comment" || t == "--mode" || t == "--name" || t == "--seconds" ||
        t == "--nfacct-name") {
      auto value = next();
      if (!value.ok()) return value.status();
    } else if (t == "--reap" || t == "--set") {
    } else if (t == "-p") {
      auto value = next();
      if (!value.ok()) return value.status();
      match = *value == ProtocolLowerName(walk.protocol);
    } else if (t == "-s" || t == "-d") {
      auto value = next();
      if (!value.ok()) return value.status();
      auto cidr = ParseCidrOrIp(*value);
      if (!cidr.ok()) return cidr.status();
      const IpAddress& ip = t == "-s" ? walk.source : walk.destination;
      match = cidr->family() == ip.family() && cidr->Contains(ip);
    } else if (t == "--dport") {
      auto value = next();
      if (!value.ok()) return value.status();
      int port = 0;
      if (!absl::SimpleAtoi(*value, &port)) return absl::InvalidArgumentError("bad --dport");
      match = port == walk.port;
    } else if (t == "--dst-type" || t == "--src-type") {
      auto value = next();
      if (!value.ok()) return value.status();
      if (*value != "LOCAL") return absl::InvalidArgumentError("unsupported addrtype");
      match = t == "--dst-type" ? walk.destination_local : walk.source_local;
    } else if (t == "--mark") {
      auto value = next();
      if (!value.ok()) return value.status();
      std::pair<std::string, std::string> parts = absl::StrSplit(*value, '/');
      auto mark = ParseHex(parts.first);
      auto mask = ParseHex(parts.second.empty() ? "0xffffffff" : parts.second);
      if (!mark.ok() || !mask.ok()) return absl::InvalidArgumentError("bad --mark");
      match = (walk.mark & *mask) == *mark;
    } else if (t == "--ctstate") {
      auto value = next();
      if (!value.ok()) return value.status();
      // Every traced packet is the first of a new, not yet DNATed connection.
      match = false;
      for (absl::string_view state : absl::StrSplit(*value, ',')) match = match || state == "NEW";
    } else if (t == "--probability" || t == "--rcheck") {
      if (t == "--probability") {
        auto value = next();
        if (!value.ok()) return value.status();
      }
      maybe = true;
    } else if (t == "-i") {
      auto value = next();
      if (!value.ok()) return value.status();
      if (absl::EndsWith(*value, "+")) {
        match = absl::StartsWith(walk.in_interface, absl::StripSuffix(*value, "+"));
      } else {
        match = walk.in_interface == *value;
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("simulator does not know ", t));
    }
    if (negate) match = !match;
    negate = false;
    result = result && match;
  }
  return result;
}

void IptablesSimulator::WalkChain(const std::string& table, const std::string& chain, Walk walk,
                                  int depth, std::vector<Walk>& finished) const {
  // `finished` receives walks that ended (DNAT/ACCEPT/DROP/REJECT) and, with end kNone, walks that
  // returned from `chain`; the caller continues the latter.
  (void)depth;
  const auto& rules = tables_.at(table).at(chain);
  struct Pending {
    size_t index;
    Walk walk;
  };
  std::vector<Pending> stack{{0, std::move(walk)}};
  while (!stack.empty()) {
    Pending p = std::move(stack.back());
    stack.pop_back();
    bool done = false;
    for (size_t r = p.index; r < rules.size() && !done; ++r) {
      std::vector<std::string> tokens = Tokenize(rules[r]);
      size_t i = 0;
      bool maybe = false;
      auto matched = Matches(tokens, i, p.walk, maybe);
      if (!matched.ok()) {
        if (trace_error_.empty()) trace_error_ = absl::StrCat(chain, " ", rules[r], ": ", matched.status().message());
        continue;
      }
      if (!*matched) continue;
      if (maybe) stack.push_back({r + 1, p.walk});  // the branch where the match failed
      if (i >= tokens.size()) continue;               // no target: a counting rule
      const std::string& target = tokens[i + 1];
      auto option = [&](absl::string_view name) -> std::string {
        for (size_t k = i + 2; k + 1 < tokens.size(); ++k) {
          if (tokens[k] == name) return tokens[k + 1];
        }
        return "";
      };
      if (target == "MARK") {
        if (auto v = ParseHex(option("--or-mark")); v.ok() && !option("--or-mark").empty()) p.walk.mark |= *v;
        if (auto v = ParseHex(option("--xor-mark")); v.ok() && !option("--xor-mark").empty()) p.walk.mark ^= *v;
      } else if (target == "RETURN") {
        finished.push_back(p.walk);
        done = true;
      } else if (target == "DNAT") {
        p.walk.end = Walk::End::kDnat;
        p.walk.dnat_to = option("--to-destination");
        finished.push_back(p.walk);
        done = true;
      } else if (target == "ACCEPT" || target == "MASQUERADE") {
        p.walk.end = Walk::End::kAccept;
        finished.push_back(p.walk);
        done = true;
      } else if (target == "DROP") {
        p.walk.end = Walk::End::kDrop;
        finished.push_back(p.walk);
        done = true;
      } else if (target == "REJECT") {
        p.walk.end = Walk::End::kReject;
        finished.push_back(p.walk);
        done = true;
      } else {
        std::vector<Walk> sub;
        WalkChain(table, target, p.walk, depth + 1, sub);
        for (Walk& w : sub) {
          if (w.end == Walk::End::kNone) {
            stack.push_back({r + 1, std::move(w)});
          } else {
            finished.push_back(std::move(w));
          }
        }
        done = true;
      }
    }
    if (!done) finished.push_back(p.walk);
  }
}

TraceResult IptablesSimulator::Trace(const Packet& packet) const {
  trace_error_.clear();
  TraceResult result = TraceImpl(packet);
  // Any rule the simulator could not read makes the whole trace an error.
  if (!trace_error_.empty()) result.error = trace_error_;
  return result;
}

TraceResult IptablesSimulator::TraceImpl(const Packet& packet) const {
  TraceResult result;
  Walk walk;
  walk.source = *IpAddress::Parse(packet.source);
  walk.destination = *IpAddress::Parse(packet.destination);
  walk.port = packet.port;
  walk.protocol = packet.protocol;
  walk.in_interface = packet.in_interface;
  walk.source_local = IsLocal(walk.source);
  walk.destination_local = IsLocal(walk.destination);

  auto has_chain = [&](const std::string& table, const std::string& chain) {
    auto t = tables_.find(table);
    return t != tables_.end() && t->second.contains(chain);
  };
  // nat PREROUTING / OUTPUT -> KUBE-SERVICES.
  std::vector<Walk> outcomes;
  if (has_chain("nat", "KUBE-SERVICES")) {
    WalkChain("nat", "KUBE-SERVICES", walk, 0, outcomes);
  } else {
    outcomes.push_back(walk);
  }
  std::set<std::string> endpoints;
  bool not_dnatted = false;
  for (const Walk& w : outcomes) {
    if (w.end == Walk::End::kDnat) {
      endpoints.insert(w.dnat_to);
      if (w.mark & masquerade_mark_) result.masquerade = true;
    } else {
      not_dnatted = true;
    }
  }
  if (!endpoints.empty()) {
    result.verdict = Verdict::kDnat;
    result.endpoints.assign(endpoints.begin(), endpoints.end());
    if (not_dnatted) result.endpoints.push_back("<some paths not DNATed>");
    return result;
  }
  // filter: the packet keeps its destination. OUTPUT for local sources, INPUT for local
  // destinations, FORWARD otherwise; each hook's kproxy jumps in upstream's order.
  std::vector<std::vector<std::string>> hooks;
  if (walk.source_local) hooks.push_back({"KUBE-PROXY-FIREWALL", "KUBE-SERVICES", "KUBE-FIREWALL"});
  if (walk.destination_local) {
    hooks.push_back({"KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES", "KUBE-FIREWALL"});
  }
  if (!walk.source_local && !walk.destination_local) {
    hooks.push_back({"KUBE-PROXY-FIREWALL", "KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"});
  }
  for (const auto& hook : hooks) {
    for (const std::string& chain : hook) {
      if (!has_chain("filter", chain)) continue;
      std::vector<Walk> filtered;
      WalkChain("filter", chain, walk, 0, filtered);
      for (const Walk& w : filtered) {
        if (w.end == Walk::End::kDrop) result.verdict = Verdict::kDrop;
        if (w.end == Walk::End::kReject) result.verdict = Verdict::kReject;
      }
      if (result.verdict != Verdict::kNotIntercepted) return result;
      bool accepted = std::any_of(filtered.begin(), filtered.end(),
                                  [](const Walk& w) { return w.end == Walk::End::kAccept; });
      if (accepted) break;  // this hook accepted; the next hook still applies
    }
  }
  return result;
}

}  // namespace kproxy::proxier::iptables::testing
