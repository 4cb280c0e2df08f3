// NftRuleset: the desired content of one `kube-proxy` nftables table (family ip or ip6) as plain
// values: chains with their rules as nft statement text, sets/maps and their elements. The planner
// produces it, the renderer prints it for `nft -f`, the diff turns two of them into one sync's
// change, and the nftables writer (backends/nftables) translates it into netlink messages.
//
// THE STATEMENT GRAMMAR. Every NftRule::statement the planner emits is one of the forms below,
// written exactly so (single spaces, no trailing space); `nft -f` accepts each as is and `nft list`
// prints it back the same way. <ipx> is "ip" (family kIp) or "ip6" (kIp6); <proto> is tcp|udp|sctp;
// <chain>/<set> are names of this table; <mark> is "0x%08x" (e.g. 0x00004000); <addr> an address,
// <cidr> an address or prefix, <port> a decimal port; <cidrs> one <cidr>, or several as
// "{ <cidr>, <cidr>, ... }" (sorted by address, none inside another, as `nft list` prints them);
// <loopback> is 127.0.0.0/8 or ::1;
// <local> is a local-traffic match, one of "<ipx> saddr <cidr>", "iifname \"<name>\"",
// "iifname \"<prefix>*\"", and <not-local> its negation with "!=" after the field.
//
//   S1  jump <chain>
//   S2  goto <chain>
//   S3  ct state new jump <chain>
//   S4  ct state new ct status dnat jump <chain>
//   S5  meta mark set meta mark | <mark>
//   S6  meta mark & <mark> == 0x00000000 return
//   S7  meta mark set meta mark ^ <mark>
//   S8  masquerade fully-random
//   S9  ct status dnat <ipx> saddr . <ipx> daddr . meta l4proto . th dport @<set> jump <chain>
//   S10 <ipx> daddr . meta l4proto . th dport vmap @<map>
//   S11 <ipx> daddr @<set> meta l4proto . th dport vmap @<map>
//   S12 fib daddr type local <ipx> daddr != <loopback> meta l4proto . th dport vmap @<map>
//   S13 <ipx> daddr . meta l4proto . th dport @<set> reject
//   S14 <ipx> daddr . meta l4proto . th dport @<set> drop
//   S15 <ipx> daddr @<set> meta l4proto . th dport @<set> reject        (also with drop)
//   S16 <ipx> daddr != <loopback> meta l4proto . th dport @<set> reject  (also with drop)
//   S17 <ipx> daddr @<set> reject
//   S18 <ipx> daddr <cidrs> drop
//   S19 <ipx> daddr <addr> <proto> dport <port> jump <chain>
//   S20 <ipx> daddr <addr> <proto> dport <port> <not-local> jump <chain>
//   S21 <local> goto <chain>
//   S22 fib saddr type local jump <chain>
//   S23 fib saddr type local goto <chain>
//   S24 <ipx> saddr != <cidrs> drop
//   S25 drop
//   S26 meta l4proto <proto> dnat <ipx> to <ipx> saddr map @<map>
//   S27 meta l4proto <proto> dnat <ipx> to numgen random mod 720720 map @<map>
//   S28 meta l4proto { tcp, udp, sctp } ct original <ipx> daddr . meta l4proto .
//         ct original proto-dst vmap @<map>
//   S29 meta l4proto { tcp, udp, sctp } ct original <ipx> daddr @<set> meta l4proto .
//         ct original proto-dst vmap @<map>
//   S30 meta l4proto { tcp, udp, sctp } ct original <ipx> daddr != <loopback> meta l4proto .
//         ct original proto-dst vmap @<map>
//   S31 update @<map> { <ipx> saddr : <ipx> daddr . th dport }
//   S32 <ipx> daddr . meta l4proto . th dport @<set> update @<map> { <ipx> saddr : <ipx> daddr .
//         th dport }
//   (S28-S30 and S32 are one line each; they are wrapped here only.)
//   IPv6 session affinity keeps the endpoint's address and port in two maps (nft 1.0.6 aborts on
//   S31 with ip6), so in family ip6 S26, S31 and S32 are replaced by:
//   S33 meta l4proto <proto> dnat to ip6 saddr map @<map>:ip6 saddr map @<map>
//   S34 update @<map> { ip6 saddr : ip6 daddr }
//   S35 update @<map> { ip6 saddr : th dport }
//   S36 ip6 daddr . meta l4proto . th dport @<set> update @<map> { ip6 saddr : ip6 daddr }
//   S37 ip6 daddr . meta l4proto . th dport @<set> update @<map> { ip6 saddr : th dport }
//
// Set/map declarations use the key/value type names ipv4_addr, ipv6_addr, inet_proto,
// inet_service, verdict; the endpoint maps are declared with `typeof` (NftSet::use_typeof):
// key "numgen random mod 720720" (a 32-bit integer in the kernel), value "<ipx> daddr . <proto>
// dport" (ipv4_addr/ipv6_addr . inet_service in the kernel; "th dport" would break nft 1.0.6).
// Element texts: addresses, "tcp"/"udp"/"sctp", decimal ports, an interval "A-B" of numgen
// slots, verdicts "goto <chain>" (only in maps whose value type is verdict, which change only
// when a Service does).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace kproxy::proxier::nftables {

enum class NftFamily { kIp, kIp6 };  // table family: "ip" / "ip6"

inline constexpr char kTableName[] = "kube-proxy";
// Every endpoint map is indexed by `numgen random mod kNumgenModulus`: divisible by every count
// up to 16, so endpoint shares stay exact while the DNAT rule never changes with the endpoints.
inline constexpr int kNumgenModulus = 720720;

