#include "backends/iptables/nft_rule_translator.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>
#include <cstring>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kproxy::backends::iptables {
namespace {

// The layouts below were read back from the kernel (nft_raw_dump.py) after iptables-nft 1.8.9
// wrote the same rules; offsets are those of the x86_64 structs, sizes padded to XT_ALIGN (8).
constexpr size_t kCommentInfoSize = 256;      // xt_comment_info
constexpr size_t kPortRangeInfoSize = 16;     // xt_tcp / xt_udp
constexpr size_t kSctpInfoSize = 296;         // xt_sctp_info
constexpr size_t kStatisticInfoSize = 24;     // xt_statistic_info
constexpr size_t kRecentInfoSize = 232;       // xt_recent_mtinfo_v1
constexpr size_t kAddrtypeInfoSize = 8;       // xt_addrtype_info_v1
constexpr size_t kConntrackInfoSize = 168;    // xt_conntrack_mtinfo3
constexpr size_t kNatRange2InfoSize = 48;     // nf_nat_range2
constexpr size_t kMasqueradeV4InfoSize = 24;  // nf_nat_ipv4_multi_range_compat
constexpr size_t kMasqueradeV6InfoSize = 40;  // nf_nat_range
constexpr size_t kMarkTargetInfoSize = 8;     // xt_mark_tginfo2
constexpr size_t kRejectInfoSize = 8;         // ipt_reject_info / ip6t_reject_info

constexpr size_t kMaxCommentLength = 255;     // XT_MAX_COMMENT_LEN - 1
constexpr size_t kMaxRecentNameLength = 199;  // XT_RECENT_NAME_LEN - 1
constexpr size_t kMaxChainNameLength = 28;    // XT_EXTENSION_MAXNAMELEN - 1
constexpr size_t kMaxInterfaceLength = 15;    // IFNAMSIZ - 1

constexpr uint16_t kAddrtypeLocal = 1 << 2;      // XT_ADDRTYPE_LOCAL
constexpr uint32_t kAddrtypeInvertSource = 0x1;  // XT_ADDRTYPE_INVERT_SOURCE
constexpr uint32_t kAddrtypeInvertDest = 0x2;    // XT_ADDRTYPE_INVERT_DEST

constexpr uint8_t kRecentCheck = 1 << 0;  // XT_RECENT_CHECK
constexpr uint8_t kRecentSet = 1 << 1;    // XT_RECENT_SET
constexpr uint8_t kRecentUpdate = 1 << 2;
constexpr uint8_t kRecentRemove = 1 << 3;
constexpr uint8_t kRecentReap = 1 << 5;

constexpr uint32_t kNatMapIps = 1 << 0;              // NF_NAT_RANGE_MAP_IPS
constexpr uint32_t kNatProtoSpecified = 1 << 1;      // NF_NAT_RANGE_PROTO_SPECIFIED
constexpr uint32_t kNatProtoRandomFully = 1 << 4;    // NF_NAT_RANGE_PROTO_RANDOM_FULLY
constexpr uint32_t kRejectIcmpPortUnreachable = 3;   // IPT_ICMP_PORT_UNREACHABLE
constexpr uint32_t kRejectIcmp6PortUnreachable = 4;  // IP6T_ICMP6_PORT_UNREACH

constexpr uint8_t kProtocolTcp = 6;
constexpr uint8_t kProtocolUdp = 17;
constexpr uint8_t kProtocolSctp = 132;

// A zeroed struct image with host-order stores at byte offsets.
class StructImage {
 public:
  explicit StructImage(size_t size) : bytes_(size, '\0') {}
  void U8(size_t offset, uint8_t value) { bytes_[offset] = static_cast<char>(value); }
  void U16(size_t offset, uint16_t value) { std::memcpy(&bytes_[offset], &value, sizeof(value)); }
  void U32(size_t offset, uint32_t value) { std::memcpy(&bytes_[offset], &value, sizeof(value)); }
  void BigEndian16(size_t offset, uint16_t value) {
    U8(offset, static_cast<uint8_t>(value >> 8));
    U8(offset + 1, static_cast<uint8_t>(value));
  }
  void Bytes(size_t offset, absl::string_view value) {
    std::memcpy(&bytes_[offset], value.data(), value.size());
  }
  std::string Take() && { return std::move(bytes_); }

