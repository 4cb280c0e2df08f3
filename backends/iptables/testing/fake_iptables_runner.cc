#include "backends/iptables/testing/fake_iptables_runner.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backends/iptables/iptables_save.h"

namespace kproxy::backends::iptables::testing {
namespace {

std::vector<std::string> BuiltinChains(absl::string_view table) {
  if (table == "nat") return {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"};
  if (table == "mangle") return {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
  if (table == "filter") return {"INPUT", "FORWARD", "OUTPUT"};
  if (table == "raw") return {"PREROUTING", "OUTPUT"};
  return {};
}

// Targets provided by the kernel rather than by a chain of the table.
bool IsStandardTarget(absl::string_view t) {
  static const auto* kTargets = new absl::flat_hash_set<std::string>{
      "ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "SNAT", "MASQUERADE", "MARK", "LOG", "CONNMARK",
      "NOTRACK", "CT", "QUEUE", "NFQUEUE", "REDIRECT", "TPROXY", "TCPMSS", "NFLOG", "CHECKSUM", "AUDIT"};
  return kTargets->contains(t);
}

std::string JumpTarget(const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-j" || args[i] == "--jump" || args[i] == "-g" || args[i] == "--goto") return args[i + 1];
  }
  return "";
}

std::string JoinArgs(const std::vector<std::string>& args) {
  std::vector<std::string> quoted;
  for (const std::string& a : args) {
    quoted.push_back(a.find(' ') != std::string::npos || a.empty() ? absl::StrCat("\"", a, "\"") : a);
  }
  return absl::StrJoin(quoted, " ");
}

absl::Status LineError(absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

}  // namespace

FakeIptablesRunner::Chain* FakeIptablesRunner::TableState::Find(absl::string_view name) {
  for (Chain& c : chains) {
    if (c.name == name) return &c;
  }
  return nullptr;
}
const FakeIptablesRunner::Chain* FakeIptablesRunner::TableState::Find(absl::string_view name) const {
  for (const Chain& c : chains) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

FakeIptablesRunner::FakeIptablesRunner(proxier::IpFamily family) : family_(family) {
  absl::MutexLock lock(&mu_);
  for (const char* t : {"filter", "nat", "mangle"}) StateOf(t);
}

FakeIptablesRunner::TableState* FakeIptablesRunner::StateOf(absl::string_view table) {
  auto [it, inserted] = tables_.try_emplace(std::string(table));
  if (inserted) {
    for (const std::string& b : BuiltinChains(table)) it->second.chains.push_back({b, true, {}});
  }
  return &it->second;
}

absl::Status FakeIptablesRunner::ApplyLine(TableState& state, absl::string_view line) const {
  if (line[0] == ':') {
    std::vector<std::string> parts = absl::StrSplit(line.substr(1), ' ', absl::SkipEmpty());
    if (parts.empty()) return LineError("empty chain declaration");
    const std::string& name = parts[0];
    if (Chain* c = state.Find(name)) {
      // --noflush: a declared user chain is flushed; built-in chains keep their rules.
      if (!c->builtin) c->rules.clear();
    } else {
      if (parts.size() > 1 && parts[1] != "-") return LineError(absl::StrCat("built-in chain ", name, " does not exist"));
      state.chains.push_back({name, false, {}});
    }
    return absl::OkStatus();
  }
  std::vector<std::string> args = SplitRuleArgs(line);
  if (args.size() < 2) return LineError("missing chain name");
  const std::string op = args[0];
  const std::string chain_name = args[1];
  std::vector<std::string> rule(args.begin() + 2, args.end());
  if (op == "-N") {
    if (state.Find(chain_name)) return LineError(absl::StrCat("chain ", chain_name, " already exists"));
    state.chains.push_back({chain_name, false, {}});
    return absl::OkStatus();
  }
  Chain* chain = state.Find(chain_name);
  if (chain == nullptr) return LineError(absl::StrCat("chain '", chain_name, "' does not exist"));
  auto check_target = [&]() -> absl::Status {
    std::string target = JumpTarget(rule);
    if (!target.empty() && !IsStandardTarget(target) && state.Find(target) == nullptr) {
      return LineError(absl::StrCat("chain '", target, "' does not exist"));
    }
    return absl::OkStatus();
  };
  if (op == "-A" || op == "--append") {
    if (absl::Status s = check_target(); !s.ok()) return s;
    chain->rules.push_back(std::move(rule));
  } else if (op == "-I" || op == "--insert") {
    size_t pos = 0;
    int n = 0;
    if (!rule.empty() && absl::SimpleAtoi(rule[0], &n)) {
      if (n < 1 || static_cast<size_t>(n) > chain->rules.size() + 1) return LineError("index of insertion too big");
      pos = static_cast<size_t>(n - 1);
      rule.erase(rule.begin());
    }
    if (absl::Status s = check_target(); !s.ok()) return s;
    chain->rules.insert(chain->rules.begin() + pos, std::move(rule));
  } else if (op == "-D" || op == "--delete") {
    int n = 0;
    if (rule.size() == 1 && absl::SimpleAtoi(rule[0], &n)) {
      if (n < 1 || static_cast<size_t>(n) > chain->rules.size()) return LineError("index of deletion too big");
      chain->rules.erase(chain->rules.begin() + (n - 1));
    } else {
      auto it = std::find(chain->rules.begin(), chain->rules.end(), rule);
      if (it == chain->rules.end()) return LineError("Bad rule (does a matching rule exist in that chain?)");
      chain->rules.erase(it);
    }
  } else if (op == "-F" || op == "--flush") {
    chain->rules.clear();
  } else if (op == "-X" || op == "--delete-chain") {
    if (chain->builtin) return LineError(absl::StrCat("cannot delete built-in chain ", chain_name));
    if (!chain->rules.empty()) return LineError(absl::StrCat("chain ", chain_name, " is not empty"));
    for (const Chain& c : state.chains) {
      for (const auto& r : c.rules) {
        if (JumpTarget(r) == chain_name) {
          return LineError(absl::StrCat("chain ", chain_name, " is referenced from ", c.name));
        }
      }
    }
    state.chains.erase(state.chains.begin() + (chain - state.chains.data()));
  } else {
    return LineError(absl::StrCat("unsupported command ", op));
  }
  return absl::OkStatus();
}

absl::Status FakeIptablesRunner::Restore(absl::string_view input) {
  absl::MutexLock lock(&mu_);
  ++restore_count_;
  last_input_ = std::string(input);
  if (fail_next_.has_value()) {
    absl::Status s = *fail_next_;
    fail_next_.reset();
    return s;
  }
  std::optional<TableState> pending;
  std::string pending_name;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(input, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("fake iptables-restore: line ", line_no, " failed (", line,
                                                     "): ", why));
    };
    if (line[0] == '*') {
      if (pending) return fail("table not committed before the next one");
      pending_name = std::string(line.substr(1));
      if (BuiltinChains(pending_name).empty()) return fail(absl::StrCat("unknown table ", pending_name));
      pending = *StateOf(pending_name);
      continue;
    }
    if (!pending) return fail("line outside a table");
    if (line == "COMMIT") {
      tables_[pending_name] = std::move(*pending);
      pending.reset();
      continue;
    }
    if (line[0] == '[') {  // --counters prefix
      size_t close = line.find(']');
      if (close == absl::string_view::npos) return fail("bad counters");
      line = absl::StripLeadingAsciiWhitespace(line.substr(close + 1));
    }
    if (absl::Status s = ApplyLine(*pending, line); !s.ok()) return fail(s.message());
  }
  if (pending) {
    return absl::InvalidArgumentError(
        absl::StrCat("fake iptables-restore: table ", pending_name, " has no COMMIT"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::flat_hash_set<std::string>> FakeIptablesRunner::ListChains(Table table) {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_set<std::string> out;
  for (const Chain& c : StateOf(TableName(table))->chains) out.insert(c.name);
  return out;
}

absl::Status FakeIptablesRunner::EnsureRule(Table table, absl::string_view chain,
                                            const std::vector<std::string>& rule) {
  absl::MutexLock lock(&mu_);
  TableState* state = StateOf(TableName(table));
  Chain* c = state->Find(chain);
  if (c == nullptr) {
    return absl::NotFoundError(absl::StrCat("fake iptables -t ", TableName(table), " -I ", chain,
                                            ": No chain/target/match by that name"));
  }
  if (std::find(c->rules.begin(), c->rules.end(), rule) != c->rules.end()) return absl::OkStatus();
  std::string target = JumpTarget(rule);
  if (!target.empty() && !IsStandardTarget(target) && state->Find(target) == nullptr) {
    return absl::NotFoundError(absl::StrCat("fake iptables -t ", TableName(table), " -I ", chain, " -j ", target,
                                            ": Couldn't load target"));
  }
  c->rules.insert(c->rules.begin(), rule);
  return absl::OkStatus();
}

absl::Status FakeIptablesRunner::EnsureChain(Table table, absl::string_view chain) {
  absl::MutexLock lock(&mu_);
  TableState* state = StateOf(TableName(table));
  if (state->Find(chain) == nullptr) state->chains.push_back({std::string(chain), false, {}});
  return absl::OkStatus();
}

absl::StatusOr<bool> FakeIptablesRunner::ChainExists(Table table, absl::string_view chain) {
  absl::MutexLock lock(&mu_);
  return StateOf(TableName(table))->Find(chain) != nullptr;
}

absl::StatusOr<std::string> FakeIptablesRunner::SaveTable(Table table) {
  absl::MutexLock lock(&mu_);
  const TableState* state = StateOf(TableName(table));
  std::string out = absl::StrCat("*", TableName(table), "\n");
  for (const Chain& c : state->chains) {
    absl::StrAppend(&out, ":", c.name, c.builtin ? " ACCEPT" : " -", " [0:0]\n");
  }
  for (const Chain& c : state->chains) {
    for (const auto& r : c.rules) absl::StrAppend(&out, "-A ", c.name, " ", JoinArgs(r), "\n");
  }
  absl::StrAppend(&out, "COMMIT\n");
  return out;
}

void FakeIptablesRunner::FailNextRestore(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_next_ = std::move(status);
}

void FakeIptablesRunner::DropChain(Table table, absl::string_view chain) {
  absl::MutexLock lock(&mu_);
  TableState* state = StateOf(TableName(table));
  for (Chain& c : state->chains) {
    std::erase_if(c.rules, [&](const std::vector<std::string>& r) { return JumpTarget(r) == chain; });
  }
  std::erase_if(state->chains, [&](const Chain& c) { return c.name == chain && !c.builtin; });
}

void FakeIptablesRunner::FlushTable(Table table) {
  absl::MutexLock lock(&mu_);
  TableState* state = StateOf(TableName(table));
  std::erase_if(state->chains, [](const Chain& c) { return !c.builtin; });
  for (Chain& c : state->chains) c.rules.clear();
}

int FakeIptablesRunner::restore_count() const {
  absl::MutexLock lock(&mu_);
  return restore_count_;
}

std::string FakeIptablesRunner::last_restore_input() const {
  absl::MutexLock lock(&mu_);
  return last_input_;
}

std::optional<std::vector<std::string>> FakeIptablesRunner::Rules(Table table, absl::string_view chain) const {
  absl::MutexLock lock(&mu_);
  auto it = tables_.find(std::string(TableName(table)));
  if (it == tables_.end()) return std::nullopt;
  const Chain* c = it->second.Find(chain);
  if (c == nullptr) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& r : c->rules) out.push_back(JoinArgs(r));
  return out;
}

std::vector<std::string> FakeIptablesRunner::Chains(Table table) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  auto it = tables_.find(std::string(TableName(table)));
  if (it == tables_.end()) return out;
  for (const Chain& c : it->second.chains) out.push_back(c.name);
  return out;
}

}  // namespace kproxy::backends::iptables::testing
