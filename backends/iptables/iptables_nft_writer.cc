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

// Appends one message built by `fill` (given the header) to `out`.
template <typename Fill>
void AppendMessage(std::string& out, uint16_t type, uint8_t nf_family, uint16_t flags,
                   uint32_t sequence, Fill fill) {
  const size_t at = out.size();
  out.resize(at + kMaxMessageBytes);
  nlmsghdr* header = nftnl_nlmsg_build_hdr(&out[at], type, nf_family, flags, sequence);
  fill(header);
  out.resize(at + NLMSG_ALIGN(header->nlmsg_len));
}

std::string ErrnoText(int error) {
  const char* name = strerrorname_np(error);
  return absl::StrCat(strerror(error), " (", name ? name : absl::StrCat("errno ", error), ")");
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

// The kernel's extended-ACK message of an NLMSG_ERROR, if any.
std::string ExtendedAckMessage(const nlmsghdr* header) {
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
  // With NETLINK_CAP_ACK the kernel echoes only the request's header.
  size_t offset = sizeof(nlmsghdr) + sizeof(nlmsgerr);
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += error->msg.nlmsg_len - sizeof(nlmsghdr);
  std::string message;
  const char* base = reinterpret_cast<const char*>(header);
  while (offset + sizeof(nlattr) <= header->nlmsg_len) {
    const auto* attribute = reinterpret_cast<const nlattr*>(base + offset);
    if (attribute->nla_len < sizeof(nlattr) || offset + attribute->nla_len > header->nlmsg_len)
      break;
    if ((attribute->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      message.assign(reinterpret_cast<const char*>(attribute + 1),
                     attribute->nla_len - sizeof(nlattr));
      while (!message.empty() && message.back() == '\0') message.pop_back();
    }
    offset += NLA_ALIGN(attribute->nla_len);
  }
  return message;
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
    AppendMessage(Block(), NFT_MSG_NEWCHAIN, nf_family_, NLM_F_CREATE | ack, sequence_++,
                  [&](nlmsghdr* header) { nftnl_chain_nlmsg_build_payload(header, chain.get()); });
    // A DELRULE naming only the chain flushes it.
    RulePtr flush(nftnl_rule_alloc());
    nftnl_rule_set_str(flush.get(), NFTNL_RULE_TABLE, operation.table.c_str());
    nftnl_rule_set_str(flush.get(), NFTNL_RULE_CHAIN, add->chain.c_str());
    record(NftMessageKind::kFlushChain);
    AppendMessage(Block(), NFT_MSG_DELRULE, nf_family_, ack, sequence_++,
                  [&](nlmsghdr* header) { nftnl_rule_nlmsg_build_payload(header, flush.get()); });
  } else if (const auto* remove = std::get_if<NftDeleteChain>(&operation.kind)) {
    ChainPtr chain = NamedChain(operation.table, remove->chain);
    record(NftMessageKind::kDeleteChain);
    AppendMessage(Block(), NFT_MSG_DELCHAIN, nf_family_, ack, sequence_++,
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
    AppendMessage(Block(), NFT_MSG_NEWRULE, nf_family_, NLM_F_APPEND | NLM_F_CREATE | ack, sequence_++,
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

void IptablesNftWriter::SocketCloser::operator()(mnl_socket* socket) const {
  mnl_socket_close(socket);
}

IptablesNftWriter::IptablesNftWriter(proxier::IpFamily family, SocketHandle socket,
                                     uint32_t port_id)
    : family_(family),
      translator_(family),
      socket_(std::move(socket)),
      port_id_(port_id),
      next_sequence_(static_cast<uint32_t>(time(nullptr))) {}

absl::StatusOr<std::unique_ptr<IptablesNftWriter>> IptablesNftWriter::Create(
    proxier::IpFamily family) {
  SocketHandle socket(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!socket)
    return absl::InternalError(
        absl::StrCat("nf_tables: socket(NETLINK_NETFILTER): ", ErrnoText(errno)));
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: bind: ", ErrnoText(errno)));
  }
  int on = 1;
  // Best effort: the kernel's own words in errors, and ACKs without the echoed request.
  mnl_socket_setsockopt(socket.get(), NETLINK_EXT_ACK, &on, sizeof(on));
  mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &on, sizeof(on));
  // A wedged kernel answer must not hang the sync loop forever.
  timeval timeout{.tv_sec = 60, .tv_usec = 0};
  setsockopt(mnl_socket_get_fd(socket.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const uint32_t port_id = mnl_socket_get_portid(socket.get());
  return std::unique_ptr<IptablesNftWriter>(
      new IptablesNftWriter(family, std::move(socket), port_id));
}

absl::Status IptablesNftWriter::Apply(absl::Span<const absl::string_view> pieces) {
  // Each line is translated and encoded as it is read; an Unimplemented line drops what was built
  // before anything was sent. The ACK decision needs the size up front: at most two messages a line.
  size_t lines = 0;
  for (absl::string_view piece : pieces) lines += std::count(piece.begin(), piece.end(), '\n');
  absl::MutexLock lock(&mutex_);
  NftBatchBuilder builder(translator_.NfProtocolFamily(), next_sequence_,
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
  next_sequence_ = batch.end_sequence + 2;  // END, then the fence
  return SendBatch(batch, pieces);
}

absl::Status IptablesNftWriter::EnsureSendBuffer(size_t bytes) {
  // netlink refuses a message larger than the send buffer; root may raise it past rmem_max.
  if (bytes + 65536 <= send_buffer_bytes_) return absl::OkStatus();
  const int size = static_cast<int>(std::min<size_t>(bytes + 65536, 1u << 30));
  if (setsockopt(mnl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_SNDBUFFORCE, &size,
                 sizeof(size)) < 0 &&
      setsockopt(mnl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) <
          0) {
    return absl::InternalError(absl::StrCat("nf_tables: SO_SNDBUF ", size, ": ", ErrnoText(errno)));
  }
  send_buffer_bytes_ = static_cast<size_t>(size);
  return absl::OkStatus();
}

absl::Status IptablesNftWriter::CheckTableExists(absl::string_view table) {
  TablePtr request(nftnl_table_alloc());
  const std::string name(table);
  nftnl_table_set_str(request.get(), NFTNL_TABLE_NAME, name.c_str());
  std::string bytes;
  const uint32_t sequence = next_sequence_++;
  AppendMessage(bytes, NFT_MSG_GETTABLE, translator_.NfProtocolFamily(), NLM_F_ACK, sequence,
                [&](nlmsghdr* header) { nftnl_table_nlmsg_build_payload(header, request.get()); });
  int error = 0;
  if (absl::Status status = RoundTrip(bytes, sequence, error); !status.ok()) return status;
  const std::string family = FamilyName(translator_.NfProtocolFamily());
  if (error == ENOENT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nf_tables: table ", family, " ", table, " does not exist yet (iptables-nft creates it)"));
  }
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("nf_tables: GETTABLE ", family, " ", table, ": ", ErrnoText(error)));
  }
  return absl::OkStatus();
}

absl::Status IptablesNftWriter::RoundTrip(absl::string_view request, uint32_t sequence,
                                          int& errno_out) {
  errno_out = 0;
  if (mnl_socket_sendto(socket_.get(), request.data(), request.size()) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: send: ", ErrnoText(errno)));
  }
  std::string buffer(MNL_SOCKET_BUFFER_SIZE, '\0');
  while (true) {
    ssize_t received = mnl_socket_recvfrom(socket_.get(), buffer.data(), buffer.size());
    if (received < 0)
      return absl::InternalError(absl::StrCat("nf_tables: receive: ", ErrnoText(errno)));
    int remaining = static_cast<int>(received);
    for (auto* header = reinterpret_cast<nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(header, remaining);
         header = mnl_nlmsg_next(header, &remaining)) {
      if (header->nlmsg_seq != sequence) continue;  // late answers of an earlier request
      if (header->nlmsg_type == NLMSG_ERROR) {
        const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
        errno_out = -error->error;
        return absl::OkStatus();
      }
    }
  }
}

absl::Status IptablesNftWriter::SendBatch(const NftBatch& batch,
                                          absl::Span<const absl::string_view> pieces) {
  const size_t batch_bytes = batch.size();
  if (absl::Status status = EnsureSendBuffer(batch_bytes); !status.ok()) return status;
  // Room for every ACK (an skb each) plus the fence's answer.
  const size_t receive_bytes = std::max<size_t>(batch.messages.size() * 1024 + 262144, 262144);
  if (receive_bytes > receive_buffer_bytes_) {
    const int size = static_cast<int>(std::min<size_t>(receive_bytes, 1u << 30));
    if (setsockopt(mnl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_RCVBUFFORCE, &size,
                   sizeof(size)) == 0) {
      receive_buffer_bytes_ = receive_bytes;
    }
  }
  // One sendmsg: nfnetlink only commits a transaction whose BEGIN and END arrive in one message.
  std::vector<iovec> vectors;
  vectors.reserve(batch.blocks.size());
  for (const std::string& block : batch.blocks) {
    vectors.push_back({const_cast<char*>(block.data()), block.size()});
  }
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr message{};
  message.msg_name = &kernel;
  message.msg_namelen = sizeof(kernel);
  message.msg_iov = vectors.data();
  message.msg_iovlen = vectors.size();
  if (sendmsg(mnl_socket_get_fd(socket_.get()), &message, 0) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: send batch of ", batch.messages.size(),
                                            " messages (", batch_bytes, " bytes): ", ErrnoText(errno)));
  }
  // The batch was processed inside sendmsg; every answer to it is queued before the fence's.
  const uint32_t fence_sequence = batch.end_sequence + 1;
  std::string fence;
  AppendMessage(fence, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, fence_sequence, [](nlmsghdr*) {});
  if (mnl_socket_sendto(socket_.get(), fence.data(), fence.size()) < 0) {
    return absl::InternalError(absl::StrCat("nf_tables: send: ", ErrnoText(errno)));
  }

  std::string first_error;
  size_t acknowledged = 0;
  std::string buffer(MNL_SOCKET_BUFFER_SIZE, '\0');
  bool fenced = false;
  while (!fenced) {
    ssize_t received = mnl_socket_recvfrom(socket_.get(), buffer.data(), buffer.size());
    if (received < 0) {
      return absl::InternalError(
          absl::StrCat("nf_tables: receiving the answers to a batch of ", batch.messages.size(),
                       " messages: ", ErrnoText(errno), "; outcome unknown"));
    }
    int remaining = static_cast<int>(received);
    for (auto* header = reinterpret_cast<nlmsghdr*>(buffer.data()); mnl_nlmsg_ok(header, remaining);
         header = mnl_nlmsg_next(header, &remaining)) {
      const uint32_t sequence = header->nlmsg_seq;
      if (sequence == fence_sequence) {
        if (header->nlmsg_type == NLMSG_ERROR) fenced = true;
        continue;
      }
      if (header->nlmsg_type != NLMSG_ERROR || sequence < batch.begin_sequence ||
          sequence > batch.end_sequence) {
        continue;
      }
      const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
      if (error->error == 0) {
        ++acknowledged;
        continue;
      }
      if (!first_error.empty()) continue;  // later errors are mostly consequences of the first
      const int error_number = -error->error;
      const std::string detail = ExtendedAckMessage(header);
      const size_t index = sequence - batch.begin_sequence - 1;
      if (sequence == batch.begin_sequence || index >= batch.messages.size()) {
        first_error = absl::StrCat("nf_tables batch of ", batch.messages.size(),
                                   " messages: ", ErrnoText(error_number));
      } else {
        const NftBatchMessage& message = batch.messages[index];
        // "at input line N (text)", as the restore runner words the tool's errors.
        first_error =
            absl::StrCat("nf_tables ", DescribeMessage(message, translator_.NfProtocolFamily(), pieces),
                         " at input line ", message.line, " (", InputLine(pieces, message.line),
                         "): ", ErrnoText(error_number));
      }
      if (!detail.empty()) absl::StrAppend(&first_error, ": ", detail);
    }
  }
  if (!first_error.empty())
    return absl::InternalError(absl::StrCat(first_error, "; nothing was changed"));
  if (batch.acknowledge && acknowledged != batch.messages.size()) {
    return absl::InternalError(absl::StrCat("nf_tables: ", acknowledged, " of ",
                                            batch.messages.size(),
                                            " messages acknowledged; outcome unknown"));
  }
  return absl::OkStatus();
}

}  // namespace kproxy::backends::iptables