 private:
  std::string bytes_;
};

std::string HostU32(uint32_t value) {
  std::string out(sizeof(value), '\0');
  std::memcpy(out.data(), &value, sizeof(value));
  return out;
}

std::string BigEndianU16(uint16_t value) {
  return std::string{static_cast<char>(value >> 8), static_cast<char>(value & 0xff)};
}

bool IsBuiltinChain(absl::string_view chain) {
  return chain == "PREROUTING" || chain == "INPUT" || chain == "FORWARD" || chain == "OUTPUT" ||
         chain == "POSTROUTING";
}

bool IsValidChainName(absl::string_view chain) {
  if (chain.empty() || chain.size() > kMaxChainNameLength) return false;
  for (char c : chain) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return chain[0] != '-' && chain[0] != '!';
}

// Numbers the way the tools accept them here: decimal or 0x-prefixed hex.
bool ParseU32(absl::string_view text, uint32_t& out) {
  if (absl::StartsWith(text, "0x") || absl::StartsWith(text, "0X")) {
    if (text.size() < 3 || text.size() > 10) return false;
    uint32_t value = 0;
    for (char c : text.substr(2)) {
      if (!absl::ascii_isxdigit(c)) return false;
      value = value * 16 + static_cast<uint32_t>(absl::ascii_isdigit(c)
                                                     ? c - '0'
                                                     : absl::ascii_tolower(c) - 'a' + 10);
    }
    out = value;
    return true;
  }
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return !text.empty() && (text.size() == 1 || text[0] != '0') && absl::SimpleAtoi(text, &out);
}

bool ParsePort(absl::string_view text, uint16_t& out) {
  uint32_t value = 0;
  if (text.empty() || text[0] == '0' || !ParseU32(text, value) || absl::StartsWith(text, "0x") ||
      value > 65535) {
    return false;
  }
  out = static_cast<uint16_t>(value);
  return true;
}

// An address with a prefix length, from "10.0.0.1", "10.0.0.0/8", "fd00::/64".
struct Prefix {
  std::array<uint8_t, 16> address{};
  int length = 0;
  bool inverted = false;
};

// An interface match: `name` is what the cmp compares (NUL-terminated unless it ends in '+').
struct Interface {
  std::string compared;
  bool inverted = false;
};

// One -m module with the options given to it.
struct MatchState {
  std::string name;
  // comment
  std::optional<std::string> comment;
  // tcp / udp / sctp
  std::optional<uint16_t> destination_port;
  // statistic
  std::optional<std::string> statistic_mode;
  std::optional<double> probability;
  // recent
  std::optional<std::string> recent_name;
  uint8_t recent_command = 0;
  bool recent_reap = false;
  std::optional<uint32_t> recent_seconds;
  uint8_t recent_side = 0;
  std::optional<std::array<uint8_t, 16>> recent_mask;
  bool recent_side_given = false;
  // addrtype
  uint16_t source_type = 0;
  uint16_t destination_type = 0;
  uint32_t addrtype_flags = 0;
  // mark
  std::optional<std::pair<uint32_t, uint32_t>> mark;
  bool mark_inverted = false;
  // conntrack
  std::optional<uint16_t> conntrack_states;
  bool conntrack_inverted = false;
};

enum class TargetKind { kNone, kJump, kAccept, kDrop, kReturn, kDnat, kMark, kMasquerade, kReject };

struct TargetState {
  TargetKind kind = TargetKind::kNone;
  std::string chain;
  // DNAT
  std::optional<std::array<uint8_t, 16>> dnat_address;
  std::optional<uint16_t> dnat_port;
  // MARK: the xt_mark_tginfo2 pair.
  std::optional<std::pair<uint32_t, uint32_t>> mark;
  // MASQUERADE
  bool random_fully = false;
};

// The arguments of one -A line, read left to right; options take their value from the next one.
class ArgumentCursor {
 public:
  ArgumentCursor(const std::vector<std::string>& arguments, size_t start)
      : arguments_(arguments), index_(start) {}
  bool done() const { return index_ >= arguments_.size(); }
  const std::string& current() const { return arguments_[index_]; }
  void Advance() { ++index_; }
  // Consumes and returns the value of `option` (the current argument).
  absl::StatusOr<std::string> NextValue(absl::string_view option) {
    if (index_ + 1 >= arguments_.size()) {
      return absl::UnimplementedError(absl::StrCat(option, " without a value"));
    }
    return arguments_[++index_];
  }

 private:
  const std::vector<std::string>& arguments_;
  size_t index_;
};

// What one -A line asks for, parsed but not yet encoded.
struct ParsedRule {
  std::optional<Interface> in_interface, out_interface;
  std::optional<uint8_t> protocol;
  bool protocol_inverted = false;
  std::optional<Prefix> source, destination;
  std::vector<MatchState> matches;
  TargetState target;
  bool have_target = false;
};

// ---- Parsing: one function per option family. ----

absl::StatusOr<Prefix> ParsePrefix(absl::string_view text, bool ipv6) {
  const size_t address_length = ipv6 ? 16 : 4;
  Prefix prefix;
  prefix.length = static_cast<int>(address_length * 8);
  absl::string_view address_text = text;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address_text = text.substr(0, slash);
    absl::string_view length_text = text.substr(slash + 1);
    if (length_text.empty() || length_text.size() > 3 ||
        !absl::SimpleAtoi(length_text, &prefix.length) || !absl::ascii_isdigit(length_text[0]) ||
        prefix.length < 0 || prefix.length > static_cast<int>(address_length * 8)) {
      return absl::UnimplementedError(absl::StrCat("unsupported prefix ", text));
    }
  }
  absl::StatusOr<proxier::IpAddress> address = proxier::IpAddress::Parse(address_text);
  if (!address.ok() || address->is_v4() == ipv6) {
    return absl::UnimplementedError(absl::StrCat("unsupported address ", text));
  }
  prefix.address = address->bytes();
  return prefix;
}

absl::StatusOr<Interface> ParseInterface(absl::string_view name) {
  Interface interface;
  bool wildcard = absl::ConsumeSuffix(&name, "+");
  if (name.empty() || name.size() > kMaxInterfaceLength) {
    return absl::UnimplementedError(absl::StrCat("unsupported interface ", name));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != '@') {
      return absl::UnimplementedError(absl::StrCat("unsupported interface ", name));
    }
  }
  interface.compared = std::string(name);
  if (!wildcard) interface.compared.push_back('\0');
  return interface;
}

// -p tcp|udp|sctp.
absl::Status ParseProtocolOption(ArgumentCursor& cursor, bool inverted, ParsedRule& rule) {
  absl::StatusOr<std::string> value = cursor.NextValue(cursor.current());
  if (!value.ok()) return value.status();
  if (rule.protocol.has_value()) return absl::UnimplementedError("-p given twice");
  if (*value == "tcp") {
    rule.protocol = kProtocolTcp;
  } else if (*value == "udp") {
    rule.protocol = kProtocolUdp;
  } else if (*value == "sctp") {
    rule.protocol = kProtocolSctp;
  } else {
    return absl::UnimplementedError(absl::StrCat("unsupported protocol ", *value));
  }
  rule.protocol_inverted = inverted;
  return absl::OkStatus();
}

// -s / -d with an address or prefix.
absl::Status ParseAddressOption(ArgumentCursor& cursor, bool inverted, bool ipv6,
                                ParsedRule& rule) {
  const std::string argument = cursor.current();
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  std::optional<Prefix>& slot =
      (argument == "-s" || argument == "--source") ? rule.source : rule.destination;
  if (slot.has_value()) return absl::UnimplementedError(absl::StrCat(argument, " given twice"));
  absl::StatusOr<Prefix> prefix = ParsePrefix(*value, ipv6);
  if (!prefix.ok()) return prefix.status();
  if (prefix->length == 0 && inverted) return absl::UnimplementedError("inverted /0");
  prefix->inverted = inverted;
  slot = *prefix;
  return absl::OkStatus();
}