// "ip" / "ip6".
inline const char* FamilyName(NftFamily family) { return family == NftFamily::kIp ? "ip" : "ip6"; }

// A base chain's hook: `type <type> hook <hook> priority <priority>; policy accept;`.
struct NftBaseHook {
  std::string type;  // "filter" | "nat"
  std::string hook;  // "prerouting" | "input" | "forward" | "output" | "postrouting"
  int priority = 0;  // a number (nft 1.0.6 rejects "dstnat" for a nat chain on output)
  friend bool operator==(const NftBaseHook&, const NftBaseHook&) = default;
};

// A set (no value type) or a map (data values, or verdicts for a vmap).
struct NftSet {
  std::string name;
  std::string comment;
  // Without use_typeof: nft type names, concatenated with " . " ({"ipv4_addr", "inet_proto",
  // "inet_service"}). With use_typeof: nft expressions ({"numgen random mod 720720"} key,
  // {"ip daddr", "tcp dport"} value), declared as `typeof <key> : <value>`.
  std::vector<std::string> key_types;
  std::vector<std::string> value_types;  // empty: a set; {"verdict"}: a vmap; else a data map
  bool use_typeof = false;
  bool interval = false;  // flags interval
  bool timeout = false;   // flags dynamic,timeout: filled by the packet path (session affinity)
  absl::Duration default_timeout = absl::ZeroDuration();  // 0 = none; whole seconds
  // Dynamic sets only: the map whose values this set's values point into (the endpoints map of
  // the same Service). When a value of that map disappears (an endpoint removed or no longer
  // used), the diff flushes this set so no client stays stuck to a gone endpoint.
  std::string flush_when_values_leave;
  friend bool operator==(const NftSet&, const NftSet&) = default;
};

// One element, nft text per component.
struct NftElement {
  std::vector<std::string> key;    // {"10.96.0.10", "tcp", "80"}; an interval component "0-360359"
  std::vector<std::string> value;  // {"10.244.1.2", "8080"} or {"goto service-..."}; empty: a set
  std::string comment;
  friend bool operator==(const NftElement&, const NftElement&) = default;
};

struct NftRule {
  std::string statement;  // one form of the grammar above
  std::string comment;    // rendered as `comment "<comment>"`; empty: none
  friend bool operator==(const NftRule&, const NftRule&) = default;
};

struct NftChain {
  std::string name;
  std::string comment;
  std::optional<NftBaseHook> base;  // set for base chains
  std::vector<NftRule> rules;
  friend bool operator==(const NftChain&, const NftChain&) = default;
};

// One table `kube-proxy` of one family, complete. Chains and sets are sorted by name; each set's
// elements are in the planner's deterministic order with unique keys; every set has an entry in
// `elements` only when it has elements.
struct NftRuleset {
  NftFamily family = NftFamily::kIp;
  std::string comment = "rules for kube-proxy";
  std::vector<NftChain> chains;
  std::vector<NftSet> sets;                                  // sets and maps
  std::map<std::string, std::vector<NftElement>> elements;   // by set/map name
  // Never set by the planner: chains a previous sync flushed because no Service wants them any
  // more; the next diff deletes them (a chain is flushed in one transaction and deleted in a later
  // one, as upstream does, so nothing can still refer to it).
  std::vector<std::string> stale_chains;

  const NftChain* FindChain(const std::string& name) const;
  const NftSet* FindSet(const std::string& name) const;
  friend bool operator==(const NftRuleset&, const NftRuleset&) = default;
};

// What one sync sends to move the table from a previous ruleset to a desired one, computed purely
// by DiffNftRulesets. Apply in one transaction, in this order:
//   1. add the table (create_table)
//   2. flush chains_to_refill and chains_to_flush (their rules release the sets and chains they
//      refer to)
//   3. delete sets_to_delete
//   4. add sets_to_add, then chains_to_add (empty, so rules may refer to any of them)
//   5. delete elements_to_delete, flush sets_to_flush, then add elements_to_add
//   6. add the rules of chains_to_refill and chains_to_add
//   7. delete chains_to_delete
// An element whose value or comment changed appears in elements_to_delete and elements_to_add. A
// set whose declaration changed appears in sets_to_delete and sets_to_add (with all its elements
// in elements_to_add), and every chain with a rule referring to it is in chains_to_refill.
struct NftChange {
  NftFamily family = NftFamily::kIp;
  bool create_table = false;  // the previous ruleset was empty (first sync)
  std::vector<NftSet> sets_to_add;
  std::vector<NftChain> chains_to_add;      // with their rules (added after all chains exist)
  std::vector<NftChain> chains_to_refill;   // existing chains whose rules differ (or that refer
                                            // to a recreated set): flushed, then refilled
  std::vector<std::string> chains_to_flush; // no longer wanted: flushed now, deleted next sync
  std::vector<std::string> chains_to_delete;  // flushed by an earlier sync and still unwanted
  std::vector<std::string> sets_to_delete;  // no longer wanted, or recreated
  std::vector<std::string> sets_to_flush;   // dynamic maps whose endpoints left
  std::map<std::string, std::vector<NftElement>> elements_to_delete;  // by set name
  std::map<std::string, std::vector<NftElement>> elements_to_add;     // by set name

  // No chain, rule or set changes: only elements (and dynamic-set flushes).
  bool OnlyElements() const {
    return !create_table && sets_to_add.empty() && chains_to_add.empty() &&
           chains_to_refill.empty() && chains_to_flush.empty() && chains_to_delete.empty() &&
           sets_to_delete.empty();
  }
  bool empty() const {
    return OnlyElements() && sets_to_flush.empty() && elements_to_delete.empty() &&
           elements_to_add.empty();
  }
};

}  // namespace kproxy::proxier::nftables
