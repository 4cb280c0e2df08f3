#include "proxier/shared_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proxier/kube_chains.h"

namespace kproxy::proxier {

SharedRules::SharedRules(const SharedRulesConfig& config)
    : config_(config),
      mark_(absl::StrFormat("0x%08x", 1u << config.masquerade_bit)),
      mark_match_(absl::StrCat(mark_, "/", mark_)) {}

std::string SharedRules::MarkMasqRules() const {
  return absl::StrCat("-A ", kMarkMasqChain, " -j MARK --or-mark ", mark_, "\n");
}

std::string SharedRules::PostroutingRules() const {
  return absl::StrCat(
      "-A ", kPostroutingChain, " -m mark ! --mark ", mark_match_, " -j RETURN\n",
      // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
      "-A ", kPostroutingChain, " -j MARK --xor-mark ", mark_, "\n",  //
      "-A ", kPostroutingChain,
      " -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE",
      config_.masquerade_random_fully ? " --random-fully" : "", "\n");
}

std::string SharedRules::ForwardRules() const {
  std::string out;
  if (config_.drop_invalid_forward) {
    absl::StrAppend(&out, "-A ", kForwardChain, " -m conntrack --ctstate INVALID",
                    config_.nfacct_counters ? " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts"
                                            : "",
                    " -j DROP\n");
  }
  // Marked traffic is accepted even when the FORWARD policy is DROP, so NodePorts forward.
  absl::StrAppend(&out, "-A ", kForwardChain,
                  " -m comment --comment \"kubernetes forwarding rules\" -m mark --mark ",
                  mark_match_, " -j ACCEPT\n");
  absl::StrAppend(&out, "-A ", kForwardChain,
                  " -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack "
                  "--ctstate RELATED,ESTABLISHED -j ACCEPT\n");
  return out;
}

}  // namespace kproxy::proxier
