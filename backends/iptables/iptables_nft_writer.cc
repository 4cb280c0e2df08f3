#include "backends/iptables/iptables_nft_writer.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kproxy::backends::iptables {
namespace {

// Above this many operations the batch asks for no per-message ACKs: the kernel still reports
// every failing message, and the GETGEN fence tells when all answers are in. Each ACK is an skb of
// ~1 KiB of receive buffer, too much to queue for a 10k-Service full sync.
constexpr size_t kMaxAcknowledgedMessages = 8192;
// Room for one message: a rule is at most a few hundred bytes of xt structs.
constexpr size_t kMaxMessageBytes = 16384;

template <typename T, void (*Free)(const T*)>
struct Freer {
  void operator()(T* object) const { Free(object); }
};
using RulePtr = std::unique_ptr<nftnl_rule, Freer<nftnl_rule, nftnl_rule_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, Freer<nftnl_chain, nftnl_chain_free>>;
using TablePtr = std::unique_ptr<nftnl_table, Freer<nftnl_table, nftnl_table_free>>;

std::string FamilyName(uint8_t nf_family) { return nf_family == NFPROTO_IPV6 ? "ip6" : "ip"; }

// libnftnl keeps (and later frees) the info buffer of match and target expressions.
void* MallocCopy(const std::string& bytes) {
  void* copy = std::malloc(bytes.empty() ? 1 : bytes.size());
  if (!bytes.empty()) std::memcpy(copy, bytes.data(), bytes.size());
  return copy;
}

nftnl_expr* BuildExpression(const NftExpression& expression) {
  return std::visit(
      [](const auto& value) -> nftnl_expr* {
        using T = std::decay_t<decltype(value)>;
        nftnl_expr* e = nullptr;
        if constexpr (std::is_same_v<T, NftMetaLoad>) {
          e = nftnl_expr_alloc("meta");
          nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, value.key);
          nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
        } else if constexpr (std::is_same_v<T, NftPayloadLoad>) {
          e = nftnl_expr_alloc("payload");
          nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, value.base);
          nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, value.offset);
          nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, value.length);
          nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        } else if constexpr (std::is_same_v<T, NftBitwise>) {
          e = nftnl_expr_alloc("bitwise");
          nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
          nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
          nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, static_cast<uint32_t>(value.mask.size()));
          nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, value.mask.data(),
                         static_cast<uint32_t>(value.mask.size()));
          nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, value.xor_value.data(),
                         static_cast<uint32_t>(value.xor_value.size()));
        } else if constexpr (std::is_same_v<T, NftCompare>) {
          e = nftnl_expr_alloc("cmp");
          nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
          nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, value.not_equal ? NFT_CMP_NEQ : NFT_CMP_EQ);
          nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, value.data.data(),
                         static_cast<uint32_t>(value.data.size()));
        } else if constexpr (std::is_same_v<T, NftXtMatch>) {
          e = nftnl_expr_alloc("match");
          nftnl_expr_set_str(e, NFTNL_EXPR_MT_NAME, value.name.c_str());
          nftnl_expr_set_u32(e, NFTNL_EXPR_MT_REV, value.revision);
          nftnl_expr_set(e, NFTNL_EXPR_MT_INFO, MallocCopy(value.info),
                         static_cast<uint32_t>(value.info.size()));
        } else if constexpr (std::is_same_v<T, NftXtTarget>) {
          e = nftnl_expr_alloc("target");
          nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, value.name.c_str());
          nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, value.revision);
          nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, MallocCopy(value.info),
                         static_cast<uint32_t>(value.info.size()));
        } else if constexpr (std::is_same_v<T, NftCounter>) {
          e = nftnl_expr_alloc("counter");
        } else if constexpr (std::is_same_v<T, NftVerdict>) {
          e = nftnl_expr_alloc("immediate");
          nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
          nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(value.code));
          if (!value.chain.empty())
            nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, value.chain.c_str());
        }
        return e;
      },
      expression);
}

// The text of 1-based `line` in the joined pieces ("" if out of range).
std::string InputLine(absl::Span<const absl::string_view> pieces, int line) {
  std::string joined;
  for (absl::string_view piece : pieces) joined.append(piece.data(), piece.size());
  int number = 0;
  for (absl::string_view text : absl::StrSplit(joined, '\n')) {
    if (++number == line) return std::string(text);
  }
  return "";
}

}  // namespace

