#include "backends/iptables/iptables_variant.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "backends/iptables/iptables_restore_runner.h"
#include "backends/iptables/iptables_save.h"
#include "backends/iptables/subprocess.h"
#include "logging/log.h"

namespace kproxy::backends::iptables {
namespace {

struct SaveStats {
  bool has_hint = false;
  int kube_chains = 0;
  int rules = 0;
};

SaveStats Analyze(absl::string_view save) {
  SaveStats stats;
  for (absl::string_view line : absl::StrSplit(save, '\n')) {
    if (absl::StartsWith(line, ":KUBE-")) {
      ++stats.kube_chains;
      if (absl::StartsWith(line, ":KUBE-IPTABLES-HINT ") || absl::StartsWith(line, ":KUBE-KUBELET-CANARY ")) {
        stats.has_hint = true;
      }
    } else if (absl::StartsWith(line, "-A ") || absl::StartsWith(line, "[")) {
      ++stats.rules;
    }
  }
  return stats;
}

// Output of one save tool, or "" when it is missing or fails (e.g. no legacy tables module).
std::string SaveOrEmpty(const std::string& tool) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess({tool}, "", absl::Seconds(10));
  if (!r.ok() || r->exit_code != 0) return "";
  return r->stdout_text;
}

}  // namespace

absl::string_view IptablesVariantName(IptablesVariant variant) {
  switch (variant) {
    case IptablesVariant::kAuto: return "auto";
    case IptablesVariant::kLegacy: return "legacy";
    case IptablesVariant::kNft: return "nft";
  }
  return "unknown";
}

absl::StatusOr<IptablesVariant> ParseIptablesVariant(absl::string_view text) {
  if (text == "auto" || text.empty()) return IptablesVariant::kAuto;
  if (text == "legacy") return IptablesVariant::kLegacy;
  if (text == "nft") return IptablesVariant::kNft;
  return absl::InvalidArgumentError(
      absl::StrCat("iptables variant \"", text, "\": want one of auto, legacy, nft"));
}

IptablesVariant DetectVariantFromSaves(absl::string_view legacy_save, absl::string_view nft_save) {
  SaveStats legacy = Analyze(legacy_save);
  SaveStats nft = Analyze(nft_save);
  if (nft.has_hint) return IptablesVariant::kNft;
  if (legacy.has_hint) return IptablesVariant::kLegacy;
  if (legacy.kube_chains != nft.kube_chains) {
    return legacy.kube_chains > nft.kube_chains ? IptablesVariant::kLegacy : IptablesVariant::kNft;
  }
  return legacy.rules > nft.rules ? IptablesVariant::kLegacy : IptablesVariant::kNft;
}

IptablesVariant DetectVariant() {
  const bool has_legacy = IptablesRestoreRunner::ToolExists("iptables-legacy-restore");
  const bool has_nft = IptablesRestoreRunner::ToolExists("iptables-nft-restore");
  if (has_legacy != has_nft) return has_legacy ? IptablesVariant::kLegacy : IptablesVariant::kNft;
  std::string legacy = SaveOrEmpty("iptables-legacy-save") + SaveOrEmpty("ip6tables-legacy-save");
  std::string nft = SaveOrEmpty("iptables-nft-save") + SaveOrEmpty("ip6tables-nft-save");
  IptablesVariant v = DetectVariantFromSaves(legacy, nft);
  KLOG_INFO << "Detected iptables variant " << IptablesVariantName(v);
  return v;
}

}  // namespace kproxy::backends::iptables