// -i / -o with an interface name (a trailing + is a wildcard).
absl::Status ParseInterfaceOption(ArgumentCursor& cursor, bool inverted, ParsedRule& rule) {
  const std::string argument = cursor.current();
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  std::optional<Interface>& slot =
      (argument == "-i" || argument == "--in-interface") ? rule.in_interface : rule.out_interface;
  if (slot.has_value()) return absl::UnimplementedError(absl::StrCat(argument, " given twice"));
  absl::StatusOr<Interface> interface = ParseInterface(*value);
  if (!interface.ok()) return interface.status();
  interface->inverted = inverted;
  slot = *interface;
  return absl::OkStatus();
}

// -m MODULE: one of the modules the planners write, each at most once.
absl::Status ParseMatchModule(ArgumentCursor& cursor, bool inverted, ParsedRule& rule) {
  absl::StatusOr<std::string> value = cursor.NextValue(cursor.current());
  if (!value.ok()) return value.status();
  if (inverted) return absl::UnimplementedError("! before -m");
  static const absl::flat_hash_set<std::string>* const kModules =
      new absl::flat_hash_set<std::string>{"comment",  "tcp",       "udp",
                                           "sctp",     "statistic", "recent",
                                           "addrtype", "mark",      "conntrack"};
  if (!kModules->contains(*value))
    return absl::UnimplementedError(absl::StrCat("unsupported match ", *value));
  for (const MatchState& match : rule.matches) {
    if (match.name == *value)
      return absl::UnimplementedError(absl::StrCat("match ", *value, " given twice"));
  }
  rule.matches.emplace_back().name = *value;
  return absl::OkStatus();
}

// -j TARGET: a built-in verdict, one of the target extensions the planners write, or a KUBE-
// chain.
absl::Status ParseTargetName(ArgumentCursor& cursor, bool inverted, ParsedRule& rule) {
  absl::StatusOr<std::string> value = cursor.NextValue(cursor.current());
  if (!value.ok()) return value.status();
  if (inverted) return absl::UnimplementedError("! before -j");
  rule.have_target = true;
  TargetState& target = rule.target;
  static constexpr std::pair<absl::string_view, TargetKind> kTargets[] = {
      {"ACCEPT", TargetKind::kAccept}, {"DROP", TargetKind::kDrop},
      {"RETURN", TargetKind::kReturn}, {"DNAT", TargetKind::kDnat},
      {"MARK", TargetKind::kMark},     {"MASQUERADE", TargetKind::kMasquerade},
      {"REJECT", TargetKind::kReject},
  };
  for (const auto& [name, kind] : kTargets) {
    if (*value == name) {
      target.kind = kind;
      return absl::OkStatus();
    }
  }
  // Only our own chains: any other name may be a target extension iptables would load.
  if (!absl::StartsWith(*value, "KUBE-") || !IsValidChainName(*value)) {
    return absl::UnimplementedError(absl::StrCat("unsupported target ", *value));
  }
  target.kind = TargetKind::kJump;
  target.chain = *value;
  return absl::OkStatus();
}

bool IsTargetOption(absl::string_view argument) {
  return argument == "--to-destination" || argument == "--or-mark" || argument == "--xor-mark" ||
         argument == "--set-xmark" || argument == "--random-fully";
}

// DNAT --to-destination ADDRESS[:PORT] (IPv6: [ADDRESS][:PORT]).
absl::Status ParseDnatDestination(absl::string_view value, bool ipv6, TargetState& target) {
  absl::string_view text = value;
  absl::string_view address_text = text;
  absl::string_view port_text;
  if (ipv6) {
    if (absl::ConsumePrefix(&text, "[")) {
      size_t close = text.find(']');
      if (close == absl::string_view::npos)
        return absl::UnimplementedError("unsupported DNAT address");
      address_text = text.substr(0, close);
      absl::string_view rest = text.substr(close + 1);
      if (!rest.empty()) {
        if (!absl::ConsumePrefix(&rest, ":"))
          return absl::UnimplementedError("unsupported DNAT address");
        port_text = rest;
        if (port_text.empty()) return absl::UnimplementedError("unsupported DNAT port");
      }
    }
  } else if (size_t colon = text.find(':'); colon != absl::string_view::npos) {
    address_text = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return absl::UnimplementedError("unsupported DNAT port");
  }
  absl::StatusOr<proxier::IpAddress> address = proxier::IpAddress::Parse(address_text);
  if (!address.ok() || address->is_v4() == ipv6) {
    return absl::UnimplementedError(absl::StrCat("unsupported DNAT address ", value));
  }
  target.dnat_address = address->bytes();
  if (!port_text.empty()) {
    uint16_t port = 0;
    if (!ParsePort(port_text, port))
      return absl::UnimplementedError(absl::StrCat("unsupported DNAT port ", value));
    target.dnat_port = port;
  }
  return absl::OkStatus();
}

// MARK --or-mark V / --xor-mark V / --set-xmark V[/MASK], as the xt_mark_tginfo2 pair.
absl::Status ParseMarkTargetValue(absl::string_view option, absl::string_view value,
                                  TargetState& target) {
  uint32_t mark = 0;
  uint32_t mask = 0xffffffff;
  std::vector<absl::string_view> parts = absl::StrSplit(value, '/');
  if (parts.size() > 2 || (parts.size() == 2 && option != "--set-xmark") ||
      !ParseU32(parts[0], mark) || (parts.size() == 2 && !ParseU32(parts[1], mask))) {
    return absl::UnimplementedError(absl::StrCat("unsupported mark ", value));
  }
  if (option == "--or-mark") {
    target.mark = {mark, mark};
  } else if (option == "--xor-mark") {
    target.mark = {mark, 0};
  } else {
    target.mark = {mark, mask};
  }
  return absl::OkStatus();
}

