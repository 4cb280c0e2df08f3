#include "backends/iptables/iptables_cleanup.h"

#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/iptables/iptables_save.h"
#include "logging/log.h"
#include "proxier/kube_chains.h"

namespace kproxy::backends::iptables {

std::string BuildCleanupRestoreInput(Table table, absl::string_view save_output) {
  const std::string table_name(TableName(table));
  auto tables = ParseIptablesSave(save_output);
  auto it = tables.find(table_name);
  if (it == tables.end()) return "";
  std::vector<std::string> remove;
  for (const SavedChain& c : it->second.chains) {
    if (!c.builtin && proxier::IsKubeProxyChain(table_name, c.name)) remove.push_back(c.name);
  }
  absl::flat_hash_set<std::string> removing(remove.begin(), remove.end());
  std::vector<std::string> deletes;
  for (const SavedChain& c : it->second.chains) {
    if (removing.contains(c.name)) continue;
    for (const std::string& rule : c.rules) {
      std::string target = RuleTarget(rule);
      if (removing.contains(target) || (c.builtin && proxier::IsKubeProxyChain(table_name, target))) {
        // "-A CHAIN args" -> "-D CHAIN args": iptables-save quoting is what restore parses.
        deletes.push_back(absl::StrCat("-D", rule.substr(2)));
      }
    }
  }
  if (remove.empty() && deletes.empty()) return "";
  std::string out = absl::StrCat("*", table_name, "\n");
  for (const std::string& c : remove) absl::StrAppend(&out, ":", c, " - [0:0]\n");
  for (const std::string& d : deletes) absl::StrAppend(&out, d, "\n");
  for (const std::string& c : remove) absl::StrAppend(&out, "-X ", c, "\n");
  absl::StrAppend(&out, "COMMIT\n");
  return out;
}

absl::Status CleanupIptables(IptablesRunner& runner) {
  std::vector<std::string> errors;
  for (Table table : {Table::kNat, Table::kFilter, Table::kMangle}) {
    absl::StatusOr<std::string> save = runner.SaveTable(table);
    if (!save.ok()) {
      errors.push_back(absl::StrCat(TableName(table), ": ", save.status().message()));
      continue;
    }
    std::string input = BuildCleanupRestoreInput(table, *save);
    if (input.empty()) continue;
    KLOG_INFO << "Removing kube-proxy chains and jumps from " << proxier::IpFamilyName(runner.family())
              << " table " << TableName(table);
    if (absl::Status s = runner.Restore(input); !s.ok()) {
      errors.push_back(absl::StrCat(TableName(table), ": ", s.message()));
    }
  }
  if (!errors.empty()) {
    return absl::InternalError(absl::StrCat("iptables cleanup (", proxier::IpFamilyName(runner.family()),
                                            ") failed: ", absl::StrJoin(errors, "; ")));
  }
  return absl::OkStatus();
}

}  // namespace kproxy::backends::iptables