namespace {

// Blocks of this size hold whole messages; a batch of 200 MB is ~50 of them.
constexpr size_t kBlockBytes = 4 << 20;

constexpr absl::string_view MessageKindName(NftMessageKind kind) {
  switch (kind) {
    case NftMessageKind::kNewChain: return "NEWCHAIN";
    case NftMessageKind::kFlushChain: return "DELRULE (flush)";
    case NftMessageKind::kDeleteChain: return "DELCHAIN";
    case NftMessageKind::kNewRule: return "NEWRULE";
  }
  return "?";
}

// The table a line belongs to: the last "*table" line before it.
std::string TableOfLine(absl::Span<const absl::string_view> pieces, int line) {
  std::string table;
  int number = 0;
  std::string joined;
  for (absl::string_view piece : pieces) joined.append(piece.data(), piece.size());
  for (absl::string_view text : absl::StrSplit(joined, '\n')) {
    if (++number > line) break;
    if (absl::StartsWith(text, "*")) table = std::string(absl::StripAsciiWhitespace(text.substr(1)));
  }
  return table;
}

}  // namespace

std::string ParseIptablesVersion(absl::string_view version_output) {
  // "iptables v1.8.9 (nf_tables)" / "ip6tables v1.8.9 (nf_tables)": the word after the tool name.
  std::vector<absl::string_view> words =
      absl::StrSplit(absl::StripAsciiWhitespace(version_output), ' ', absl::SkipEmpty());
  if (words.size() < 2 || !absl::ConsumePrefix(&words[1], "v")) return "";
  absl::string_view version = words[1];
  if (version.empty() || !absl::ascii_isdigit(version.front()) ||
      !absl::ascii_isdigit(version.back()) ||
      version.find_first_not_of("0123456789.") != absl::string_view::npos) {
    return "";
  }
  return std::string(version);
}

bool IsVerifiedIptablesNftVersion(absl::string_view version) {
  return std::find(kVerifiedIptablesNftVersions.begin(), kVerifiedIptablesNftVersions.end(),
                   version) != kVerifiedIptablesNftVersions.end();
}

size_t NftBatch::size() const {
  size_t total = 0;
  for (const std::string& block : blocks) total += block.size();
  return total;
}

std::string NftBatch::Joined() const {
  std::string joined;
  joined.reserve(size());
  for (const std::string& block : blocks) joined += block;
  return joined;
}

std::string DescribeMessage(const NftBatchMessage& message, uint8_t nf_family,
                            absl::Span<const absl::string_view> pieces) {
  // ":KUBE-SVC-X - [0:0]", "-A KUBE-SVC-X ...", "-X KUBE-SVC-X": the chain is the first name.
  const std::string line = InputLine(pieces, message.line);
  absl::string_view chain = absl::StripLeadingAsciiWhitespace(line);
  if (absl::ConsumePrefix(&chain, ":") || absl::ConsumePrefix(&chain, "-A ") || absl::ConsumePrefix(&chain, "-X ")) {
    chain = chain.substr(0, chain.find(' '));
  }
  return absl::StrCat(MessageKindName(message.kind), " ", FamilyName(nf_family), " ",
                      TableOfLine(pieces, message.line), " ", chain);
}

namespace {
// A chain object carrying only its identity: what NEWCHAIN (create or keep) and DELCHAIN send.
ChainPtr NamedChain(const std::string& table, const std::string& name) {
  ChainPtr chain(nftnl_chain_alloc());
  nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
  return chain;
}
}  // namespace

NftBatchBuilder::NftBatchBuilder(uint8_t nf_family, uint32_t first_sequence, bool acknowledge)
    : nf_family_(nf_family), sequence_(first_sequence) {
  batch_.acknowledge = acknowledge;
  batch_.begin_sequence = sequence_;
  std::string& block = Block();
  const size_t at = block.size();
  block.resize(at + kMaxMessageBytes);
  nlmsghdr* header = nftnl_batch_begin(&block[at], sequence_++);
  block.resize(at + NLMSG_ALIGN(header->nlmsg_len));
}

std::string& NftBatchBuilder::Block() {
  if (batch_.blocks.empty() || batch_.blocks.back().capacity() - batch_.blocks.back().size() < kMaxMessageBytes) {
    batch_.blocks.emplace_back();
    batch_.blocks.back().reserve(batch_.blocks.size() == 1 ? 2 * kMaxMessageBytes : kBlockBytes);
  }
  return batch_.blocks.back();
}