// An option after -j: it belongs to the target.
absl::Status ParseTargetOption(ArgumentCursor& cursor, bool inverted, bool ipv6,
                               TargetState& target) {
  const std::string argument = cursor.current();
  if (inverted) return absl::UnimplementedError(absl::StrCat("! before ", argument));
  if (argument == "--to-destination" && target.kind == TargetKind::kDnat &&
      !target.dnat_address) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    return ParseDnatDestination(*value, ipv6, target);
  }
  if ((argument == "--or-mark" || argument == "--xor-mark" || argument == "--set-xmark") &&
      target.kind == TargetKind::kMark && !target.mark) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    return ParseMarkTargetValue(argument, *value, target);
  }
  if (argument == "--random-fully" && target.kind == TargetKind::kMasquerade &&
      !target.random_fully) {
    target.random_fully = true;
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat("unsupported target option ", argument));
}

absl::Status UnsupportedMatchOption(absl::string_view argument, bool inverted,
                                    const MatchState& match) {
  return absl::UnimplementedError(absl::StrCat("unsupported option ", inverted ? "! " : "",
                                               argument, " for -m ", match.name));
}

// -m comment --comment TEXT.
absl::Status ParseCommentOption(ArgumentCursor& cursor, bool inverted, MatchState& match) {
  const std::string argument = cursor.current();
  if (argument != "--comment" || inverted || match.comment) {
    return UnsupportedMatchOption(argument, inverted, match);
  }
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  if (value->size() > kMaxCommentLength || value->find('\0') != std::string::npos) {
    return absl::UnimplementedError("comment too long");
  }
  match.comment = *value;
  return absl::OkStatus();
}

// -m tcp|udp|sctp --dport PORT.
absl::Status ParsePortOption(ArgumentCursor& cursor, bool inverted, MatchState& match) {
  const std::string argument = cursor.current();
  if ((argument != "--dport" && argument != "--destination-port") || inverted ||
      match.destination_port) {
    return UnsupportedMatchOption(argument, inverted, match);
  }
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  uint16_t port = 0;
  if (!ParsePort(*value, port))
    return absl::UnimplementedError(absl::StrCat("unsupported port ", *value));
  match.destination_port = port;
  return absl::OkStatus();
}

// -m statistic --mode random --probability P.
absl::Status ParseStatisticOption(ArgumentCursor& cursor, bool inverted, MatchState& match) {
  const std::string argument = cursor.current();
  if (argument == "--mode" && !inverted && !match.statistic_mode) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    if (*value != "random")
      return absl::UnimplementedError(absl::StrCat("unsupported statistic mode ", *value));
    match.statistic_mode = *value;
    return absl::OkStatus();
  }
  if (argument == "--probability" && !inverted && !match.probability) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    double probability = 0;
    if (!absl::SimpleAtod(*value, &probability) || !(probability >= 0.0 && probability <= 1.0)) {
      return absl::UnimplementedError(absl::StrCat("unsupported probability ", *value));
    }
    match.probability = probability;
    return absl::OkStatus();
  }
  return UnsupportedMatchOption(argument, inverted, match);
}

// -m recent --name N --set|--rcheck|--update|--remove [--seconds S [--reap]] [--rsource|--rdest]
// [--mask M].
absl::Status ParseRecentOption(ArgumentCursor& cursor, bool inverted, bool ipv6,
                               MatchState& match) {
  const std::string argument = cursor.current();
  if (inverted) return UnsupportedMatchOption(argument, inverted, match);
  if (argument == "--name" && !match.recent_name) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    if (value->empty() || value->size() > kMaxRecentNameLength ||
        value->find('\0') != std::string::npos) {
      return absl::UnimplementedError("unsupported recent name");
    }
    match.recent_name = *value;
    return absl::OkStatus();
  }
  if (match.recent_command == 0 && (argument == "--set" || argument == "--rcheck" ||
                                    argument == "--update" || argument == "--remove")) {
    match.recent_command = argument == "--set"      ? kRecentSet
                           : argument == "--rcheck" ? kRecentCheck
                           : argument == "--update" ? kRecentUpdate
                                                    : kRecentRemove;
    return absl::OkStatus();
  }
  if (argument == "--seconds" && !match.recent_seconds) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    uint32_t seconds = 0;
    if (!ParseU32(*value, seconds) || absl::StartsWith(*value, "0x") || seconds == 0) {
      return absl::UnimplementedError(absl::StrCat("unsupported seconds ", *value));
    }
    match.recent_seconds = seconds;
    return absl::OkStatus();
  }
  if (argument == "--reap" && !match.recent_reap) {
    match.recent_reap = true;
    return absl::OkStatus();
  }
  if ((argument == "--rsource" || argument == "--rdest") && !match.recent_side_given) {
    match.recent_side_given = true;
    match.recent_side = argument == "--rdest" ? 1 : 0;
    return absl::OkStatus();
  }
  if (argument == "--mask" && !match.recent_mask) {
    absl::StatusOr<std::string> value = cursor.NextValue(argument);
    if (!value.ok()) return value.status();
    absl::StatusOr<proxier::IpAddress> mask = proxier::IpAddress::Parse(*value);
    if (!mask.ok() || mask->is_v4() == ipv6)
      return absl::UnimplementedError(absl::StrCat("unsupported mask ", *value));
    match.recent_mask = mask->bytes();
    return absl::OkStatus();
  }
  return UnsupportedMatchOption(argument, inverted, match);
}

// -m addrtype [!] --src-type LOCAL / [!] --dst-type LOCAL.
absl::Status ParseAddrtypeOption(ArgumentCursor& cursor, bool inverted, MatchState& match) {
  const std::string argument = cursor.current();
  if (argument != "--src-type" && argument != "--dst-type") {
    return UnsupportedMatchOption(argument, inverted, match);
  }
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  if (*value != "LOCAL")
    return absl::UnimplementedError(absl::StrCat("unsupported address type ", *value));
  if (argument == "--src-type") {
    if (match.source_type != 0) return UnsupportedMatchOption(argument, inverted, match);
    match.source_type = kAddrtypeLocal;
    if (inverted) match.addrtype_flags |= kAddrtypeInvertSource;
  } else {
    if (match.destination_type != 0) return UnsupportedMatchOption(argument, inverted, match);
    match.destination_type = kAddrtypeLocal;
    if (inverted) match.addrtype_flags |= kAddrtypeInvertDest;
  }
  return absl::OkStatus();
}

