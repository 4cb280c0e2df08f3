#include "backends/nftables/nft_statement_translator.h"

#include <arpa/inet.h>
#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kproxy::backends::nftables {
namespace {

// nft's datatype ids (src/datatype.h); a concatenation folds them 6 bits at a time.
constexpr uint32_t kTypeVerdict = 1;
constexpr uint32_t kTypeInteger = 4;
constexpr uint32_t kTypeIpv4 = 7;
constexpr uint32_t kTypeIpv6 = 8;
constexpr uint32_t kTypeInetProto = 12;
constexpr uint32_t kTypeInetService = 13;
constexpr uint32_t kTypeMark = 19;
constexpr uint32_t kTypeIfname = 41;

struct TypeInfo {
  uint32_t id = 0;
  uint32_t length = 0;  // bytes
  bool host_order = false;
};

std::optional<TypeInfo> TypeByName(absl::string_view name) {
  if (name == "ipv4_addr") return TypeInfo{kTypeIpv4, 4, false};
  if (name == "ipv6_addr") return TypeInfo{kTypeIpv6, 16, false};
  if (name == "inet_proto") return TypeInfo{kTypeInetProto, 1, false};
  if (name == "inet_service") return TypeInfo{kTypeInetService, 2, false};
  if (name == "mark") return TypeInfo{kTypeMark, 4, true};
  if (name == "integer") return TypeInfo{kTypeInteger, 4, true};
  if (name == "ifname") return TypeInfo{kTypeIfname, 16, false};
  return std::nullopt;
}

uint32_t Padded(uint32_t length) { return (length + 3) / 4 * 4; }

absl::Status Unsupported(absl::string_view what, absl::string_view statement) {
  return absl::UnimplementedError(
      absl::StrCat("nftables writer: ", what, " in rule \"", statement, "\""));
}

std::string HostU32(uint32_t value) {
  std::string bytes(4, '\0');
  std::memcpy(bytes.data(), &value, 4);
  return bytes;
}
std::string BigU32(uint32_t value) { return HostU32(htonl(value)); }

// The register that holds the part of a value that starts `offset` bytes into it, for a value
// whose first byte is in 16-byte register `base` (NFT_REG_1...): nft names the first part by the
// 16-byte register and the others by 32-bit registers.
uint32_t RegisterAt(uint32_t base, uint32_t offset) {
  if (offset == 0) return base;
  return NFT_REG32_00 + (base - NFT_REG_1) * 4 + offset / 4;
}

std::optional<uint8_t> ProtocolNumber(absl::string_view text) {
  if (text == "tcp") return 6;
  if (text == "udp") return 17;
  if (text == "sctp") return 132;
  if (text == "icmp") return 1;
  if (text == "icmpv6") return 58;
  uint32_t number = 0;
  if (absl::SimpleAtoi(text, &number) && number < 256) return static_cast<uint8_t>(number);
  return std::nullopt;
}

std::optional<uint32_t> ParseInteger(absl::string_view text) {
  uint32_t value = 0;
  if (absl::ConsumePrefix(&text, "0x")) {
    if (absl::SimpleHexAtoi(text, &value)) return value;
    return std::nullopt;
  }
  if (absl::SimpleAtoi(text, &value)) return value;
  return std::nullopt;
}

// The bytes of one scalar of `type` (network or host order, as nft stores it, unpadded).
std::optional<std::string> ScalarBytes(absl::string_view type, absl::string_view text) {
  if (type == "ipv4_addr") {
    in_addr address{};
    if (inet_pton(AF_INET, std::string(text).c_str(), &address) != 1) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(&address), 4);
  }
  if (type == "ipv6_addr") {
    in6_addr address{};
    if (inet_pton(AF_INET6, std::string(text).c_str(), &address) != 1) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(&address), 16);
  }
  if (type == "inet_proto") {
    auto number = ProtocolNumber(text);
    if (!number) return std::nullopt;
    return std::string(1, static_cast<char>(*number));
  }
  if (type == "inet_service") {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(text, &port) || port > 65535) return std::nullopt;
    const uint16_t network = htons(static_cast<uint16_t>(port));
    return std::string(reinterpret_cast<const char*>(&network), 2);
  }
  if (type == "mark" || type == "integer") {
    auto value = ParseInteger(text);
    if (!value) return std::nullopt;
    return HostU32(*value);
  }
  if (type == "ifname") {
    std::string name(absl::StripPrefix(absl::StripSuffix(text, "\""), "\""));
    if (name.size() >= 16) return std::nullopt;
    name.resize(16, '\0');
    return name;
  }
  return std::nullopt;
}

// Big-endian arithmetic on a key's bytes (interval ends).
void Increment(std::string& bytes) {
  for (size_t i = bytes.size(); i-- > 0;) {
    if (++reinterpret_cast<unsigned char&>(bytes[i]) != 0) return;
  }
}
bool AllOnes(const std::string& bytes) {
  for (char c : bytes) {
    if (static_cast<unsigned char>(c) != 0xff) return false;
  }
  return true;
}
std::string Reversed(std::string bytes) {
  std::reverse(bytes.begin(), bytes.end());
  return bytes;
}

