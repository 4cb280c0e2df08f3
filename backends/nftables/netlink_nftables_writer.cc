#include "backends/nftables/netlink_nftables_writer.h"

#include <errno.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <algorithm>
#include <cstring>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backends/nftables/nft_statement_translator.h"

namespace kproxy::backends::nftables {
namespace {

template <typename T, void (*Free)(const T*)>
struct Freer {
  void operator()(T* object) const { Free(object); }
};
using TablePtr = std::unique_ptr<nftnl_table, Freer<nftnl_table, nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Freer<nftnl_chain, nftnl_chain_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, Freer<nftnl_rule, nftnl_rule_free>>;
using SetPtr = std::unique_ptr<nftnl_set, Freer<nftnl_set, nftnl_set_free>>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, Freer<nftnl_udata_buf, nftnl_udata_buf_free>>;

// Blocks of this size hold whole messages; one message is at most kMaxMessageBytes.
constexpr size_t kBlockBytes = 4 << 20;
constexpr size_t kMaxMessageBytes = 64 << 10;

uint8_t NfFamily(proxier::IpFamily family) {
  return family == proxier::IpFamily::kIPv6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}
const char* FamilyName(proxier::IpFamily family) {
  return family == proxier::IpFamily::kIPv6 ? "ip6" : "ip";
}

// A comment as nft stores it: one NUL-terminated string attribute of type `type` in userdata.
UdataPtr Comment(uint8_t type, const std::string& comment) {
  UdataPtr buffer(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
  nftnl_udata_put_strz(buffer.get(), type, comment.c_str());
  return buffer;
}

std::optional<uint32_t> HookNumber(const std::string& hook) {
  if (hook == "prerouting") return NF_INET_PRE_ROUTING;
  if (hook == "input") return NF_INET_LOCAL_IN;
  if (hook == "forward") return NF_INET_FORWARD;
  if (hook == "output") return NF_INET_LOCAL_OUT;
  if (hook == "postrouting") return NF_INET_POST_ROUTING;
  return std::nullopt;
}

nftnl_expr* BuildExpression(const NftExpr& value) {
  nftnl_expr* e = nftnl_expr_alloc(value.name.c_str());
  for (const auto& [key, number] : value.numbers) nftnl_expr_set_u32(e, key, number);
  for (const auto& [key, number] : value.wide_numbers) nftnl_expr_set_u64(e, key, number);
  for (const auto& [key, number] : value.small_numbers) nftnl_expr_set_u8(e, key, number);
  for (const auto& [key, bytes] : value.bytes) {
    nftnl_expr_set(e, key, bytes.data(), static_cast<uint32_t>(bytes.size()));
  }
  for (const auto& [key, text] : value.strings) nftnl_expr_set_str(e, key, text.c_str());
  return e;
}

// One userdata TLV as nft writes it: type, length, value.
std::string Tlv(uint8_t type, const std::string& value) {
  return std::string(1, static_cast<char>(type)) + std::string(1, static_cast<char>(value.size())) +
         value;
}
std::string TlvU32(uint8_t type, uint32_t value) {
  std::string bytes(4, '\0');
  std::memcpy(bytes.data(), &value, 4);
  return Tlv(type, bytes);
}

// A set's userdata: its comment and, for the planner's `typeof numgen random mod N : ip daddr .
// th dport` endpoint maps, the typeof declaration as nft 1.0.6 stores it (byte orders, the
// numgen expression, the concatenation of two payload fields, "data is no interval"), so
// `nft list` prints the declaration back.
std::string SetUserdata(const NftSetSpec& set) {
  std::string out;
  if (set.typeof_numgen_modulus != 0) {
    const bool ipv6 = set.value_types[0] == "ipv6_addr";
    constexpr uint32_t kExprNumgen = 23, kExprConcat = 13, kExprPayload = 7;
    // nft's proto_desc ids: udp 6, tcp 8, sctp 10, th 11, ip 12, ip6 13; dport is field 2 of each.
    const uint32_t kProtoTransport = set.typeof_port_protocol == "tcp"    ? 8
                                     : set.typeof_port_protocol == "udp"  ? 6
                                     : set.typeof_port_protocol == "sctp" ? 10
                                                                          : 11;
    constexpr uint32_t kProtoIp = 12, kProtoIp6 = 13;
    constexpr uint32_t kIpDaddr = 12, kIp6Daddr = 9, kTransportDport = 2;
    out += TlvU32(NFTNL_UDATA_SET_KEYBYTEORDER, 1);   // host order
    out += TlvU32(NFTNL_UDATA_SET_DATABYTEORDER, 0);  // a concatenation
    out += Tlv(NFTNL_UDATA_SET_KEY_TYPEOF,
               TlvU32(NFTNL_UDATA_SET_TYPEOF_EXPR, kExprNumgen) +
                   Tlv(NFTNL_UDATA_SET_TYPEOF_DATA,
                       TlvU32(0, NFT_NG_RANDOM) + TlvU32(1, set.typeof_numgen_modulus) + TlvU32(2, 0)));
    auto payload = [&](uint32_t protocol, uint32_t field) {
      return TlvU32(NFTNL_UDATA_SET_TYPEOF_EXPR, kExprPayload) +
             Tlv(NFTNL_UDATA_SET_TYPEOF_DATA, TlvU32(0, protocol) + TlvU32(1, field));
    };
    out += Tlv(NFTNL_UDATA_SET_DATA_TYPEOF,
               TlvU32(NFTNL_UDATA_SET_TYPEOF_EXPR, kExprConcat) +
                   Tlv(NFTNL_UDATA_SET_TYPEOF_DATA,
                       Tlv(0, payload(ipv6 ? kProtoIp6 : kProtoIp, ipv6 ? kIp6Daddr : kIpDaddr)) +
                           Tlv(1, payload(kProtoTransport, kTransportDport))));
    out += TlvU32(NFTNL_UDATA_SET_DATA_INTERVAL, 0);
  }
  if (!set.comment.empty()) out += Tlv(NFTNL_UDATA_SET_COMMENT, set.comment + '\0');
  return out;
}

class BatchEncoder {
 public:
  BatchEncoder(const NftTransaction& transaction, uint32_t first_sequence)
      : transaction_(transaction),
        nf_family_(NfFamily(transaction.family)),
        translator_(transaction.family, transaction.sets),
        sequence_(first_sequence) {
    batch_.begin_sequence = sequence_;
    batch_.acknowledge = transaction.operations.size() <= kMaxAcknowledgedOperations;
    std::string& block = Block();
    const size_t at = block.size();
    block.resize(at + 64);
    block.resize(at + NLMSG_ALIGN(nftnl_batch_begin(&block[at], sequence_++)->nlmsg_len));
  }

  absl::Status Add(size_t index) {
    operation_ = static_cast<uint32_t>(index);
    return std::visit([this](const auto& operation) { return Encode(operation); },
                      transaction_.operations[index]);
  }

  EncodedNftBatch Finish() && {
    batch_.end_sequence = sequence_;
    std::string& block = Block();
    const size_t at = block.size();
    block.resize(at + 64);
    block.resize(at + NLMSG_ALIGN(nftnl_batch_end(&block[at], sequence_)->nlmsg_len));
    return std::move(batch_);
  }

 private:
  std::string& Block() {
    if (batch_.blocks.empty() ||
        batch_.blocks.back().capacity() - batch_.blocks.back().size() < kMaxMessageBytes) {
      batch_.blocks.emplace_back();
      batch_.blocks.back().reserve(kBlockBytes);
    }
    return batch_.blocks.back();
  }

  template <typename Build>
  void Message(uint16_t type, uint16_t flags, Build build) {
    batch_.operation_of_message.push_back(operation_);
    if (!batch_.acknowledge) flags &= ~NLM_F_ACK;
    nfnetlink::AppendMessage(Block(), type, nf_family_, flags, sequence_++, build,
                             kMaxMessageBytes);
  }

  TablePtr Table() const {
    TablePtr table(nftnl_table_alloc());
    nftnl_table_set_str(table.get(), NFTNL_TABLE_NAME, transaction_.table.c_str());
    return table;
  }
  ChainPtr Chain(const std::string& name) const {
    ChainPtr chain(nftnl_chain_alloc());
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, transaction_.table.c_str());
    nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
    return chain;
  }
  SetPtr Set(const std::string& name) const {
    SetPtr set(nftnl_set_alloc());
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, transaction_.table.c_str());
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, name.c_str());
    return set;
  }