// -m mark [!] --mark V[/MASK].
absl::Status ParseMarkMatchOption(ArgumentCursor& cursor, bool inverted, MatchState& match) {
  const std::string argument = cursor.current();
  if (argument != "--mark" || match.mark) return UnsupportedMatchOption(argument, inverted, match);
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  std::vector<absl::string_view> parts = absl::StrSplit(*value, '/');
  uint32_t mark = 0;
  uint32_t mask = 0xffffffff;
  if (parts.size() > 2 || !ParseU32(parts[0], mark) ||
      (parts.size() == 2 && !ParseU32(parts[1], mask)) || (mark & ~mask) != 0) {
    return absl::UnimplementedError(absl::StrCat("unsupported mark ", *value));
  }
  match.mark = {mark, mask};
  match.mark_inverted = inverted;
  return absl::OkStatus();
}

// -m conntrack [!] --ctstate STATE[,STATE...].
absl::Status ParseConntrackOption(ArgumentCursor& cursor, bool inverted, MatchState& match) {
  const std::string argument = cursor.current();
  if (argument != "--ctstate" || match.conntrack_states) {
    return UnsupportedMatchOption(argument, inverted, match);
  }
  absl::StatusOr<std::string> value = cursor.NextValue(argument);
  if (!value.ok()) return value.status();
  // XT_CONNTRACK_STATE_* bits.
  static constexpr std::pair<absl::string_view, uint16_t> kStates[] = {
      {"INVALID", 1 << 0}, {"ESTABLISHED", 1 << 1}, {"RELATED", 1 << 2}, {"NEW", 1 << 3},
      {"SNAT", 1 << 6},    {"DNAT", 1 << 7},        {"UNTRACKED", 1 << 8},
  };
  uint16_t states = 0;
  for (absl::string_view state : absl::StrSplit(*value, ',')) {
    const auto* known = std::find_if(std::begin(kStates), std::end(kStates),
                                     [&](const auto& entry) { return entry.first == state; });
    if (known == std::end(kStates)) {
      return absl::UnimplementedError(absl::StrCat("unsupported conntrack state ", state));
    }
    states |= known->second;
  }
  match.conntrack_states = states;
  match.conntrack_inverted = inverted;
  return absl::OkStatus();
}

// An option between -m and -j: it goes to the module loaded last, as the planners write them.
absl::Status ParseMatchOption(ArgumentCursor& cursor, bool inverted, bool ipv6, ParsedRule& rule) {
  if (rule.matches.empty())
    return absl::UnimplementedError(absl::StrCat("unsupported option ", cursor.current()));
  MatchState& match = rule.matches.back();
  if (match.name == "comment") return ParseCommentOption(cursor, inverted, match);
  if (match.name == "tcp" || match.name == "udp" || match.name == "sctp") {
    return ParsePortOption(cursor, inverted, match);
  }
  if (match.name == "statistic") return ParseStatisticOption(cursor, inverted, match);
  if (match.name == "recent") return ParseRecentOption(cursor, inverted, ipv6, match);
  if (match.name == "addrtype") return ParseAddrtypeOption(cursor, inverted, match);
  if (match.name == "mark") return ParseMarkMatchOption(cursor, inverted, match);
  return ParseConntrackOption(cursor, inverted, match);  // the last module ParseMatchModule allows
}

// Every argument after "-A CHAIN", in order; "!" inverts the option that follows it.
absl::StatusOr<ParsedRule> ParseRuleArguments(const std::vector<std::string>& arguments,
                                              bool ipv6) {
  ParsedRule rule;
  bool invert = false;
  for (ArgumentCursor cursor(arguments, 2); !cursor.done(); cursor.Advance()) {
    const std::string& argument = cursor.current();
    if (argument == "!") {
      if (invert) return absl::UnimplementedError("double !");
      invert = true;
      continue;
    }
    const bool inverted = invert;
    invert = false;
    if (rule.have_target && !IsTargetOption(argument)) {
      return absl::UnimplementedError(absl::StrCat("unsupported option after -j: ", argument));
    }
    absl::Status status;
    if (argument == "-p" || argument == "--protocol") {
      status = ParseProtocolOption(cursor, inverted, rule);
    } else if (argument == "-s" || argument == "--source" || argument == "-d" ||
               argument == "--destination") {
      status = ParseAddressOption(cursor, inverted, ipv6, rule);
    } else if (argument == "-i" || argument == "--in-interface" || argument == "-o" ||
               argument == "--out-interface") {
      status = ParseInterfaceOption(cursor, inverted, rule);
    } else if (argument == "-m" || argument == "--match") {
      status = ParseMatchModule(cursor, inverted, rule);
    } else if (argument == "-j" || argument == "--jump") {
      status = ParseTargetName(cursor, inverted, rule);
    } else if (rule.have_target) {
      status = ParseTargetOption(cursor, inverted, ipv6, rule.target);
    } else {
      status = ParseMatchOption(cursor, inverted, ipv6, rule);
    }
    if (!status.ok()) return status;
  }
  if (invert) return absl::UnimplementedError("trailing !");
  return rule;
}

// ---- Encoding: iptables-nft 1.8.9's expressions, one function per match/target family. ----

void EncodeInterface(const std::optional<Interface>& interface, uint32_t key,
                     std::vector<NftExpression>& out) {
  if (!interface) return;
  out.push_back(NftMetaLoad{key});
  out.push_back(NftCompare{interface->inverted, interface->compared});
}

