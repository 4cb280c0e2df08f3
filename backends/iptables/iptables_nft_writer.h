// IptablesNftWriter: the real NftBatchSink — writes iptables-restore --noflush input straight into
// the iptables-nft tables (ip/ip6 nat, filter) over one NETLINK_NETFILTER socket, as a single
// nf_tables transaction with exactly the expressions iptables-nft 1.8.9 would write. Orders of
// magnitude faster than iptables-nft-restore on big tables, because it never reads the table.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "backends/iptables/nft_batch_sink.h"
#include "backends/iptables/nft_rule_translator.h"
#include "backends/nfnetlink/nfnetlink_socket.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::iptables {

// The iptables-nft versions whose rule encoding IptablesNftWriter reproduces (compared expression
// by expression with what the tool itself writes). With any other version the rules go through
// iptables-nft-restore: a tool that encodes a match differently would not recognise our rules.
inline constexpr std::array<absl::string_view, 1> kVerifiedIptablesNftVersions = {"1.8.9"};

// "1.8.9" from `iptables-nft --version` output ("iptables v1.8.9 (nf_tables)"); "" when the output
// does not have that shape.
std::string ParseIptablesVersion(absl::string_view version_output);
bool IsVerifiedIptablesNftVersion(absl::string_view version);

// What one message of a batch does, for naming it in errors.
enum class NftMessageKind : uint8_t { kNewChain, kFlushChain, kDeleteChain, kNewRule };

// One message of a batch: 12 bytes, since a 10k-Service full sync has half a million of them.
struct NftBatchMessage {
  uint32_t sequence = 0;
  NftMessageKind kind = NftMessageKind::kNewRule;
  int line = 0;  // 1-based input line
};

// "NEWRULE ip nat KUBE-SVC-ABC" for `message` of a batch built from `pieces` (the chain is read
// back from its input line; only errors need it).
std::string DescribeMessage(const NftBatchMessage& message, uint8_t nf_family,
                            absl::Span<const absl::string_view> pieces);

// A whole transaction, ready for one sendmsg: BATCH_BEGIN, the operations, BATCH_END. The bytes
// are kept in blocks sent as one iovec, so building a 200 MB batch never copies it to grow it.
struct NftBatch {
  std::vector<std::string> blocks;
  std::vector<NftBatchMessage> messages;  // the operations, in order (not BEGIN/END)
  uint32_t begin_sequence = 0;
  uint32_t end_sequence = 0;
  bool acknowledge = false;  // NLM_F_ACK on every operation

  size_t size() const;
  std::string Joined() const;  // the blocks back to back (tests)
};

// Builds a batch one operation at a time, in nf_tables family `nf_family` (NFPROTO_IPV4/IPV6).
// Sequence numbers start at `first_sequence` (BATCH_BEGIN); `acknowledge` sets NLM_F_ACK on every
// operation. Pure: the same operations give the same bytes.
class NftBatchBuilder {
 public:
  NftBatchBuilder(uint8_t nf_family, uint32_t first_sequence, bool acknowledge);
  void Add(const NftOperation& operation);
  bool empty() const { return batch_.messages.empty(); }
  NftBatch Finish() &&;

 private:
  // The block to append the next message to, with room for the largest message.
  std::string& Block();
  const uint8_t nf_family_;
  uint32_t sequence_;
  NftBatch batch_;
};

// The batch of a whole translation (NftBatchBuilder over its operations).
NftBatch BuildNftBatch(const NftTranslation& translation, uint8_t nf_family,
                       uint32_t first_sequence, bool acknowledge);

class IptablesNftWriter final : public NftBatchSink {
 public:
  // Opens and binds the NETLINK_NETFILTER socket (in the calling thread's network namespace); the
  // writer keeps it for its lifetime.
  static absl::StatusOr<std::unique_ptr<IptablesNftWriter>> Create(proxier::IpFamily family);

  absl::Status Apply(absl::Span<const absl::string_view> pieces) override;

 private:
  IptablesNftWriter(proxier::IpFamily family, std::unique_ptr<nfnetlink::NfnetlinkSocket> socket);
  // FailedPrecondition when the table does not exist.
  absl::Status CheckTableExists(absl::string_view table) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Sends the batch and then a GETGEN fence, and collects the kernel's answers up to the fence.
  absl::Status SendBatch(const NftBatch& batch, absl::Span<const absl::string_view> pieces)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const proxier::IpFamily family_;
  const NftRuleTranslator translator_;
  absl::Mutex mutex_;
  const std::unique_ptr<nfnetlink::NfnetlinkSocket> socket_ ABSL_PT_GUARDED_BY(mutex_);
};

}  // namespace kproxy::backends::iptables