  absl::Status Encode(const NftAddTable& add) {
    TablePtr table = Table();
    UdataPtr comment;
    if (!add.comment.empty()) {
      comment = Comment(NFTNL_UDATA_TABLE_COMMENT, add.comment);
      nftnl_table_set_data(table.get(), NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(comment.get()),
                           nftnl_udata_buf_len(comment.get()));
    }
    Message(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_table_nlmsg_build_payload(h, table.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftDeleteTable&) {
    TablePtr table = Table();
    Message(NFT_MSG_DELTABLE, NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_table_nlmsg_build_payload(h, table.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftAddChain& add) {
    ChainPtr chain = Chain(add.name);
    if (add.hook) {
      auto number = HookNumber(add.hook->hook);
      if (!number) return absl::InvalidArgumentError(absl::StrCat("chain ", add.name, ": hook ", add.hook->hook));
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_HOOKNUM, *number);
      nftnl_chain_set_s32(chain.get(), NFTNL_CHAIN_PRIO, add.hook->priority);
      nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TYPE, add.hook->type.c_str());
      nftnl_chain_set_u32(chain.get(), NFTNL_CHAIN_POLICY, NF_ACCEPT);
    }
    UdataPtr comment;
    if (!add.comment.empty()) {
      comment = Comment(NFTNL_UDATA_CHAIN_COMMENT, add.comment);
      nftnl_chain_set_data(chain.get(), NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(comment.get()),
                           nftnl_udata_buf_len(comment.get()));
    }
    Message(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_chain_nlmsg_build_payload(h, chain.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftFlushChain& flush) {
    // A DELRULE naming only the chain flushes it.
    RulePtr rule(nftnl_rule_alloc());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, transaction_.table.c_str());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, flush.name.c_str());
    Message(NFT_MSG_DELRULE, NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_rule_nlmsg_build_payload(h, rule.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftDeleteChain& remove) {
    ChainPtr chain = Chain(remove.name);
    Message(NFT_MSG_DELCHAIN, NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_chain_nlmsg_build_payload(h, chain.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftAddRule& add) {
    std::vector<NftAnonymousSet> anonymous;
    auto expressions = translator_.TranslateRule(add.statement, set_id_ + 1, &anonymous);
    if (!expressions.ok()) return expressions.status();
    for (const NftAnonymousSet& constant : anonymous) {
      set_id_ = std::max(set_id_, constant.id);
      if (absl::Status s = AnonymousSet(constant); !s.ok()) return s;
    }
    RulePtr rule(nftnl_rule_alloc());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, transaction_.table.c_str());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, add.chain.c_str());
    for (const NftExpr& expression : *expressions) {
      nftnl_rule_add_expr(rule.get(), BuildExpression(expression));
    }
    UdataPtr comment;
    if (!add.comment.empty()) {
      comment = Comment(NFTNL_UDATA_RULE_COMMENT, add.comment);
      nftnl_rule_set_data(rule.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(comment.get()),
                          nftnl_udata_buf_len(comment.get()));
    }
    Message(NFT_MSG_NEWRULE, NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_rule_nlmsg_build_payload(h, rule.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftAddSet& add) {
    auto layout = NftStatementTranslator::Layout(add.set);
    if (!layout.ok()) return layout.status();
    SetPtr set = Set(add.set.name);
    nftnl_set_set_u32(set.get(), NFTNL_SET_FLAGS, layout->flags);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, layout->key_type);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, layout->key_length);
    if (layout->is_map) {
      nftnl_set_set_u32(set.get(), NFTNL_SET_DATA_TYPE, layout->data_type);
      if (!layout->verdict_map) nftnl_set_set_u32(set.get(), NFTNL_SET_DATA_LEN, layout->data_length);
    }
    if (add.set.default_timeout > absl::ZeroDuration()) {
      nftnl_set_set_u64(set.get(), NFTNL_SET_TIMEOUT,
                        static_cast<uint64_t>(absl::ToInt64Milliseconds(add.set.default_timeout)));
    }
    if (layout->flags & NFT_SET_CONCAT) {
      nftnl_set_set_data(set.get(), NFTNL_SET_DESC_CONCAT, layout->field_lengths.data(),
                         static_cast<uint32_t>(layout->field_lengths.size()));
    }
    nftnl_set_set_u32(set.get(), NFTNL_SET_ID, ++set_id_);
    const std::string udata = SetUserdata(add.set);
    if (!udata.empty()) {
      nftnl_set_set_data(set.get(), NFTNL_SET_USERDATA, udata.data(),
                         static_cast<uint32_t>(udata.size()));
    }
    Message(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_set_nlmsg_build_payload(h, set.get()); });
    return absl::OkStatus();
  }
  // A rule's `{ a, b }`: a constant set created with the rule, as nft does.
  absl::Status AnonymousSet(const NftAnonymousSet& constant) {
    auto layout = NftStatementTranslator::Layout(constant.set);
    if (!layout.ok()) return layout.status();
    SetPtr set = Set(constant.set.name);
    nftnl_set_set_u32(set.get(), NFTNL_SET_FLAGS, layout->flags | NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_TYPE, layout->key_type);
    nftnl_set_set_u32(set.get(), NFTNL_SET_KEY_LEN, layout->key_length);
    nftnl_set_set_u32(set.get(), NFTNL_SET_ID, constant.id);
    std::vector<NftEncodedElement> encoded;
    if (constant.set.interval) {
      // nft opens an interval set with an end element at zero (nothing below the first range).
      NftEncodedElement zero;
      zero.key.assign(layout->key_length, '\0');
      zero.interval_end = true;
      encoded.push_back(std::move(zero));
    }
    for (const NftElementSpec& element : constant.elements) {
      auto parts = translator_.EncodeElement(constant.set, element);
      if (!parts.ok()) return parts.status();
      for (NftEncodedElement& part : *parts) encoded.push_back(std::move(part));
    }
    nftnl_set_set_u32(set.get(), NFTNL_SET_DESC_SIZE, static_cast<uint32_t>(encoded.size()));
    Message(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_set_nlmsg_build_payload(h, set.get()); });
    return SendElements(constant.set.name, encoded, true, constant.id);
  }

  absl::Status Encode(const NftDeleteSet& remove) {
    SetPtr set = Set(remove.name);
    Message(NFT_MSG_DELSET, NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_set_nlmsg_build_payload(h, set.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftFlushSet& flush) {
    // A DELSETELEM without elements flushes the set.
    SetPtr set = Set(flush.name);
    Message(NFT_MSG_DELSETELEM, NLM_F_ACK,
            [&](nlmsghdr* h) { nftnl_set_elems_nlmsg_build_payload(h, set.get()); });
    return absl::OkStatus();
  }
  absl::Status Encode(const NftAddElements& add) { return Elements(add.set, add.elements, true); }
  absl::Status Encode(const NftDeleteElements& remove) {
    return Elements(remove.set, remove.elements, false);
  }

  absl::Status Elements(const std::string& name, const std::vector<NftElementSpec>& elements,
                        bool add) {
    const NftSetSpec* spec = nullptr;
    for (const NftSetSpec& set : transaction_.sets) {
      if (set.name == name) spec = &set;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("elements of undeclared set ", name));
    }
    std::vector<NftEncodedElement> encoded;
    for (const NftElementSpec& element : elements) {
      auto parts = translator_.EncodeElement(*spec, element);
      if (!parts.ok()) return parts.status();
      for (NftEncodedElement& part : *parts) {
        // Deleting an element names only its key (and interval end).
        if (!add) {
          part.data.clear();
          part.has_verdict = false;
          part.comment.clear();
        }
        encoded.push_back(std::move(part));
      }
    }
    return SendElements(name, encoded, add, 0);
  }

  // NEWSETELEM/DELSETELEM messages of at most kElementsPerMessage elements each; `set_id` names a
  // set created in this transaction (anonymous sets), 0 none.
  absl::Status SendElements(const std::string& name, const std::vector<NftEncodedElement>& encoded,
                            bool add, uint32_t set_id) {
    for (size_t at = 0; at < encoded.size(); at += kElementsPerMessage) {
      SetPtr set = Set(name);
      if (set_id != 0) nftnl_set_set_u32(set.get(), NFTNL_SET_ID, set_id);
      const size_t end = std::min(encoded.size(), at + kElementsPerMessage);
      std::vector<UdataPtr> comments;
      for (size_t i = at; i < end; ++i) {
        const NftEncodedElement& value = encoded[i];
        nftnl_set_elem* element = nftnl_set_elem_alloc();
        nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, value.key.data(),
                           static_cast<uint32_t>(value.key.size()));
        if (!value.key_end.empty()) {
          nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY_END, value.key_end.data(),
                             static_cast<uint32_t>(value.key_end.size()));
        }
        if (value.interval_end) nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        if (!value.data.empty()) {
          nftnl_set_elem_set(element, NFTNL_SET_ELEM_DATA, value.data.data(),
                             static_cast<uint32_t>(value.data.size()));
        }
        if (value.has_verdict) {
          nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(value.verdict));
          if (!value.verdict_chain.empty()) {
            nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, value.verdict_chain.c_str());
          }
        }
        if (!value.comment.empty()) {
          comments.push_back(Comment(NFTNL_UDATA_SET_ELEM_COMMENT, value.comment));
          nftnl_set_elem_set(element, NFTNL_SET_ELEM_USERDATA,
                             nftnl_udata_buf_data(comments.back().get()),
                             nftnl_udata_buf_len(comments.back().get()));
        }
        nftnl_set_elem_add(set.get(), element);
      }
      Message(add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
              static_cast<uint16_t>(add ? (NLM_F_CREATE | NLM_F_ACK) : NLM_F_ACK),
              [&](nlmsghdr* h) { nftnl_set_elems_nlmsg_build_payload(h, set.get()); });
    }
    return absl::OkStatus();
  }

  const NftTransaction& transaction_;
  const uint8_t nf_family_;
  const NftStatementTranslator translator_;
  uint32_t sequence_;
  uint32_t operation_ = 0;
  uint32_t set_id_ = 0;
  EncodedNftBatch batch_;
};

}  // namespace