// [start, end] (inclusive, in the order the kernel compares: big-endian) of one interval component:
// "a-b", "addr/len" or a single value.
absl::StatusOr<std::pair<std::string, std::string>> IntervalBytes(absl::string_view type,
                                                                  absl::string_view text) {
  const TypeInfo info = *TypeByName(type);
  auto scalar = [&](absl::string_view part) -> absl::StatusOr<std::string> {
    auto bytes = ScalarBytes(type, part);
    if (!bytes) return absl::InvalidArgumentError(absl::StrCat("not a ", type, ": ", part));
    // Host-order values are kept big-endian in interval sets (the rule converts, as nft does).
    return info.host_order ? Reversed(*bytes) : *bytes;
  };
  if (size_t slash = text.find('/'); slash != absl::string_view::npos &&
                                     (type == "ipv4_addr" || type == "ipv6_addr")) {
    auto start = scalar(text.substr(0, slash));
    if (!start.ok()) return start.status();
    uint32_t prefix = 0;
    if (!absl::SimpleAtoi(text.substr(slash + 1), &prefix) || prefix > info.length * 8) {
      return absl::InvalidArgumentError(absl::StrCat("bad prefix: ", text));
    }
    std::string end = *start;
    for (uint32_t bit = prefix; bit < info.length * 8; ++bit) {
      start->at(bit / 8) &= static_cast<char>(~(0x80 >> (bit % 8)));
      end[bit / 8] |= static_cast<char>(0x80 >> (bit % 8));
    }
    return std::make_pair(*start, end);
  }
  // A range "a-b" (IPv6 addresses have no '-').
  if (size_t dash = text.find('-'); dash != absl::string_view::npos && dash > 0) {
    auto start = scalar(text.substr(0, dash));
    auto end = scalar(text.substr(dash + 1));
    if (!start.ok()) return start.status();
    if (!end.ok()) return end.status();
    return std::make_pair(*start, *end);
  }
  auto single = scalar(text);
  if (!single.ok()) return single.status();
  return std::make_pair(*single, *single);
}

// Parses "accept", "drop", "return", "jump X", "goto X".
std::optional<std::pair<int32_t, std::string>> ParseVerdict(absl::string_view text) {
  std::vector<absl::string_view> words = absl::StrSplit(text, ' ', absl::SkipEmpty());
  if (words.size() == 1) {
    if (words[0] == "accept") return std::make_pair(int32_t{NF_ACCEPT}, std::string());
    if (words[0] == "drop") return std::make_pair(int32_t{NF_DROP}, std::string());
    if (words[0] == "return") return std::make_pair(int32_t{NFT_RETURN}, std::string());
    if (words[0] == "continue") return std::make_pair(int32_t{NFT_CONTINUE}, std::string());
  }
  if (words.size() == 2 && words[0] == "jump") return std::make_pair(int32_t{NFT_JUMP}, std::string(words[1]));
  if (words.size() == 2 && words[0] == "goto") return std::make_pair(int32_t{NFT_GOTO}, std::string(words[1]));
  return std::nullopt;
}

NftExpr Expr(std::string name) { return NftExpr{std::move(name), {}, {}, {}, {}, {}}; }

NftExpr Compare(uint32_t op, std::string data) {
  NftExpr e = Expr("cmp");
  e.numbers = {{NFTNL_EXPR_CMP_SREG, NFT_REG_1}, {NFTNL_EXPR_CMP_OP, op}};
  e.bytes = {{NFTNL_EXPR_CMP_DATA, std::move(data)}};
  return e;
}

NftExpr Bitwise(uint32_t dreg, std::string mask, std::string xor_value) {
  NftExpr e = Expr("bitwise");
  e.numbers = {{NFTNL_EXPR_BITWISE_SREG, dreg},
               {NFTNL_EXPR_BITWISE_DREG, dreg},
               {NFTNL_EXPR_BITWISE_LEN, static_cast<uint32_t>(mask.size())}};
  e.bytes = {{NFTNL_EXPR_BITWISE_MASK, std::move(mask)},
             {NFTNL_EXPR_BITWISE_XOR, std::move(xor_value)}};
  return e;
}

NftExpr Verdict(int32_t code, const std::string& chain) {
  NftExpr e = Expr("immediate");
  e.numbers = {{NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT},
               {NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(code)}};
  if (!chain.empty()) e.strings = {{NFTNL_EXPR_IMM_CHAIN, chain}};
  return e;
}

NftExpr Immediate(uint32_t dreg, std::string data) {
  NftExpr e = Expr("immediate");
  e.numbers = {{NFTNL_EXPR_IMM_DREG, dreg}};
  e.bytes = {{NFTNL_EXPR_IMM_DATA, std::move(data)}};
  return e;
}

NftExpr MetaLoad(uint32_t key, uint32_t dreg) {
  NftExpr e = Expr("meta");
  e.numbers = {{NFTNL_EXPR_META_KEY, key}, {NFTNL_EXPR_META_DREG, dreg}};
  return e;
}

NftExpr PayloadLoad(uint32_t base, uint32_t offset, uint32_t length, uint32_t dreg) {
  NftExpr e = Expr("payload");
  e.numbers = {{NFTNL_EXPR_PAYLOAD_DREG, dreg},
               {NFTNL_EXPR_PAYLOAD_BASE, base},
               {NFTNL_EXPR_PAYLOAD_OFFSET, offset},
               {NFTNL_EXPR_PAYLOAD_LEN, length}};
  return e;
}

// A selector: what it loads, how long and in which byte order, and the value type of its matches.
struct Selector {
  enum Kind { kPayload, kMeta, kNumgen, kFib, kCt } kind = kPayload;
  uint32_t base = 0, offset = 0, key = 0, modulus = 0;
  uint32_t fib_flags = NFTA_FIB_F_DADDR;
  bool ct_original = false;  // ct original ...: the original direction
  uint32_t length = 0;
  bool host_order = false;
  std::string type;               // value type for parsing: ipv4_addr, ..., fib_type, ct_state
  std::optional<uint8_t> needs_protocol;  // tcp/udp/sctp dport: nft's implicit l4proto match
  bool bitmask = false;           // ct state/status: match by bits

