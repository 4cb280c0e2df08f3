#include "proxier/kube_chains.h"

#include "absl/strings/match.h"

namespace kproxy::proxier {

bool IsServiceChainName(absl::string_view chain) {
  for (absl::string_view prefix : {"KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"}) {
    if (absl::StartsWith(chain, prefix)) return true;
  }
  return false;
}

bool IsKubeProxyChain(absl::string_view table, absl::string_view chain) {
  for (absl::string_view owned :
       {kServicesChain, kPostroutingChain, kMarkMasqChain, kForwardChain, kProxyFirewallChain,
        kExternalServicesChain, kNodePortsChain, kProxyCanaryChain, kIpvsNodePortChain,
        kLoadBalancerChain, kSourceRangesFirewallChain, kIpvsFilterChain, kIpvsOutFilterChain}) {
    if (chain == owned) return true;
  }
  if (chain == kKubeletFirewallChain) return table == "nat";
  return IsServiceChainName(chain) || absl::StartsWith(chain, "KUBE-XLB-");
}

}  // namespace kproxy::proxier