// A /0 matches everything and is left out; whole-byte prefixes compare a shorter payload, others
// mask the full address first.
void EncodePrefix(const std::optional<Prefix>& prefix, uint32_t offset, size_t address_length,
                  std::vector<NftExpression>& out) {
  if (!prefix || prefix->length == 0) return;
  std::string address(reinterpret_cast<const char*>(prefix->address.data()), address_length);
  std::string mask(address_length, '\0');
  for (int bit = 0; bit < prefix->length; ++bit)
    mask[bit / 8] = static_cast<char>(mask[bit / 8] | (0x80 >> (bit % 8)));
  for (size_t b = 0; b < address_length; ++b)
    address[b] = static_cast<char>(address[b] & mask[b]);
  if (prefix->length % 8 == 0) {
    const uint32_t length = static_cast<uint32_t>(prefix->length / 8);
    out.push_back(NftPayloadLoad{NFT_PAYLOAD_NETWORK_HEADER, offset, length});
    out.push_back(NftCompare{prefix->inverted, address.substr(0, length)});
  } else {
    out.push_back(NftPayloadLoad{NFT_PAYLOAD_NETWORK_HEADER, offset,
                                 static_cast<uint32_t>(address_length)});
    out.push_back(NftBitwise{mask, std::string(address_length, '\0')});
    out.push_back(NftCompare{prefix->inverted, address});
  }
}

absl::Status EncodeComment(const MatchState& match, std::vector<NftExpression>& out) {
  if (!match.comment) return absl::UnimplementedError("-m comment without --comment");
  StructImage info(kCommentInfoSize);
  info.Bytes(0, *match.comment);
  out.push_back(NftXtMatch{"comment", 0, std::move(info).Take()});
  return absl::OkStatus();
}

absl::Status EncodePortMatch(const MatchState& match, const ParsedRule& rule,
                             std::vector<NftExpression>& out) {
  const uint8_t wanted = match.name == "tcp"   ? kProtocolTcp
                         : match.name == "udp" ? kProtocolUdp
                                               : kProtocolSctp;
  if (rule.protocol != wanted || rule.protocol_inverted) {
    return absl::UnimplementedError(absl::StrCat("-m ", match.name, " without -p ", match.name));
  }
  if (match.name == "sctp") {
    StructImage info(kSctpInfoSize);
    if (match.destination_port) {
      info.U16(0, *match.destination_port);
      info.U16(2, *match.destination_port);
      info.U32(284, 0x02);  // XT_SCTP_DEST_PORTS
    }
    for (size_t flag = 0; flag < 4; ++flag) info.U8(268 + 3 * flag, 0xff);  // flag_info[].chunktype
    out.push_back(NftXtMatch{"sctp", 0, std::move(info).Take()});
  } else if (match.destination_port) {
    // iptables-nft turns a lone --dport into a native transport header compare.
    out.push_back(NftPayloadLoad{NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2});
    out.push_back(NftCompare{false, BigEndianU16(*match.destination_port)});
  } else {
    StructImage info(kPortRangeInfoSize);
    info.U16(2, 0xffff);  // spts = 0:65535
    info.U16(6, 0xffff);  // dpts = 0:65535
    out.push_back(NftXtMatch{match.name, 0, std::move(info).Take()});
  }
  return absl::OkStatus();
}

absl::Status EncodeStatistic(const MatchState& match, std::vector<NftExpression>& out) {
  if (!match.statistic_mode || !match.probability) {
    return absl::UnimplementedError("-m statistic needs --mode random --probability");
  }
  const uint32_t probability =
      static_cast<uint32_t>(std::lround(*match.probability * 2147483648.0));
  StructImage info(kStatisticInfoSize);
  info.U32(4, probability);   // u.random.probability
  info.U32(12, probability);  // iptables fills u.nth.count with it too
  out.push_back(NftXtMatch{"statistic", 0, std::move(info).Take()});
  return absl::OkStatus();
}

absl::Status EncodeRecent(const MatchState& match, size_t address_length,
                          std::vector<NftExpression>& out) {
  if (!match.recent_name || match.recent_command == 0) {
    return absl::UnimplementedError(
        "-m recent needs --name and one of --set/--rcheck/--update/--remove");
  }
  const bool checks = match.recent_command == kRecentCheck || match.recent_command == kRecentUpdate;
  if ((match.recent_seconds && !checks) || (match.recent_reap && !match.recent_seconds)) {
    return absl::UnimplementedError("unsupported -m recent option combination");
  }
  StructImage info(kRecentInfoSize);
  info.U32(0, match.recent_seconds.value_or(0));
  info.U8(8, static_cast<uint8_t>(match.recent_command | (match.recent_reap ? kRecentReap : 0)));
  // iptables starts from the name "DEFAULT" and copies the given one over it with its NUL, so
  // a name shorter than 7 leaves the tail of "DEFAULT" behind the NUL.
  info.Bytes(10, "DEFAULT");
  info.Bytes(10, *match.recent_name);
  info.U8(10 + match.recent_name->size(), 0);
  info.U8(210, match.recent_side);
  if (match.recent_mask) {
    info.Bytes(212, absl::string_view(reinterpret_cast<const char*>(match.recent_mask->data()),
                                      address_length));
  } else {
    info.Bytes(212, std::string(16, '\xff'));
  }
  out.push_back(NftXtMatch{"recent", 1, std::move(info).Take()});
  return absl::OkStatus();
}

absl::Status EncodeAddrtype(const MatchState& match, std::vector<NftExpression>& out) {
  if (match.source_type == 0 && match.destination_type == 0) {
    return absl::UnimplementedError("-m addrtype without a type");
  }
  StructImage info(kAddrtypeInfoSize);
  info.U16(0, match.source_type);
  info.U16(2, match.destination_type);
  info.U32(4, match.addrtype_flags);
  out.push_back(NftXtMatch{"addrtype", 1, std::move(info).Take()});
  return absl::OkStatus();
}

// iptables-nft writes -m mark natively: meta mark, masked unless the mask is all ones.
absl::Status EncodeMarkMatch(const MatchState& match, std::vector<NftExpression>& out) {
  if (!match.mark) return absl::UnimplementedError("-m mark without --mark");
  out.push_back(NftMetaLoad{NFT_META_MARK});
  if (match.mark->second != 0xffffffff)
    out.push_back(NftBitwise{HostU32(match.mark->second), HostU32(0)});
  out.push_back(NftCompare{match.mark_inverted, HostU32(match.mark->first)});
  return absl::OkStatus();
}