  NftExpr Load(uint32_t dreg) const {
    switch (kind) {
      case kPayload: return PayloadLoad(base, offset, length, dreg);
      case kMeta: return MetaLoad(key, dreg);
      case kNumgen: {
        NftExpr e = Expr("numgen");
        e.numbers = {{NFTNL_EXPR_NG_DREG, dreg},
                     {NFTNL_EXPR_NG_MODULUS, modulus},
                     {NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM}};
        return e;
      }
      case kFib: {
        NftExpr e = Expr("fib");
        e.numbers = {{NFTNL_EXPR_FIB_DREG, dreg},
                     {NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE},
                     {NFTNL_EXPR_FIB_FLAGS, fib_flags}};
        return e;
      }
      case kCt: {
        NftExpr e = Expr("ct");
        e.numbers = {{NFTNL_EXPR_CT_DREG, dreg}, {NFTNL_EXPR_CT_KEY, key}};
        if (ct_original) e.small_numbers = {{NFTNL_EXPR_CT_DIR, 0}};  // IP_CT_DIR_ORIGINAL
        return e;
      }
    }
    return Expr("invalid");
  }
};

// Reads tokens as a cursor.
class Tokens {
 public:
  explicit Tokens(absl::string_view text) : words_(absl::StrSplit(text, ' ', absl::SkipEmpty())) {}
  bool done() const { return at_ >= words_.size(); }
  absl::string_view peek(size_t ahead = 0) const {
    return at_ + ahead < words_.size() ? words_[at_ + ahead] : absl::string_view();
  }
  absl::string_view next() { return done() ? absl::string_view() : words_[at_++]; }
  bool accept(absl::string_view word) {
    if (peek() != word) return false;
    ++at_;
    return true;
  }

 private:
  std::vector<absl::string_view> words_;
  size_t at_ = 0;
};

}  // namespace

NftStatementTranslator::NftStatementTranslator(proxier::IpFamily family,
                                               const std::vector<NftSetSpec>& sets)
    : family_(family) {
  for (const NftSetSpec& set : sets) sets_[set.name] = set;
}

uint8_t NftStatementTranslator::NfProtocolFamily() const {
  return family_ == proxier::IpFamily::kIPv6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

const NftSetSpec* NftStatementTranslator::FindSet(absl::string_view name) const {
  auto it = sets_.find(name);
  return it == sets_.end() ? nullptr : &it->second;
}

absl::StatusOr<NftSetLayout> NftStatementTranslator::Layout(const NftSetSpec& set) {
  NftSetLayout layout;
  if (set.key_types.empty()) return absl::InvalidArgumentError(absl::StrCat("set ", set.name, " has no key type"));
  for (const std::string& name : set.key_types) {
    auto type = TypeByName(name);
    if (!type) return absl::UnimplementedError(absl::StrCat("set ", set.name, ": key type ", name));
    layout.key_type = (layout.key_type << 6) | type->id;
    layout.key_length += set.key_types.size() > 1 ? Padded(type->length) : type->length;
    layout.field_lengths.push_back(static_cast<uint8_t>(type->length));
  }
  if (set.interval) layout.flags |= NFT_SET_INTERVAL;
  // Timeout sets are filled by the packet path (`flags dynamic,timeout`).
  if (set.timeout) layout.flags |= NFT_SET_TIMEOUT | NFT_SET_EVAL;
  if (set.interval && set.key_types.size() > 1) layout.flags |= NFT_SET_CONCAT;
  if (!set.value_types.empty()) {
    layout.is_map = true;
    layout.flags |= NFT_SET_MAP;
    if (set.value_types.size() == 1 && set.value_types[0] == "verdict") {
      layout.verdict_map = true;
      layout.data_type = NFT_DATA_VERDICT;
    } else {
      for (const std::string& name : set.value_types) {
        auto type = TypeByName(name);
        if (!type) return absl::UnimplementedError(absl::StrCat("map ", set.name, ": value type ", name));
        layout.data_type = (layout.data_type << 6) | type->id;
        layout.data_length += set.value_types.size() > 1 ? Padded(type->length) : type->length;
      }
    }
  }
  return layout;
}

absl::StatusOr<std::vector<NftEncodedElement>> NftStatementTranslator::EncodeElement(
    const NftSetSpec& set, const NftElementSpec& element) const {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("element {", absl::StrJoin(element.key, " . "),
                                                   "} of ", set.name, ": ", why));
  };
  if (element.key.size() != set.key_types.size()) return fail("wrong number of key components");
  const bool concat = set.key_types.size() > 1;
  NftEncodedElement first;
  first.comment = element.comment;
  std::string start, end;
  for (size_t i = 0; i < element.key.size(); ++i) {
    const std::string& type = set.key_types[i];
    if (!TypeByName(type)) return fail(absl::StrCat("key type ", type));
    if (set.interval) {
      auto range = IntervalBytes(type, element.key[i]);
      if (!range.ok()) return fail(range.status().message());
      std::string a = range->first, b = range->second;
      if (concat) {
        a.resize(Padded(a.size()), '\0');
        b.resize(Padded(b.size()), '\0');
      }
      start += a;
      end += b;
    } else {
      auto bytes = ScalarBytes(type, element.key[i]);
      if (!bytes) return fail(absl::StrCat("not a ", type, ": ", element.key[i]));
      if (concat) bytes->resize(Padded(bytes->size()), '\0');
      start += *bytes;
    }
  }
  first.key = start;
  if (!set.value_types.empty()) {
    if (set.value_types.size() == 1 && set.value_types[0] == "verdict") {
      if (element.value.size() != 1) return fail("a verdict map element needs one verdict");
      auto verdict = ParseVerdict(element.value[0]);
      if (!verdict) return fail(absl::StrCat("not a verdict: ", element.value[0]));
      first.has_verdict = true;
      first.verdict = verdict->first;
      first.verdict_chain = verdict->second;
    } else {
      if (element.value.size() != set.value_types.size()) return fail("wrong number of value components");
      for (size_t i = 0; i < element.value.size(); ++i) {
        auto bytes = ScalarBytes(set.value_types[i], element.value[i]);
        if (!bytes) return fail(absl::StrCat("not a ", set.value_types[i], ": ", element.value[i]));
        if (set.value_types.size() > 1) bytes->resize(Padded(bytes->size()), '\0');
        first.data += *bytes;
      }
    }
  } else if (!element.value.empty()) {
    return fail("a set element has no value");
  }
  std::vector<NftEncodedElement> out;
  if (set.interval && concat) {
    first.key_end = end;
    out.push_back(std::move(first));
  } else if (set.interval) {
    // rbtree intervals: the start with the value, and an end element one past the range.
    out.push_back(std::move(first));
    if (!AllOnes(end)) {
      NftEncodedElement stop;
      Increment(end);
      stop.key = end;
      stop.interval_end = true;
      out.push_back(std::move(stop));
    }
  } else {
    out.push_back(std::move(first));
  }
  return out;
}

