// IptablesVariant: which iptables backend (legacy xtables or nf_tables) the node's other components
// use, chosen the way upstream's images (iptables-wrapper) choose it.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kproxy::backends::iptables {

enum class IptablesVariant { kAuto, kLegacy, kNft };

// "auto" / "legacy" / "nft".
absl::string_view IptablesVariantName(IptablesVariant variant);
absl::StatusOr<IptablesVariant> ParseIptablesVariant(absl::string_view text);

// The wrapper's decision from the two save outputs (IPv4 and IPv6 concatenated per variant):
// a variant holding kubelet's hint chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY) wins, nft first;
// else the one with more KUBE-* chains, else the one with more rules; ties go to nft.
IptablesVariant DetectVariantFromSaves(absl::string_view legacy_save, absl::string_view nft_save);

// Runs {ip,ip6}tables-{legacy,nft}-save and applies DetectVariantFromSaves. A tool that is missing
// or fails counts as empty; when only one variant's tools exist, that one.
IptablesVariant DetectVariant();

}  // namespace kproxy::backends::iptables
