#include "backends/iptables/iptables_save.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace kproxy::backends::iptables {

const SavedChain* SavedTable::Find(absl::string_view chain) const {
  for (const SavedChain& c : chains) {
    if (c.name == chain) return &c;
  }
  return nullptr;
}

std::map<std::string, SavedTable> ParseIptablesSave(absl::string_view save_output) {
  std::map<std::string, SavedTable> tables;
  SavedTable* current = nullptr;
  for (absl::string_view line : absl::StrSplit(save_output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      std::string name(line.substr(1));
      current = &tables[name];
      current->name = name;
      continue;
    }
    if (current == nullptr) continue;
    if (line == "COMMIT") {
      current = nullptr;
      continue;
    }
    if (line[0] == ':') {
      std::vector<absl::string_view> parts = absl::StrSplit(line.substr(1), ' ', absl::SkipEmpty());
      if (parts.empty()) continue;
      SavedChain chain;
      chain.name = std::string(parts[0]);
      chain.builtin = parts.size() > 1 && parts[1] != "-";
      current->chains.push_back(std::move(chain));
      continue;
    }
    if (line[0] == '[') {  // "[0:0] -A ..." from iptables-save -c
      size_t close = line.find(']');
      if (close == absl::string_view::npos) continue;
      line = absl::StripLeadingAsciiWhitespace(line.substr(close + 1));
    }
    if (absl::StartsWith(line, "-A ")) {
      absl::string_view rest = line.substr(3);
      absl::string_view chain_name = rest.substr(0, rest.find(' '));
      for (SavedChain& c : current->chains) {
        if (c.name == chain_name) {
          c.rules.emplace_back(line);
          break;
        }
      }
    }
  }
  return tables;
}

std::vector<std::string> SplitRuleArgs(absl::string_view line) {
  std::vector<std::string> args;
  std::string cur;
  bool in_word = false, quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        cur.push_back(line[++i]);
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur.push_back(ch);
      }
    } else if (ch == '"') {
      quoted = true;
      in_word = true;
    } else if (ch == ' ' || ch == '\t') {
      if (in_word) {
        args.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
    } else {
      cur.push_back(ch);
      in_word = true;
    }
  }
  if (in_word) args.push_back(std::move(cur));
  return args;
}

std::string RuleTarget(absl::string_view rule_line) {
  std::vector<std::string> args = SplitRuleArgs(rule_line);
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-j" || args[i] == "--jump" || args[i] == "-g" || args[i] == "--goto") return args[i + 1];
  }
  return "";
}

}  // namespace kproxy::backends::iptables