void NftBatchBuilder::Add(const NftOperation& operation) {
  const uint16_t ack = batch_.acknowledge ? NLM_F_ACK : 0;
  auto record = [&](NftMessageKind kind) { batch_.messages.push_back({sequence_, kind, operation.line}); };
  if (const auto* add = std::get_if<NftAddOrFlushChain>(&operation.kind)) {
    ChainPtr chain = NamedChain(operation.table, add->chain);
    record(NftMessageKind::kNewChain);
    nfnetlink::AppendMessage(Block(), NFT_MSG_NEWCHAIN, nf_family_, NLM_F_CREATE | ack, sequence_++,
                  [&](nlmsghdr* header) { nftnl_chain_nlmsg_build_payload(header, chain.get()); });
    // A DELRULE naming only the chain flushes it.
    RulePtr flush(nftnl_rule_alloc());
    nftnl_rule_set_str(flush.get(), NFTNL_RULE_TABLE, operation.table.c_str());
    nftnl_rule_set_str(flush.get(), NFTNL_RULE_CHAIN, add->chain.c_str());
    record(NftMessageKind::kFlushChain);
    nfnetlink::AppendMessage(Block(), NFT_MSG_DELRULE, nf_family_, ack, sequence_++,
                  [&](nlmsghdr* header) { nftnl_rule_nlmsg_build_payload(header, flush.get()); });
  } else if (const auto* remove = std::get_if<NftDeleteChain>(&operation.kind)) {
    ChainPtr chain = NamedChain(operation.table, remove->chain);
    record(NftMessageKind::kDeleteChain);
    nfnetlink::AppendMessage(Block(), NFT_MSG_DELCHAIN, nf_family_, ack, sequence_++,
                  [&](nlmsghdr* header) { nftnl_chain_nlmsg_build_payload(header, chain.get()); });
  } else if (const auto* append = std::get_if<NftAppendRule>(&operation.kind)) {
    RulePtr rule(nftnl_rule_alloc());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_TABLE, operation.table.c_str());
    nftnl_rule_set_str(rule.get(), NFTNL_RULE_CHAIN, append->chain.c_str());
    if (append->protocol != 0) {
      nftnl_rule_set_u32(rule.get(), NFTNL_RULE_COMPAT_PROTO, append->protocol);
      nftnl_rule_set_u32(rule.get(), NFTNL_RULE_COMPAT_FLAGS,
                         append->protocol_inverted ? NFT_RULE_COMPAT_F_INV : 0);
    }
    for (const NftExpression& expression : append->expressions) {
      nftnl_rule_add_expr(rule.get(), BuildExpression(expression));
    }
    record(NftMessageKind::kNewRule);
    nfnetlink::AppendMessage(Block(), NFT_MSG_NEWRULE, nf_family_, NLM_F_APPEND | NLM_F_CREATE | ack, sequence_++,
                  [&](nlmsghdr* header) { nftnl_rule_nlmsg_build_payload(header, rule.get()); });
  }
}

NftBatch NftBatchBuilder::Finish() && {
  batch_.end_sequence = sequence_;
  std::string& block = Block();
  const size_t at = block.size();
  block.resize(at + kMaxMessageBytes);
  nlmsghdr* header = nftnl_batch_end(&block[at], sequence_);
  block.resize(at + NLMSG_ALIGN(header->nlmsg_len));
  return std::move(batch_);
}

NftBatch BuildNftBatch(const NftTranslation& translation, uint8_t nf_family,
                       uint32_t first_sequence, bool acknowledge) {
  NftBatchBuilder builder(nf_family, first_sequence, acknowledge);
  for (const NftOperation& operation : translation.operations) builder.Add(operation);
  return std::move(builder).Finish();
}

IptablesNftWriter::IptablesNftWriter(proxier::IpFamily family,
                                     std::unique_ptr<nfnetlink::NfnetlinkSocket> socket)
    : family_(family), translator_(family), socket_(std::move(socket)) {}

absl::StatusOr<std::unique_ptr<IptablesNftWriter>> IptablesNftWriter::Create(
    proxier::IpFamily family) {
  auto socket = nfnetlink::NfnetlinkSocket::Open();
  if (!socket.ok()) return socket.status();
  return std::unique_ptr<IptablesNftWriter>(new IptablesNftWriter(family, *std::move(socket)));
}