absl::StatusOr<EncodedNftBatch> EncodeNftTransaction(const NftTransaction& transaction,
                                                     uint32_t first_sequence) {
  BatchEncoder encoder(transaction, first_sequence);
  for (size_t i = 0; i < transaction.operations.size(); ++i) {
    if (absl::Status s = encoder.Add(i); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(DescribeOperation(transaction, i), ": ", s.message()));
    }
  }
  return std::move(encoder).Finish();
}

std::string DescribeOperation(const NftTransaction& transaction, size_t index) {
  const std::string where = absl::StrCat(FamilyName(transaction.family), " ", transaction.table);
  if (index >= transaction.operations.size()) return absl::StrCat("batch on ", where);
  return std::visit(
      [&](const auto& op) -> std::string {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, NftAddTable>) return absl::StrCat("NEWTABLE ", where);
        if constexpr (std::is_same_v<T, NftDeleteTable>) return absl::StrCat("DELTABLE ", where);
        if constexpr (std::is_same_v<T, NftAddChain>) return absl::StrCat("NEWCHAIN ", where, " ", op.name);
        if constexpr (std::is_same_v<T, NftFlushChain>) return absl::StrCat("DELRULE (flush) ", where, " ", op.name);
        if constexpr (std::is_same_v<T, NftDeleteChain>) return absl::StrCat("DELCHAIN ", where, " ", op.name);
        if constexpr (std::is_same_v<T, NftAddRule>) {
          return absl::StrCat("NEWRULE ", where, " ", op.chain, " \"", op.statement, "\"");
        }
        if constexpr (std::is_same_v<T, NftAddSet>) return absl::StrCat("NEWSET ", where, " ", op.set.name);
        if constexpr (std::is_same_v<T, NftDeleteSet>) return absl::StrCat("DELSET ", where, " ", op.name);
        if constexpr (std::is_same_v<T, NftFlushSet>) return absl::StrCat("DELSETELEM (flush) ", where, " ", op.name);
        if constexpr (std::is_same_v<T, NftAddElements>) {
          return absl::StrCat("NEWSETELEM ", where, " ", op.set, " (", op.elements.size(), " elements)");
        }
        if constexpr (std::is_same_v<T, NftDeleteElements>) {
          return absl::StrCat("DELSETELEM ", where, " ", op.set, " (", op.elements.size(), " elements)");
        }
        return "?";
      },
      transaction.operations[index]);
}