absl::StatusOr<std::vector<NftExpr>> NftStatementTranslator::TranslateRule(
    absl::string_view statement, uint32_t first_anonymous_set_id,
    std::vector<NftAnonymousSet>* anonymous_sets) const {
  const bool ipv6 = family_ == proxier::IpFamily::kIPv6;
  size_t anonymous_count = 0;
  // "map @a:ip6 saddr map @b" (S33): the ':' after a set name is a token of its own.
  std::string spaced(statement);
  for (size_t at = spaced.find('@'); at != std::string::npos; at = spaced.find('@', at + 1)) {
    const size_t end = spaced.find_first_of(" :", at);
    if (end != std::string::npos && spaced[end] == ':') spaced.replace(end, 1, " : ");
  }
  Tokens in(spaced);
  std::vector<NftExpr> out;

  // One selector at the cursor, or nullopt when the cursor is not at a selector.
  auto selector = [&]() -> absl::StatusOr<std::optional<Selector>> {
    Selector s;
    absl::string_view a = in.peek(), b = in.peek(1);
    if ((a == "ip" || a == "ip6") && (b == "saddr" || b == "daddr")) {
      if ((a == "ip6") != ipv6) return Unsupported(absl::StrCat(a, " ", b, " in the other family's table"), statement);
      s.base = NFT_PAYLOAD_NETWORK_HEADER;
      s.length = ipv6 ? 16 : 4;
      s.offset = ipv6 ? (b == "saddr" ? 8 : 24) : (b == "saddr" ? 12 : 16);
      s.type = ipv6 ? "ipv6_addr" : "ipv4_addr";
      in.next();
      in.next();
      return s;
    }
    if ((a == "th" || a == "tcp" || a == "udp" || a == "sctp") && (b == "sport" || b == "dport")) {
      s.base = NFT_PAYLOAD_TRANSPORT_HEADER;
      s.offset = b == "sport" ? 0 : 2;
      s.length = 2;
      s.type = "inet_service";
      if (a != "th") s.needs_protocol = *ProtocolNumber(a);
      in.next();
      in.next();
      return s;
    }
    if (a == "meta" && (b == "l4proto" || b == "mark" || b == "iifname" || b == "oifname")) {
      s.kind = Selector::kMeta;
      in.next();
      in.next();
      if (b == "l4proto") {
        s.key = NFT_META_L4PROTO, s.length = 1, s.type = "inet_proto";
      } else if (b == "mark") {
        s.key = NFT_META_MARK, s.length = 4, s.host_order = true, s.type = "mark";
      } else {
        s.key = b == "iifname" ? NFT_META_IIFNAME : NFT_META_OIFNAME, s.length = 16, s.type = "ifname";
      }
      return s;
    }
    if (a == "iifname" || a == "oifname") {
      s.kind = Selector::kMeta;
      s.key = a == "iifname" ? NFT_META_IIFNAME : NFT_META_OIFNAME;
      s.length = 16;
      s.type = "ifname";
      in.next();
      return s;
    }
    if (a == "numgen" && b == "random" && in.peek(2) == "mod") {
      s.kind = Selector::kNumgen;
      auto modulus = ParseInteger(in.peek(3));
      if (!modulus || *modulus == 0) return Unsupported("numgen modulus", statement);
      s.modulus = *modulus;
      s.length = 4;
      s.host_order = true;
      s.type = "integer";
      for (int i = 0; i < 4; ++i) in.next();
      return s;
    }
    if (a == "fib" && (b == "daddr" || b == "saddr") && in.peek(2) == "type") {
      s.kind = Selector::kFib;
      s.fib_flags = b == "daddr" ? NFTA_FIB_F_DADDR : NFTA_FIB_F_SADDR;
      s.length = 4;
      s.host_order = true;
      s.type = "fib_type";
      for (int i = 0; i < 3; ++i) in.next();
      return s;
    }
    if (a == "ct" && b == "original") {
      const absl::string_view c = in.peek(2), d = in.peek(3);
      s.kind = Selector::kCt;
      s.ct_original = true;
      if ((c == "ip" || c == "ip6") && d == "daddr") {
        if ((c == "ip6") != ipv6) return Unsupported("ct original daddr of the other family", statement);
        s.key = ipv6 ? NFT_CT_DST_IP6 : NFT_CT_DST_IP;
        s.length = ipv6 ? 16 : 4;
        s.type = ipv6 ? "ipv6_addr" : "ipv4_addr";
        for (int i = 0; i < 4; ++i) in.next();
        return s;
      }
      if (c == "proto-dst") {
        s.key = NFT_CT_PROTO_DST;
        s.length = 2;
        s.type = "inet_service";
        for (int i = 0; i < 3; ++i) in.next();
        return s;
      }
      return Unsupported(absl::StrCat("ct original ", c), statement);
    }
    if (a == "ct" && (b == "state" || b == "status")) {
      s.kind = Selector::kCt;
      s.key = b == "state" ? NFT_CT_STATE : NFT_CT_STATUS;
      s.length = 4;
      s.host_order = true;
      s.bitmask = true;
      s.type = b == "state" ? "ct_state" : "ct_status";
      in.next();
      in.next();
      return s;
    }
    return std::optional<Selector>();
  };

  // The bytes a selector is compared with; `prefix_bits` gets an address prefix's length.
  auto value_bytes = [&](const Selector& s, absl::string_view text,
                         uint32_t& prefix_bits) -> absl::StatusOr<std::string> {
    prefix_bits = s.length * 8;
    if (s.type == "fib_type") {
      if (text == "local") return HostU32(2);  // RTN_LOCAL
      return Unsupported(absl::StrCat("fib type ", text), statement);
    }
    if (s.type == "ct_state" || s.type == "ct_status") {
      uint32_t bits = 0;
      for (absl::string_view name : absl::StrSplit(text, ',')) {
        static const std::pair<const char*, uint32_t> kStates[] = {
            {"invalid", 1}, {"established", 2}, {"related", 4}, {"new", 8}, {"untracked", 64}};
        static const std::pair<const char*, uint32_t> kStatuses[] = {
            {"expected", 1}, {"seen-reply", 2}, {"assured", 4}, {"confirmed", 8},
            {"snat", 16},    {"dnat", 32},       {"dying", 512}};
        bool found = false;
        for (const auto& [n, v] : s.type == "ct_state" ? absl::MakeConstSpan(kStates) : absl::MakeConstSpan(kStatuses)) {
          if (name == n) bits |= v, found = true;
        }
        if (!found) return Unsupported(absl::StrCat(s.type, " ", name), statement);
      }
      return HostU32(bits);
    }
    if ((s.type == "ipv4_addr" || s.type == "ipv6_addr") && text.find('/') != absl::string_view::npos) {
      auto range = IntervalBytes(s.type, text);
      if (!range.ok()) return Unsupported(range.status().message(), statement);
      uint32_t prefix = 0;
      (void)absl::SimpleAtoi(text.substr(text.find('/') + 1), &prefix);
      prefix_bits = prefix;
      return range->first;
    }
    auto bytes = ScalarBytes(s.type, text);
    if (!bytes) return Unsupported(absl::StrCat("value \"", text, "\" for ", s.type), statement);
    return *bytes;
  };

  // Loads `selectors` (a concatenation) into registers from 16-byte register `base` on; returns
  // the bytes the value occupies.
  auto load = [&](const std::vector<Selector>& selectors, uint32_t base) {
    uint32_t offset = 0;
    for (const Selector& s : selectors) {
      out.push_back(s.Load(RegisterAt(base, offset)));
      offset += selectors.size() > 1 ? Padded(s.length) : s.length;
    }
    return offset;
  };
  auto dependencies = [&](const std::vector<Selector>& selectors) {
    for (const Selector& s : selectors) {
      if (!s.needs_protocol) continue;
      out.push_back(MetaLoad(NFT_META_L4PROTO, NFT_REG_1));
      out.push_back(Compare(NFT_CMP_EQ, std::string(1, static_cast<char>(*s.needs_protocol))));
    }
  };
  // `selectors` as a lookup key of `set`: host-order components of an interval set are turned
  // big-endian first, as nft does.
  auto load_key = [&](const std::vector<Selector>& selectors, const NftSetSpec* set) {
    dependencies(selectors);
    uint32_t length = load(selectors, NFT_REG_1);
    if (set != nullptr && set->interval && selectors.size() == 1 && selectors[0].host_order) {
      NftExpr e = Expr("byteorder");
      e.numbers = {{NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1}, {NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1},
                   {NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON}, {NFTNL_EXPR_BYTEORDER_LEN, length},
                   {NFTNL_EXPR_BYTEORDER_SIZE, 4}};
      out.push_back(std::move(e));
    }
    return length;
  };
  auto concat = [&]() -> absl::StatusOr<std::vector<Selector>> {
    std::vector<Selector> selectors;
    while (true) {
      auto s = selector();
      if (!s.ok()) return s.status();
      if (!s->has_value()) return Unsupported(absl::StrCat("\"", in.peek(), "\""), statement);
      selectors.push_back(**s);
      if (!in.accept(".")) return selectors;
    }
  };
  auto set_named = [&](absl::string_view token) -> absl::StatusOr<const NftSetSpec*> {
    if (!absl::ConsumePrefix(&token, "@")) return Unsupported(absl::StrCat("\"", token, "\" (a set reference @name)"), statement);
    const NftSetSpec* set = FindSet(token);
    if (set == nullptr) return absl::InvalidArgumentError(absl::StrCat("nftables writer: rule \"", statement, "\" refers to undeclared set ", token));
    return set;
  };
  auto lookup = [&](const NftSetSpec& set, std::optional<uint32_t> dreg, bool invert,
                    uint32_t sreg = NFT_REG_1) {
    NftExpr e = Expr("lookup");
    e.numbers = {{NFTNL_EXPR_LOOKUP_SREG, sreg}};
    if (dreg) e.numbers.push_back({NFTNL_EXPR_LOOKUP_DREG, *dreg});
    if (invert) e.numbers.push_back({NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV});
    e.strings = {{NFTNL_EXPR_LOOKUP_SET, set.name}};
    out.push_back(std::move(e));
  };
  // Values after `:` or `to`: components joined by " . ".
  auto immediates = [&](const std::vector<std::string>& types, uint32_t base) -> absl::Status {
    uint32_t offset = 0;
    for (size_t i = 0; i < types.size(); ++i) {
      if (i > 0 && !in.accept(".")) return Unsupported("value with too few components", statement);
      auto bytes = ScalarBytes(types[i], in.next());
      if (!bytes) return Unsupported(absl::StrCat("value for ", types[i]), statement);
      const uint32_t length = static_cast<uint32_t>(bytes->size());
      out.push_back(Immediate(RegisterAt(base, offset), types.size() > 1 ? [&] { bytes->resize(Padded(length), '\0'); return *bytes; }() : *bytes));
      offset += types.size() > 1 ? Padded(length) : length;
    }
    return absl::OkStatus();
  };
  auto nat = [&](uint32_t address_register, std::optional<uint32_t> port_register, uint32_t flags) {
    NftExpr e = Expr("nat");
    e.numbers = {{NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT},
                 {NFTNL_EXPR_NAT_FAMILY, NfProtocolFamily()},
                 {NFTNL_EXPR_NAT_REG_ADDR_MIN, address_register}};
    if (port_register) e.numbers.push_back({NFTNL_EXPR_NAT_REG_PROTO_MIN, *port_register});
    if (flags != 0) e.numbers.push_back({NFTNL_EXPR_NAT_FLAGS, flags});
    out.push_back(std::move(e));
  };

  while (!in.done()) {
    const absl::string_view word = in.peek();
    if (word == "counter") {
      in.next();
      out.push_back(Expr("counter"));
      continue;
    }
    if (auto verdict = ParseVerdict(word); verdict && (verdict->first != NFT_JUMP)) {
      in.next();
      out.push_back(Verdict(verdict->first, ""));
      continue;
    }
    if (word == "jump" || word == "goto") {
      in.next();
      const absl::string_view chain = in.next();
      if (chain.empty()) return Unsupported(absl::StrCat(word, " without a chain"), statement);
      out.push_back(Verdict(word == "jump" ? NFT_JUMP : NFT_GOTO, std::string(chain)));
      continue;
    }
    if (word == "reject") {
      in.next();
      uint32_t type = NFT_REJECT_ICMP_UNREACH;
      uint32_t code = ipv6 ? 4 : 3;  // port unreachable
      if (in.accept("with")) {
        const absl::string_view kind = in.next();
        if (!in.accept("type")) return Unsupported("reject with ... (no type)", statement);
        const absl::string_view name = in.next();
        static const std::pair<const char*, uint32_t> kIcmp[] = {
            {"net-unreachable", 0}, {"host-unreachable", 1}, {"prot-unreachable", 2},
            {"port-unreachable", 3}, {"net-prohibited", 9}, {"host-prohibited", 10},
            {"admin-prohibited", 13}};
        static const std::pair<const char*, uint32_t> kIcmpv6[] = {
            {"no-route", 0}, {"admin-prohibited", 1}, {"addr-unreachable", 3},
            {"port-unreachable", 4}};
        static const std::pair<const char*, uint32_t> kIcmpx[] = {
            {"no-route", 0}, {"port-unreachable", 1}, {"host-unreachable", 2},
            {"admin-prohibited", 3}};
        absl::Span<const std::pair<const char*, uint32_t>> table;
        if (kind == "icmp" && !ipv6) {
          table = kIcmp;
        } else if (kind == "icmpv6" && ipv6) {
          table = kIcmpv6;
        } else if (kind == "icmpx") {
          table = kIcmpx;
          type = NFT_REJECT_ICMPX_UNREACH;
        } else {
          return Unsupported(absl::StrCat("reject with ", kind), statement);
        }
        bool found = false;
        for (const auto& [n, v] : table) {
          if (name == n) code = v, found = true;
        }
        if (!found) return Unsupported(absl::StrCat("reject type ", name), statement);
      }
      NftExpr e = Expr("reject");
      e.numbers = {{NFTNL_EXPR_REJECT_TYPE, type}, {NFTNL_EXPR_REJECT_CODE, code}};
      out.push_back(std::move(e));
      continue;
    }
    if (word == "masquerade") {
      in.next();
      uint32_t flags = 0;
      while (true) {
        if (in.accept("fully-random")) {
          flags |= NF_NAT_RANGE_PROTO_RANDOM_FULLY;
        } else if (in.accept("random")) {
          flags |= NF_NAT_RANGE_PROTO_RANDOM;
        } else if (in.accept("persistent")) {
          flags |= NF_NAT_RANGE_PERSISTENT;
        } else {
          break;
        }
      }
      NftExpr e = Expr("masq");
      if (flags != 0) e.numbers = {{NFTNL_EXPR_MASQ_FLAGS, flags}};
      out.push_back(std::move(e));
      continue;
    }
    if (word == "meta" && in.peek(1) == "mark" && in.peek(2) == "set") {
      for (int i = 0; i < 3; ++i) in.next();
      if (in.peek() == "meta" && in.peek(1) == "mark") {
        in.next();
        in.next();
        const absl::string_view op = in.next();
        auto operand = ParseInteger(in.next());
        const bool is_or = op == "or" || op == "|";
        if (!operand || (!is_or && op != "xor" && op != "^")) {
          return Unsupported("meta mark set meta mark ...", statement);
        }
        out.push_back(MetaLoad(NFT_META_MARK, NFT_REG_1));
        // nft folds `| m` into (reg & ~m) ^ m and `^ m` into (reg & all-ones) ^ m.
        out.push_back(Bitwise(NFT_REG_1, HostU32(is_or ? ~*operand : 0xffffffffu), HostU32(*operand)));
      } else {
        auto value = ParseInteger(in.next());
        if (!value) return Unsupported("meta mark set <value>", statement);
        out.push_back(Immediate(NFT_REG_1, HostU32(*value)));
      }
      NftExpr e = Expr("meta");
      e.numbers = {{NFTNL_EXPR_META_KEY, NFT_META_MARK}, {NFTNL_EXPR_META_SREG, NFT_REG_1}};
      out.push_back(std::move(e));
      continue;
    }
    if (word == "dnat") {
      in.next();
      const absl::string_view family = in.peek();
      if (family == "ip" || family == "ip6") {
        if ((family == "ip6") != ipv6) return Unsupported("dnat to the other family", statement);
        in.next();
      }
      if (!in.accept("to")) return Unsupported("dnat without `to`", statement);
      auto s = selector();
      if (!s.ok()) return s.status();
      if (s->has_value()) {
        // dnat to <concat> map @m
        std::vector<Selector> key = {**s};
        while (in.accept(".")) {
          auto more = selector();
          if (!more.ok()) return more.status();
          if (!more->has_value()) return Unsupported("dnat key", statement);
          key.push_back(**more);
        }
        if (!in.accept("map")) return Unsupported("dnat to <expression> without map", statement);
        auto set = set_named(in.next());
        if (!set.ok()) return set.status();
        load_key(key, *set);
        lookup(**set, NFT_REG_1, false);
        const std::vector<std::string>& values = (*set)->value_types;
        if (values.empty() || values[0] != (ipv6 ? "ipv6_addr" : "ipv4_addr") || values.size() > 2) {
          return Unsupported(absl::StrCat("dnat map @", (*set)->name, " whose values are not address[ . port]"), statement);
        }
        if (in.accept(":")) {
          // dnat to <key> map @addresses : <key> map @ports (S33): the port from a second map.
          auto port_key = selector();
          if (!port_key.ok()) return port_key.status();
          if (!port_key->has_value() || !in.accept("map")) return Unsupported("dnat ... : <key> map @ports", statement);
          auto ports = set_named(in.next());
          if (!ports.ok()) return ports.status();
          if ((*ports)->value_types != std::vector<std::string>{"inet_service"}) {
            return Unsupported(absl::StrCat("dnat port map @", (*ports)->name, " whose values are not ports"), statement);
          }
          load({**port_key}, NFT_REG_2);
          lookup(**ports, NFT_REG_2, false, NFT_REG_2);
          nat(NFT_REG_1, NFT_REG_2, NF_NAT_RANGE_PROTO_SPECIFIED);
          continue;
        }
        std::optional<uint32_t> port;
        if (values.size() == 2) port = RegisterAt(NFT_REG_1, ipv6 ? 16 : 4);
        nat(NFT_REG_1, port, 0);
        continue;
      }
      // dnat to <addr>[:<port>] / [<addr6>]:<port>
      std::string target(in.next());
      std::string address = target, port_text;
      if (ipv6) {
        if (absl::StartsWith(target, "[")) {
          const size_t close = target.find(']');
          if (close == std::string::npos) return Unsupported("dnat target", statement);
          address = target.substr(1, close - 1);
          if (target.size() > close + 1) {
            if (target[close + 1] != ':') return Unsupported("dnat target", statement);
            port_text = target.substr(close + 2);
          }
        }
      } else if (const size_t colon = target.find(':'); colon != std::string::npos) {
        address = target.substr(0, colon);
        port_text = target.substr(colon + 1);
      }
      auto address_bytes = ScalarBytes(ipv6 ? "ipv6_addr" : "ipv4_addr", address);
      if (!address_bytes) return Unsupported(absl::StrCat("dnat address ", address), statement);
      out.push_back(Immediate(NFT_REG_1, *address_bytes));
      std::optional<uint32_t> port_register;
      if (!port_text.empty()) {
        auto port_bytes = ScalarBytes("inet_service", port_text);
        if (!port_bytes) return Unsupported(absl::StrCat("dnat port ", port_text), statement);
        out.push_back(Immediate(NFT_REG_2, *port_bytes));
        port_register = NFT_REG_2;
      }
      nat(NFT_REG_1, port_register, port_register ? NF_NAT_RANGE_PROTO_SPECIFIED : 0);
      continue;
    }
    if (word == "update" || word == "add") {
      in.next();
      auto set = set_named(in.next());
      if (!set.ok()) return set.status();
      if (!in.accept("{")) return Unsupported(absl::StrCat(word, " @set without {"), statement);
      auto key = concat();
      if (!key.ok()) return key.status();
      dependencies(*key);
      const uint32_t key_length = load(*key, NFT_REG_1);
      std::optional<uint64_t> timeout_ms;
      if (in.accept("timeout")) {
        absl::string_view text = in.next();
        uint64_t seconds = 0;
        if (!absl::ConsumeSuffix(&text, "s") || !absl::SimpleAtoi(text, &seconds)) {
          return Unsupported("timeout (seconds, e.g. 10800s)", statement);
        }
        timeout_ms = seconds * 1000;
      }
      std::optional<uint32_t> data_register;
      if (in.accept(":")) {
        data_register = NFT_REG_1 + (key_length + 15) / 16;
        auto probe = selector();
        if (!probe.ok()) return probe.status();
        if (probe->has_value()) {
          // The value comes from the packet: `: ip daddr . th dport`.
          std::vector<Selector> value = {**probe};
          while (in.accept(".")) {
            auto more = selector();
            if (!more.ok()) return more.status();
            if (!more->has_value()) return Unsupported("update value", statement);
            value.push_back(**more);
          }
          load(value, *data_register);
        } else if (absl::Status s = immediates((*set)->value_types, *data_register); !s.ok()) {
          return s;
        }
      }
      if (!in.accept("}")) return Unsupported(absl::StrCat(word, " @set {...} not closed"), statement);
      NftExpr e = Expr("dynset");
      e.numbers = {{NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1},
                   {NFTNL_EXPR_DYNSET_OP, word == "update" ? NFT_DYNSET_OP_UPDATE : NFT_DYNSET_OP_ADD}};
      if (data_register) e.numbers.push_back({NFTNL_EXPR_DYNSET_SREG_DATA, *data_register});
      if (timeout_ms) e.wide_numbers = {{NFTNL_EXPR_DYNSET_TIMEOUT, *timeout_ms}};
      e.strings = {{NFTNL_EXPR_DYNSET_SET_NAME, (*set)->name}};
      out.push_back(std::move(e));
      continue;
    }
    // A match: a selector or a concatenation, then what it is compared with.
    auto key = concat();
    if (!key.ok()) return key.status();
    if (in.peek() == "vmap") {
      in.next();
      auto set = set_named(in.next());
      if (!set.ok()) return set.status();
      load_key(*key, *set);
      lookup(**set, NFT_REG_VERDICT, false);
      continue;
    }
    bool invert = false;
    if (in.peek() == "!=" && absl::StartsWith(in.peek(1), "@")) {
      in.next();
      invert = true;
    }
    if (absl::StartsWith(in.peek(), "@")) {
      auto set = set_named(in.next());
      if (!set.ok()) return set.status();
      load_key(*key, *set);
      lookup(**set, std::nullopt, invert);
      continue;
    }
    if (key->size() != 1) return Unsupported("a concatenation compared with a value", statement);
    const Selector& s = (*key)[0];
    dependencies(*key);
    if (in.peek() == "{" || (in.peek() == "!=" && in.peek(1) == "{")) {
      const bool inverted = in.accept("!=");
      in.next();
      NftAnonymousSet anonymous;
      anonymous.id = first_anonymous_set_id + static_cast<uint32_t>(anonymous_count++);
      anonymous.set.name = "__set%d";
      anonymous.set.key_types = {s.type};
      while (!in.done() && in.peek() != "}") {
        absl::string_view item = absl::StripSuffix(in.next(), ",");
        if (item.empty()) continue;
        if (item.find('/') != absl::string_view::npos) anonymous.set.interval = true;
        anonymous.elements.push_back(NftElementSpec{{std::string(item)}, {}, ""});
      }
      if (!in.accept("}") || anonymous.elements.empty()) return Unsupported("anonymous set", statement);
      if (!TypeByName(s.type)) return Unsupported(absl::StrCat("anonymous set of ", s.type), statement);
      if (anonymous_sets == nullptr) return Unsupported("anonymous set (not allowed here)", statement);
      out.push_back(s.Load(NFT_REG_1));
      NftExpr e = Expr("lookup");
      e.numbers = {{NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1}, {NFTNL_EXPR_LOOKUP_SET_ID, anonymous.id}};
      if (inverted) e.numbers.push_back({NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV});
      e.strings = {{NFTNL_EXPR_LOOKUP_SET, anonymous.set.name}};
      out.push_back(std::move(e));
      anonymous_sets->push_back(std::move(anonymous));
      continue;
    }
    if (s.type == "ifname") {
      // "name" compares all 16 bytes; "prefix*" only the prefix.
      bool not_equal = in.accept("!=");
      if (!not_equal) in.accept("==");
      absl::string_view name = in.next();
      if (!absl::ConsumePrefix(&name, "\"") || !absl::ConsumeSuffix(&name, "\"") || name.size() >= 16) {
        return Unsupported("interface name (\"name\" or \"prefix*\")", statement);
      }
      std::string data(name);
      if (absl::ConsumeSuffix(&name, "*")) {
        data = std::string(name);
      } else {
        data.resize(16, '\0');
      }
      Selector loaded = s;
      out.push_back(loaded.Load(NFT_REG_1));
      out.push_back(Compare(not_equal ? NFT_CMP_NEQ : NFT_CMP_EQ, data));
      continue;
    }
    std::optional<std::string> mask;
    if (in.accept("&")) {
      auto m = ParseInteger(in.next());
      if (!m || s.length != 4) return Unsupported("& <mask>", statement);
      mask = HostU32(*m);
    }
    bool not_equal = false;
    if (in.accept("!=")) {
      not_equal = true;
    } else {
      in.accept("==");
    }
    uint32_t prefix_bits = 0;
    const absl::string_view value_text = in.next();
    if (value_text.empty()) return Unsupported("a match without a value", statement);
    auto value = value_bytes(s, value_text, prefix_bits);
    if (!value.ok()) return value.status();
    if (s.bitmask) {
      // ct state new: (state & bits) != 0; with != : == 0.
      out.push_back(s.Load(NFT_REG_1));
      out.push_back(Bitwise(NFT_REG_1, *value, HostU32(0)));
      out.push_back(Compare(not_equal ? NFT_CMP_EQ : NFT_CMP_NEQ, HostU32(0)));
      continue;
    }
    if (mask) {
      out.push_back(s.Load(NFT_REG_1));
      out.push_back(Bitwise(NFT_REG_1, *mask, HostU32(0)));
      out.push_back(Compare(not_equal ? NFT_CMP_NEQ : NFT_CMP_EQ, *value));
      continue;
    }
    if (prefix_bits < s.length * 8 && prefix_bits % 8 == 0) {
      // A byte-aligned prefix: nft loads only the bytes it covers.
      Selector shortened = s;
      shortened.length = prefix_bits / 8;
      out.push_back(shortened.Load(NFT_REG_1));
      out.push_back(Compare(not_equal ? NFT_CMP_NEQ : NFT_CMP_EQ, value->substr(0, shortened.length)));
      continue;
    }
    if (prefix_bits < s.length * 8) {
      // Any other prefix: the whole field, masked.
      std::string bits(s.length, '\0');
      for (uint32_t bit = 0; bit < prefix_bits; ++bit) bits[bit / 8] |= static_cast<char>(0x80 >> (bit % 8));
      out.push_back(s.Load(NFT_REG_1));
      out.push_back(Bitwise(NFT_REG_1, bits, std::string(s.length, '\0')));
      out.push_back(Compare(not_equal ? NFT_CMP_NEQ : NFT_CMP_EQ, *value));
      continue;
    }
    out.push_back(s.Load(NFT_REG_1));
    out.push_back(Compare(not_equal ? NFT_CMP_NEQ : NFT_CMP_EQ, *value));
  }
  return out;
}

}  // namespace kproxy::backends::nftables
