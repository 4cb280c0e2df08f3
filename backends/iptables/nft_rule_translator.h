// NftRuleTranslator: turns iptables-restore --noflush input for one IP family into nf_tables
// operations whose expressions are exactly what iptables-nft 1.8.9 writes for the same rules, so
// iptables-nft-save, iptables-nft and upstream kube-proxy read them back as their own. Pure: no
// kernel, no I/O. Anything outside the supported grammar is Unimplemented (the caller then hands
// the whole input to iptables-nft-restore instead).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::iptables {

// One nf_tables expression as a value. Byte strings are what goes into the netlink attribute
// (network order for addresses and ports, host order for marks and xt structs).

// [ meta load <key> => reg 1 ] (NFT_META_* key).
struct NftMetaLoad {
  uint32_t key = 0;
  friend bool operator==(const NftMetaLoad&, const NftMetaLoad&) = default;
};
// [ payload load <length>b @ <base> header + <offset> => reg 1 ] (NFT_PAYLOAD_*_HEADER base).
struct NftPayloadLoad {
  uint32_t base = 0;
  uint32_t offset = 0;
  uint32_t length = 0;
  friend bool operator==(const NftPayloadLoad&, const NftPayloadLoad&) = default;
};
// [ bitwise reg 1 = ( reg 1 & mask ) ^ xor ]; both are as long as the register contents.
struct NftBitwise {
  std::string mask;
  std::string xor_value;
  friend bool operator==(const NftBitwise&, const NftBitwise&) = default;
};
// [ cmp eq|neq reg 1 data ].
struct NftCompare {
  bool not_equal = false;
  std::string data;
  friend bool operator==(const NftCompare&, const NftCompare&) = default;
};
// [ match name <name> rev <revision> ] with the x86_64 kernel struct as info, padded to 8 bytes.
struct NftXtMatch {
  std::string name;
  uint32_t revision = 0;
  std::string info;
  friend bool operator==(const NftXtMatch&, const NftXtMatch&) = default;
};
// [ target name <name> rev <revision> ], like NftXtMatch.
struct NftXtTarget {
  std::string name;
  uint32_t revision = 0;
  std::string info;
  friend bool operator==(const NftXtTarget&, const NftXtTarget&) = default;
};
// [ counter pkts 0 bytes 0 ]: iptables-nft puts one in every rule.
struct NftCounter {
  friend bool operator==(const NftCounter&, const NftCounter&) = default;
};
// [ immediate reg 0 <verdict> ]: NF_ACCEPT, NF_DROP, NFT_RETURN, or NFT_JUMP with `chain`.
struct NftVerdict {
  int32_t code = 0;
  std::string chain;
  friend bool operator==(const NftVerdict&, const NftVerdict&) = default;
};

using NftExpression = std::variant<NftMetaLoad, NftPayloadLoad, NftBitwise, NftCompare, NftXtMatch,
                                   NftXtTarget, NftCounter, NftVerdict>;

// `:CHAIN - [0:0]`: create the user chain if missing, else flush it.
struct NftAddOrFlushChain {
  std::string chain;
  friend bool operator==(const NftAddOrFlushChain&, const NftAddOrFlushChain&) = default;
};
// `-X CHAIN`: delete the (by then empty) user chain.
struct NftDeleteChain {
  std::string chain;
  friend bool operator==(const NftDeleteChain&, const NftDeleteChain&) = default;
};
// `-A CHAIN ...`: append one rule. `protocol` (0 = none) and `protocol_inverted` go into
// NFTA_RULE_COMPAT, which xt matches such as tcp need to pass their checks in the kernel.
struct NftAppendRule {
  std::string chain;
  std::vector<NftExpression> expressions;
  uint8_t protocol = 0;
  bool protocol_inverted = false;
  friend bool operator==(const NftAppendRule&, const NftAppendRule&) = default;
};

using NftOperationKind = std::variant<NftAddOrFlushChain, NftDeleteChain, NftAppendRule>;

// One operation with the 1-based input line it came from (for error messages).
struct NftOperation {
  std::string table;
  int line = 0;
  NftOperationKind kind;
  friend bool operator==(const NftOperation&, const NftOperation&) = default;
};

// The translated input: every table it names (so the writer can check they exist, even for an
// empty section) and its operations in input order.
struct NftTranslation {
  std::vector<std::string> tables;
  std::vector<NftOperation> operations;
};

class NftRuleTranslator {
 public:
  explicit NftRuleTranslator(proxier::IpFamily family) : family_(family) {}

  // The operations of the whole input, in input order, ready for one atomic batch. Every line
  // outside the supported grammar, including input iptables-restore itself would reject (rule
  // outside a table, missing COMMIT), gives Unimplemented naming the line number and text, so the
  // tool gets to report its own error.
  absl::StatusOr<NftTranslation> Translate(absl::Span<const absl::string_view> pieces) const;
  // The same, one operation at a time: `on_operation` gets each as its line is read, and `tables`
  // every table named. Nothing is kept, so a 10k-Service full sync is never held translated whole.
  absl::Status TranslateEach(absl::Span<const absl::string_view> pieces, std::vector<std::string>& tables,
                             const std::function<void(NftOperation&&)>& on_operation) const;
  absl::StatusOr<NftTranslation> Translate(absl::string_view input) const {
    const absl::string_view one[] = {input};
    return Translate(one);
  }

  // Splits one restore line into arguments the way iptables-restore does with double quotes.
  // Unimplemented for backslashes, single quotes and unterminated quotes.
  static absl::StatusOr<std::vector<std::string>> SplitArguments(absl::string_view line);

  // The NFPROTO_* value (NFPROTO_IPV4 / NFPROTO_IPV6) of this translator's family.
  uint8_t NfProtocolFamily() const;

 private:
  absl::StatusOr<NftAppendRule> TranslateAppend(const std::vector<std::string>& arguments) const;

  const proxier::IpFamily family_;
};

}  // namespace kproxy::backends::iptables