absl::StatusOr<std::unique_ptr<NetlinkNftablesWriter>> NetlinkNftablesWriter::Create() {
  auto socket = nfnetlink::NfnetlinkSocket::Open();
  if (!socket.ok()) return socket.status();
  return std::unique_ptr<NetlinkNftablesWriter>(new NetlinkNftablesWriter(*std::move(socket)));
}

absl::Status NetlinkNftablesWriter::Apply(const NftTransaction& transaction) {
  if (transaction.operations.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mutex_);
  const uint32_t first = socket_->TakeSequences(0);
  auto batch = EncodeNftTransaction(transaction, first);
  if (!batch.ok()) return batch.status();
  socket_->TakeSequences(batch->end_sequence + 2 - first);  // BEGIN .. END, then the fence
  auto answer = socket_->SendBatch(batch->blocks, batch->begin_sequence, batch->end_sequence,
                                   batch->operation_of_message.size());
  if (!answer.ok()) return answer.status();
  if (answer->first_error) {
    const nfnetlink::BatchError& error = *answer->first_error;
    const size_t message = error.sequence - batch->begin_sequence - 1;
    const size_t operation = error.sequence == batch->begin_sequence ||
                                     message >= batch->operation_of_message.size()
                                 ? transaction.operations.size()
                                 : batch->operation_of_message[message];
    std::string text = absl::StrCat("nf_tables ", DescribeOperation(transaction, operation), ": ",
                                    nfnetlink::ErrnoText(error.error_number));
    if (!error.detail.empty()) absl::StrAppend(&text, ": ", error.detail);
    return absl::InternalError(absl::StrCat(text, "; nothing was changed"));
  }
  if (batch->acknowledge && answer->acknowledged != batch->operation_of_message.size()) {
    return absl::InternalError(absl::StrCat("nf_tables: ", answer->acknowledged, " of ",
                                            batch->operation_of_message.size(),
                                            " messages acknowledged; outcome unknown"));
  }
  return absl::OkStatus();
}