absl::Status IptablesNftWriter::Apply(absl::Span<const absl::string_view> pieces) {
  // Each line is translated and encoded as it is read; an Unimplemented line drops what was built
  // before anything was sent. The ACK decision needs the size up front: at most two messages a line.
  size_t lines = 0;
  for (absl::string_view piece : pieces) lines += std::count(piece.begin(), piece.end(), '\n');
  absl::MutexLock lock(&mutex_);
  // The batch's sequence numbers are reserved once its length is known; the GETTABLE checks in
  // between may reuse the first ones, since each is answered before the batch is sent.
  const uint32_t first = socket_->TakeSequences(0);
  NftBatchBuilder builder(translator_.NfProtocolFamily(), first,
                          (lines + 1) * 2 <= kMaxAcknowledgedMessages);
  std::vector<std::string> tables;
  absl::Status translated =
      translator_.TranslateEach(pieces, tables, [&](NftOperation&& operation) { builder.Add(operation); });
  if (!translated.ok()) return translated;
  for (const std::string& table : tables) {
    if (absl::Status status = CheckTableExists(table); !status.ok()) return status;
  }
  if (builder.empty()) return absl::OkStatus();
  NftBatch batch = std::move(builder).Finish();
  socket_->TakeSequences(batch.end_sequence + 2 - first);  // BEGIN .. END, then the fence
  return SendBatch(batch, pieces);
}

absl::Status IptablesNftWriter::CheckTableExists(absl::string_view table) {
  TablePtr request(nftnl_table_alloc());
  const std::string name(table);
  nftnl_table_set_str(request.get(), NFTNL_TABLE_NAME, name.c_str());
  std::string bytes;
  const uint32_t sequence = socket_->TakeSequences(1);
  nfnetlink::AppendMessage(
      bytes, NFT_MSG_GETTABLE, translator_.NfProtocolFamily(), NLM_F_ACK, sequence,
      [&](nlmsghdr* header) { nftnl_table_nlmsg_build_payload(header, request.get()); });
  int error = 0;
  if (absl::Status status = socket_->RoundTrip(bytes, sequence, error); !status.ok()) return status;
  const std::string family = FamilyName(translator_.NfProtocolFamily());
  if (error == ENOENT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nf_tables: table ", family, " ", table, " does not exist yet (iptables-nft creates it)"));
  }
  if (error != 0) {
    return absl::InternalError(absl::StrCat("nf_tables: GETTABLE ", family, " ", table, ": ",
                                            nfnetlink::ErrnoText(error)));
  }
  return absl::OkStatus();
}

absl::Status IptablesNftWriter::SendBatch(const NftBatch& batch,
                                          absl::Span<const absl::string_view> pieces) {
  auto answer =
      socket_->SendBatch(batch.blocks, batch.begin_sequence, batch.end_sequence, batch.messages.size());
  if (!answer.ok()) return answer.status();
  if (answer->first_error) {
    const nfnetlink::BatchError& error = *answer->first_error;
    std::string text;
    const size_t index = error.sequence - batch.begin_sequence - 1;
    if (error.sequence == batch.begin_sequence || index >= batch.messages.size()) {
      text = absl::StrCat("nf_tables batch of ", batch.messages.size(),
                          " messages: ", nfnetlink::ErrnoText(error.error_number));
    } else {
      const NftBatchMessage& message = batch.messages[index];
      // "at input line N (text)", as the restore runner words the tool's errors.
      text = absl::StrCat("nf_tables ",
                          DescribeMessage(message, translator_.NfProtocolFamily(), pieces),
                          " at input line ", message.line, " (", InputLine(pieces, message.line),
                          "): ", nfnetlink::ErrnoText(error.error_number));
    }
    if (!error.detail.empty()) absl::StrAppend(&text, ": ", error.detail);
    return absl::InternalError(absl::StrCat(text, "; nothing was changed"));
  }
  if (batch.acknowledge && answer->acknowledged != batch.messages.size()) {
    return absl::InternalError(absl::StrCat("nf_tables: ", answer->acknowledged, " of ",
                                            batch.messages.size(),
                                            " messages acknowledged; outcome unknown"));
  }
  return absl::OkStatus();
}

}  // namespace kproxy::backends::iptables
