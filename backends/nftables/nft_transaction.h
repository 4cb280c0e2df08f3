// NftTransaction: the operations of one nf_tables transaction on the nftables mode's table of one
// family, as values (what NftablesWriter applies atomically and the fake records). Rules are nft
// statement text in the grammar NftStatementTranslator documents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::nftables {

// A base chain's hook: `type <type> hook <hook> priority <priority>; policy accept;`.
struct NftHook {
  std::string type;  // "nat", "filter"
  std::string hook;  // "prerouting", "input", "forward", "output", "postrouting"
  int priority = 0;
  friend bool operator==(const NftHook&, const NftHook&) = default;
};

// A set (no value types) or a map. Key and value components by nft type name: ipv4_addr,
// ipv6_addr, inet_proto, inet_service, mark, ifname, verdict (a verdict map).
struct NftSetSpec {
  std::string name;
  std::string comment;
  std::vector<std::string> key_types;
  std::vector<std::string> value_types;
  bool interval = false;
  bool timeout = false;
  absl::Duration default_timeout;  // zero: none
  // Declared as `typeof numgen random mod <N> : ip|ip6 daddr . <proto> dport` (the planner's endpoint
  // maps): nft needs that declaration in the set's userdata to list the set back the same way.
  uint32_t typeof_numgen_modulus = 0;  // 0: not such a map
  std::string typeof_port_protocol = "th";  // the value's port field: th, tcp, udp or sctp
  friend bool operator==(const NftSetSpec&, const NftSetSpec&) = default;
};

// One element, nft text per component: keys "10.96.0.10", "tcp", "80", an interval "0-360359" or
// a prefix "10.0.0.0/8"; values "10.244.1.2", "8080" or one verdict "goto service-X" / "drop".
struct NftElementSpec {
  std::vector<std::string> key;
  std::vector<std::string> value;
  std::string comment;
  friend bool operator==(const NftElementSpec&, const NftElementSpec&) = default;
};

struct NftAddTable {  // create if missing (keeps what is in it)
  std::string comment;
  friend bool operator==(const NftAddTable&, const NftAddTable&) = default;
};
struct NftDeleteTable {
  friend bool operator==(const NftDeleteTable&, const NftDeleteTable&) = default;
};
struct NftAddChain {  // create if missing (keeps its rules)
  std::string name;
  std::string comment;
  std::optional<NftHook> hook;
  friend bool operator==(const NftAddChain&, const NftAddChain&) = default;
};
struct NftFlushChain {
  std::string name;
  friend bool operator==(const NftFlushChain&, const NftFlushChain&) = default;
};
struct NftDeleteChain {  // the chain must be empty and unreferenced once the batch commits
  std::string name;
  friend bool operator==(const NftDeleteChain&, const NftDeleteChain&) = default;
};
struct NftAddRule {  // appended to the chain
  std::string chain;
  std::string statement;
  std::string comment;
  friend bool operator==(const NftAddRule&, const NftAddRule&) = default;
};
struct NftAddSet {  // create if missing; an existing set must have the same types and flags
  NftSetSpec set;
  friend bool operator==(const NftAddSet&, const NftAddSet&) = default;
};
struct NftDeleteSet {
  std::string name;
  friend bool operator==(const NftDeleteSet&, const NftDeleteSet&) = default;
};
struct NftFlushSet {
  std::string name;
  friend bool operator==(const NftFlushSet&, const NftFlushSet&) = default;
};
struct NftAddElements {  // an element that exists is an error (EEXIST), as `nft create element`
  std::string set;
  std::vector<NftElementSpec> elements;
  friend bool operator==(const NftAddElements&, const NftAddElements&) = default;
};
struct NftDeleteElements {  // matched by key; a missing element is an error (ENOENT)
  std::string set;
  std::vector<NftElementSpec> elements;
  friend bool operator==(const NftDeleteElements&, const NftDeleteElements&) = default;
};

using NftOperation =
    std::variant<NftAddTable, NftDeleteTable, NftAddChain, NftFlushChain, NftDeleteChain,
                 NftAddRule, NftAddSet, NftDeleteSet, NftFlushSet, NftAddElements,
                 NftDeleteElements>;

// One transaction on table `table` of one family. Sets a rule refers to must be declared in
// `sets` (those already in the kernel too): the translator needs their key and value types.
struct NftTransaction {
  proxier::IpFamily family = proxier::IpFamily::kIPv4;
  std::string table = "kube-proxy";
  std::vector<NftSetSpec> sets;  // every set/map the rules of this transaction look up
  std::vector<NftOperation> operations;
};

}  // namespace kproxy::backends::nftables