absl::StatusOr<NftTableContents> NetlinkNftablesWriter::Read(proxier::IpFamily family,
                                                             const std::string& table) {
  absl::MutexLock lock(&mutex_);
  NftTableContents contents;
  const uint8_t nf_family = NfFamily(family);
  auto dump = [&](uint16_t type, const std::function<void(nlmsghdr*)>& fill,
                  const std::function<void(const nlmsghdr*)>& on_reply, int& error) {
    std::string request;
    const uint32_t sequence = socket_->TakeSequences(1);
    nfnetlink::AppendMessage(request, type, nf_family, NLM_F_ACK | (fill ? 0 : NLM_F_DUMP),
                             sequence, fill ? fill : [](nlmsghdr*) {});
    return socket_->RoundTrip(request, sequence, error, on_reply);
  };
  TablePtr request(nftnl_table_alloc());
  nftnl_table_set_str(request.get(), NFTNL_TABLE_NAME, table.c_str());
  int error = 0;
  if (absl::Status s = dump(NFT_MSG_GETTABLE,
                            [&](nlmsghdr* h) { nftnl_table_nlmsg_build_payload(h, request.get()); },
                            nullptr, error);
      !s.ok()) {
    return s;
  }
  if (error == ENOENT || error == EAFNOSUPPORT || error == EOPNOTSUPP) return contents;
  if (error != 0) {
    return absl::InternalError(absl::StrCat("nf_tables: GETTABLE ", FamilyName(family), " ", table,
                                            ": ", nfnetlink::ErrnoText(error)));
  }
  contents.exists = true;
  auto chains = dump(
      NFT_MSG_GETCHAIN, nullptr,
      [&](const nlmsghdr* h) {
        ChainPtr chain(nftnl_chain_alloc());
        if (nftnl_chain_nlmsg_parse(h, chain.get()) < 0) return;
        if (table == nftnl_chain_get_str(chain.get(), NFTNL_CHAIN_TABLE)) {
          contents.chains.push_back(nftnl_chain_get_str(chain.get(), NFTNL_CHAIN_NAME));
        }
      },
      error);
  if (!chains.ok()) return chains;
  if (error != 0) return absl::InternalError(absl::StrCat("nf_tables: GETCHAIN dump: ", nfnetlink::ErrnoText(error)));
  auto sets = dump(
      NFT_MSG_GETSET, nullptr,
      [&](const nlmsghdr* h) {
        SetPtr set(nftnl_set_alloc());
        if (nftnl_set_nlmsg_parse(h, set.get()) < 0) return;
        // Anonymous sets and maps ("__set0", "__map0") belong to the rules that use them.
        if (table == nftnl_set_get_str(set.get(), NFTNL_SET_TABLE) &&
            !absl::StartsWith(nftnl_set_get_str(set.get(), NFTNL_SET_NAME), "__")) {
          contents.sets.push_back(nftnl_set_get_str(set.get(), NFTNL_SET_NAME));
        }
      },
      error);
  if (!sets.ok()) return sets;
  if (error != 0) return absl::InternalError(absl::StrCat("nf_tables: GETSET dump: ", nfnetlink::ErrnoText(error)));
  std::sort(contents.chains.begin(), contents.chains.end());
  std::sort(contents.sets.begin(), contents.sets.end());
  return contents;
}

}  // namespace kproxy::backends::nftables
