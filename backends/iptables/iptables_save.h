// Parsing of iptables-save output: the chains and rules of each table, as the runner, the cleanup
// and the variant detection read them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kproxy::backends::iptables {

struct SavedChain {
  std::string name;
  bool builtin = false;                   // ":INPUT ACCEPT [0:0]" (a policy) vs ":KUBE-X - [0:0]"
  std::vector<std::string> rules;         // the "-A CHAIN ..." lines, without counters prefix
};

struct SavedTable {
  std::string name;
  std::vector<SavedChain> chains;         // in save order
  const SavedChain* Find(absl::string_view chain) const;
};

// Splits iptables-save output into tables ("*nat" ... "COMMIT"). Comments and blank lines are
// skipped; "[pkts:bytes]" counter prefixes of rules (from -c) are removed.
std::map<std::string, SavedTable> ParseIptablesSave(absl::string_view save_output);

// Splits one rule line into arguments as iptables-save quotes them ("--comment \"a b\"").
std::vector<std::string> SplitRuleArgs(absl::string_view line);

// The jump/goto target of a rule ("-j KUBE-SERVICES" -> "KUBE-SERVICES"), empty if none.
std::string RuleTarget(absl::string_view rule_line);

}  // namespace kproxy::backends::iptables
