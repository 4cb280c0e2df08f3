// The rules iptables and IPVS mode both write, rendered in one place as iptables-restore lines:
// KUBE-MARK-MASQ marks a packet for SNAT, KUBE-POSTROUTING masquerades marked packets (clearing
// the mark), KUBE-FORWARD accepts marked and established forwarded traffic. Pure.
#pragma once

#include <string>

namespace kproxy::proxier {

struct SharedRulesConfig {
  // --iptables-masquerade-bit.
  int masquerade_bit = 14;
  // The iptables binary supports MASQUERADE --random-fully.
  bool masquerade_random_fully = false;
  // Drop forwarded packets conntrack considers INVALID (iptables mode, unless
  // nf_conntrack_tcp_be_liberal is set; upstream's IPVS mode never writes it).
  bool drop_invalid_forward = false;
  // Count those drops in the nfacct counter ct_state_invalid_dropped_pkts (it exists).
  bool nfacct_counters = false;
};

class SharedRules {
 public:
  explicit SharedRules(const SharedRulesConfig& config);

  // "0x00004000" for bit 14: upstream's fmt.Sprintf("%#08x", 1<<bit) in both modes (Go pads the
  // digits to 8, then prefixes 0x). iptables-save prints it as 0x4000 either way.
  const std::string& mark() const { return mark_; }

  // Each returns the chain's complete rules, one "-A CHAIN ...\n" line each.
  std::string MarkMasqRules() const;
  std::string PostroutingRules() const;
  std::string ForwardRules() const;

 private:
  SharedRulesConfig config_;
  std::string mark_;
  std::string mark_match_;  // mark/mark
};

}  // namespace kproxy::proxier