absl::Status EncodeConntrack(const MatchState& match, std::vector<NftExpression>& out) {
  if (!match.conntrack_states) return absl::UnimplementedError("-m conntrack without --ctstate");
  StructImage info(kConntrackInfoSize);
  info.U16(146, 1);  // match_flags = XT_CONNTRACK_STATE
  info.U16(148, match.conntrack_inverted ? 1 : 0);
  info.U16(150, *match.conntrack_states);
  out.push_back(NftXtMatch{"conntrack", 3, std::move(info).Take()});
  return absl::OkStatus();
}

absl::Status EncodeMatch(const MatchState& match, const ParsedRule& rule, size_t address_length,
                         std::vector<NftExpression>& out) {
  if (match.name == "comment") return EncodeComment(match, out);
  if (match.name == "tcp" || match.name == "udp" || match.name == "sctp") {
    return EncodePortMatch(match, rule, out);
  }
  if (match.name == "statistic") return EncodeStatistic(match, out);
  if (match.name == "recent") return EncodeRecent(match, address_length, out);
  if (match.name == "addrtype") return EncodeAddrtype(match, out);
  if (match.name == "mark") return EncodeMarkMatch(match, out);
  return EncodeConntrack(match, out);
}

absl::Status EncodeDnat(const ParsedRule& rule, size_t address_length,
                        std::vector<NftExpression>& out) {
  const TargetState& target = rule.target;
  if (!target.dnat_address) return absl::UnimplementedError("DNAT without --to-destination");
  if (target.dnat_port && (!rule.protocol || rule.protocol_inverted)) {
    return absl::UnimplementedError("DNAT to a port without -p");
  }
  StructImage info(kNatRange2InfoSize);
  info.U32(0, kNatMapIps | (target.dnat_port ? kNatProtoSpecified : 0));
  const absl::string_view address(reinterpret_cast<const char*>(target.dnat_address->data()),
                                  address_length);
  info.Bytes(4, address);   // min_addr
  info.Bytes(20, address);  // max_addr
  if (target.dnat_port) {
    info.BigEndian16(36, *target.dnat_port);
    info.BigEndian16(38, *target.dnat_port);
  }
  out.push_back(NftXtTarget{"DNAT", 2, std::move(info).Take()});
  return absl::OkStatus();
}

absl::Status EncodeMarkTarget(const TargetState& target, std::vector<NftExpression>& out) {
  if (!target.mark) return absl::UnimplementedError("MARK without --or-mark/--xor-mark/--set-xmark");
  StructImage info(kMarkTargetInfoSize);
  info.U32(0, target.mark->first);
  info.U32(4, target.mark->second);
  out.push_back(NftXtTarget{"MARK", 2, std::move(info).Take()});
  return absl::OkStatus();
}

void EncodeMasquerade(const TargetState& target, bool ipv6, std::vector<NftExpression>& out) {
  const uint32_t flags = target.random_fully ? kNatProtoRandomFully : 0;
  if (ipv6) {
    StructImage info(kMasqueradeV6InfoSize);
    info.U32(0, flags);
    out.push_back(NftXtTarget{"MASQUERADE", 0, std::move(info).Take()});
  } else {
    StructImage info(kMasqueradeV4InfoSize);
    info.U32(0, 1);  // rangesize
    info.U32(4, flags);
    out.push_back(NftXtTarget{"MASQUERADE", 0, std::move(info).Take()});
  }
}

void EncodeReject(bool ipv6, std::vector<NftExpression>& out) {
  StructImage info(kRejectInfoSize);
  info.U32(0, ipv6 ? kRejectIcmp6PortUnreachable : kRejectIcmpPortUnreachable);
  out.push_back(NftXtTarget{"REJECT", 0, std::move(info).Take()});
}

absl::Status EncodeTarget(const ParsedRule& rule, bool ipv6, std::vector<NftExpression>& out) {
  const TargetState& target = rule.target;
  switch (target.kind) {
    case TargetKind::kNone:
      return absl::OkStatus();
    case TargetKind::kJump:
      out.push_back(NftVerdict{NFT_JUMP, target.chain});
      return absl::OkStatus();
    case TargetKind::kAccept:
      out.push_back(NftVerdict{NF_ACCEPT, ""});
      return absl::OkStatus();
    case TargetKind::kDrop:
      out.push_back(NftVerdict{NF_DROP, ""});
      return absl::OkStatus();
    case TargetKind::kReturn:
      out.push_back(NftVerdict{NFT_RETURN, ""});
      return absl::OkStatus();
    case TargetKind::kDnat:
      return EncodeDnat(rule, ipv6 ? 16 : 4, out);
    case TargetKind::kMark:
      return EncodeMarkTarget(target, out);
    case TargetKind::kMasquerade:
      EncodeMasquerade(target, ipv6, out);
      return absl::OkStatus();
    case TargetKind::kReject:
      EncodeReject(ipv6, out);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// iptables-nft 1.8.9 order: interfaces, protocol, addresses, then the matches as given, a
// counter, the target.
absl::Status EncodeRule(const ParsedRule& parsed, bool ipv6, NftAppendRule& rule) {
  const size_t address_length = ipv6 ? 16 : 4;
  std::vector<NftExpression>& out = rule.expressions;
  EncodeInterface(parsed.in_interface, NFT_META_IIFNAME, out);
  EncodeInterface(parsed.out_interface, NFT_META_OIFNAME, out);
  if (parsed.protocol) {
    out.push_back(NftMetaLoad{NFT_META_L4PROTO});
    out.push_back(
        NftCompare{parsed.protocol_inverted, std::string(1, static_cast<char>(*parsed.protocol))});
    rule.protocol = *parsed.protocol;
    rule.protocol_inverted = parsed.protocol_inverted;
  }
  EncodePrefix(parsed.source, ipv6 ? 8 : 12, address_length, out);
  EncodePrefix(parsed.destination, ipv6 ? 24 : 16, address_length, out);
  for (const MatchState& match : parsed.matches) {
    if (absl::Status s = EncodeMatch(match, parsed, address_length, out); !s.ok()) return s;
  }
  out.push_back(NftCounter{});
  return EncodeTarget(parsed, ipv6, out);
}

}  // namespace

uint8_t NftRuleTranslator::NfProtocolFamily() const {
  return family_ == proxier::IpFamily::kIPv6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

absl::StatusOr<std::vector<std::string>> NftRuleTranslator::SplitArguments(absl::string_view line) {
  std::vector<std::string> arguments;
  std::string current;
  bool in_argument = false;
  bool quoted = false;
  // iptables-restore opens a quote only at the start of an argument and ends the argument at the
  // closing quote; quotes anywhere else are left to the tool.
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' || c == '\'') {
      return absl::UnimplementedError(absl::StrCat("unsupported character ", std::string(1, c)));
    }
    if (c == '"') {
      if (!quoted && in_argument) return absl::UnimplementedError("quote inside an argument");
      if (quoted && i + 1 < line.size() && line[i + 1] != ' ' && line[i + 1] != '\t') {
        return absl::UnimplementedError("text after a closing quote");
      }
      quoted = !quoted;
      in_argument = true;
      continue;
    }
    if (!quoted && (c == ' ' || c == '\t')) {
      if (in_argument) arguments.push_back(std::move(current));
      current.clear();
      in_argument = false;
      continue;
    }
    current.push_back(c);
    in_argument = true;
  }
  if (quoted) return absl::UnimplementedError("unterminated quote");
  if (in_argument) arguments.push_back(std::move(current));
  return arguments;
}

