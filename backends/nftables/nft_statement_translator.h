// NftStatementTranslator: turns the nftables mode's rule statements (nft text) into the netlink
// expressions `nft -f` 1.0.6 writes for the same text, and set elements into key/value bytes.
// Pure: no kernel, no I/O. Text outside the grammar is Unimplemented, naming it (never guessed).
//
// The grammar is the planner's (proxier/nftables/nft_ruleset.h, S1-S32), read as: matches, then
// statements; `<concat>` is selectors joined by " . ".
//   selectors: ip|ip6 saddr|daddr, meta l4proto, meta mark, th|tcp|udp|sctp sport|dport
//              (tcp/udp/sctp add nft's implicit `meta l4proto` match), iifname, oifname,
//              numgen random mod <N>, fib saddr|daddr type, ct state, ct status,
//              ct original ip|ip6 daddr, ct original proto-dst
//   matches:   <selector> [==|!=] <value>   (addresses, CIDRs, protocols, ports, hex marks,
//                                             "name" / "prefix*" interface names, fib type
//                                             `local`, ct states/statuses `a,b`)
//              <selector> [!=] { <value>, ... }   (an anonymous set)
//              <selector> & <mask> ==|!= <value>
//              <concat> [!=] @<set>
//   statements: counter | accept | drop | return | jump <chain> | goto <chain>
//              | reject [with icmp|icmpv6|icmpx type <name>]
//              | masquerade [fully-random|random|persistent]
//              | <concat> vmap @<map>
//              | meta mark set meta mark |/or|^/xor <hex>  | meta mark set <hex>
//              | dnat [ip|ip6] to <addr>[:<port>]     (IPv6 with a port: [<addr>]:<port>)
//              | dnat [ip|ip6] to <concat> map @<map>
//              | update|add @<map> { <concat> [timeout <seconds>s] [: <concat or values>] }
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backends/nftables/nft_transaction.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::nftables {

// An anonymous set a rule brings along (`{ a, b }`): created in the same transaction as the
// rule, named "__set%d" (the kernel picks the number) and referred to by `id`.
struct NftAnonymousSet {
  uint32_t id = 0;
  NftSetSpec set;
  std::vector<NftElementSpec> elements;
  friend bool operator==(const NftAnonymousSet&, const NftAnonymousSet&) = default;
};

// One expression as a value: libnftnl's expression name and its attributes (NFTNL_EXPR_*).
struct NftExpr {
  std::string name;
  std::vector<std::pair<uint16_t, uint32_t>> numbers;
  std::vector<std::pair<uint16_t, uint64_t>> wide_numbers;  // nftnl_expr_set_u64
  std::vector<std::pair<uint16_t, uint8_t>> small_numbers;  // nftnl_expr_set_u8
  std::vector<std::pair<uint16_t, std::string>> bytes;   // nftnl_expr_set
  std::vector<std::pair<uint16_t, std::string>> strings; // nftnl_expr_set_str
  friend bool operator==(const NftExpr&, const NftExpr&) = default;
};

// A set element encoded for the kernel. Interval keys of a one-component interval set become a
// start element and, unless the range ends at the top, an end element (interval_end).
struct NftEncodedElement {
  std::string key;
  std::string key_end;            // concatenated interval sets: the inclusive end
  std::string data;               // data maps: the value bytes
  int32_t verdict = 0;            // verdict maps
  std::string verdict_chain;
  bool has_verdict = false;
  bool interval_end = false;
  std::string comment;
  friend bool operator==(const NftEncodedElement&, const NftEncodedElement&) = default;
};

// The kernel's view of a set's types.
struct NftSetLayout {
  uint32_t key_type = 0;  // nft's datatype id, concatenations folded as nft does
  uint32_t key_length = 0;
  std::vector<uint8_t> field_lengths;  // per key component (concatenated interval sets)
  bool is_map = false;
  bool verdict_map = false;
  uint32_t data_type = 0;
  uint32_t data_length = 0;
  uint32_t flags = 0;  // NFT_SET_*
};

class NftStatementTranslator {
 public:
  NftStatementTranslator(proxier::IpFamily family, const std::vector<NftSetSpec>& sets);

  // The expressions of one rule, and the anonymous sets it needs (numbered from
  // `first_anonymous_set_id` on; `anonymous_sets` may be null when the caller knows there are none).
  absl::StatusOr<std::vector<NftExpr>> TranslateRule(
      absl::string_view statement, uint32_t first_anonymous_set_id = 1,
      std::vector<NftAnonymousSet>* anonymous_sets = nullptr) const;

  // The kernel elements of `element` in `set`.
  absl::StatusOr<std::vector<NftEncodedElement>> EncodeElement(const NftSetSpec& set,
                                                               const NftElementSpec& element) const;

  static absl::StatusOr<NftSetLayout> Layout(const NftSetSpec& set);

  uint8_t NfProtocolFamily() const;

 private:
  const NftSetSpec* FindSet(absl::string_view name) const;

  const proxier::IpFamily family_;
  absl::flat_hash_map<std::string, NftSetSpec> sets_;
};

}  // namespace kproxy::backends::nftables