absl::StatusOr<NftTranslation> NftRuleTranslator::Translate(
    absl::Span<const absl::string_view> pieces) const {
  NftTranslation translation;
  absl::Status status = TranslateEach(pieces, translation.tables, [&](NftOperation&& operation) {
    translation.operations.push_back(std::move(operation));
  });
  if (!status.ok()) return status;
  return translation;
}

absl::Status NftRuleTranslator::TranslateEach(absl::Span<const absl::string_view> pieces,
                                              std::vector<std::string>& tables,
                                              const std::function<void(NftOperation&&)>& on_operation) const {
  std::optional<std::string> table;  // the open table, until its COMMIT
  absl::flat_hash_set<std::string> seen_tables;
  int line_number = 0;

  auto handle_line = [&](absl::string_view raw_line) -> absl::Status {
    ++line_number;
    absl::string_view line = absl::StripTrailingAsciiWhitespace(raw_line);
    auto unsupported = [&](absl::string_view why) {
      return absl::UnimplementedError(
          absl::StrCat("input line ", line_number, " (", line, "): ", why));
    };
    absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (trimmed.empty() || trimmed[0] == '#') return absl::OkStatus();
    if (trimmed[0] == '*') {
      if (table.has_value()) return unsupported("table started before COMMIT");
      absl::string_view name = trimmed.substr(1);
      if (name != "nat" && name != "filter") return unsupported("unsupported table");
      if (!seen_tables.insert(std::string(name)).second) return unsupported("table given twice");
      table = std::string(name);
      tables.push_back(*table);
      return absl::OkStatus();
    }
    if (!table.has_value()) return unsupported("outside a table");
    if (trimmed == "COMMIT") {
      table.reset();
      return absl::OkStatus();
    }
    if (trimmed[0] == ':') {
      std::vector<absl::string_view> fields =
          absl::StrSplit(trimmed.substr(1), ' ', absl::SkipEmpty());
      if (fields.size() != 3 || fields[1] != "-" || !absl::StartsWith(fields[2], "[") ||
          !absl::EndsWith(fields[2], "]")) {
        return unsupported("unsupported chain declaration");
      }
      if (!IsValidChainName(fields[0]) || IsBuiltinChain(fields[0]))
        return unsupported("unsupported chain name");
      on_operation({*table, line_number, NftAddOrFlushChain{std::string(fields[0])}});
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<std::string>> arguments = SplitArguments(trimmed);
    if (!arguments.ok()) return unsupported(arguments.status().message());
    if (arguments->size() == 2 && (*arguments)[0] == "-X") {
      const std::string& chain = (*arguments)[1];
      if (!IsValidChainName(chain) || IsBuiltinChain(chain))
        return unsupported("unsupported chain name");
      on_operation({*table, line_number, NftDeleteChain{chain}});
      return absl::OkStatus();
    }
    if (arguments->size() >= 2 && (*arguments)[0] == "-A") {
      absl::StatusOr<NftAppendRule> rule = TranslateAppend(*arguments);
      if (!rule.ok()) return unsupported(rule.status().message());
      on_operation({*table, line_number, *std::move(rule)});
      return absl::OkStatus();
    }
    return unsupported("unsupported command");
  };

  std::string carry;  // a line split across pieces
  for (absl::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t newline = piece.find('\n');
      if (newline == absl::string_view::npos) {
        carry.append(piece.data(), piece.size());
        break;
      }
      absl::Status status;
      if (carry.empty()) {
        status = handle_line(piece.substr(0, newline));
      } else {
        carry.append(piece.data(), newline);
        status = handle_line(carry);
        carry.clear();
      }
      if (!status.ok()) return status;
      piece.remove_prefix(newline + 1);
    }
  }
  if (!carry.empty()) {
    if (absl::Status status = handle_line(carry); !status.ok()) return status;
  }
  if (table.has_value()) {
    return absl::UnimplementedError(
        absl::StrCat("input ends inside table ", *table, " without COMMIT"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NftAppendRule> NftRuleTranslator::TranslateAppend(
    const std::vector<std::string>& arguments) const {
  const bool ipv6 = family_ == proxier::IpFamily::kIPv6;
  NftAppendRule rule;
  rule.chain = arguments[1];
  if (!IsValidChainName(rule.chain) || IsBuiltinChain(rule.chain)) {
    return absl::UnimplementedError("unsupported chain for -A");
  }
  absl::StatusOr<ParsedRule> parsed = ParseRuleArguments(arguments, ipv6);
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = EncodeRule(*parsed, ipv6, rule); !s.ok()) return s;
  return rule;
}

}  // namespace kproxy::backends::iptables
