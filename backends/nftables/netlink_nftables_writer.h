// NetlinkNftablesWriter: the real NftablesWriter — encodes a transaction with libnftnl (rules
// through NftStatementTranslator) and sends it as one nf_tables batch over one close-on-exec
// NETLINK_NETFILTER socket; no `nft` process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "backends/nfnetlink/nfnetlink_socket.h"
#include "backends/nftables/nftables_writer.h"

namespace kproxy::backends::nftables {

// A transaction encoded for one sendmsg: BATCH_BEGIN, the messages, BATCH_END.
struct EncodedNftBatch {
  std::vector<std::string> blocks;
  std::vector<uint32_t> operation_of_message;  // index into the transaction's operations
  uint32_t begin_sequence = 0;
  uint32_t end_sequence = 0;
  bool acknowledge = true;  // NLM_F_ACK on every message
};

// Encodes `transaction` (pure: the same transaction gives the same bytes). Element lists are split
// into messages of at most kElementsPerMessage elements: a message's element list is one netlink
// attribute, whose length field has 16 bits.
// Above kMaxAcknowledgedOperations operations no message asks for an ACK: the kernel still reports
// every failing one, and the fence tells when all answers are in, while queuing an ACK per message
// of a 10k-Service full sync costs more than the commit.
inline constexpr size_t kElementsPerMessage = 128;
inline constexpr size_t kMaxAcknowledgedOperations = 8192;
absl::StatusOr<EncodedNftBatch> EncodeNftTransaction(const NftTransaction& transaction,
                                                     uint32_t first_sequence);

// "NEWRULE ip kube-proxy services \"ip daddr ... jump x\"" for operation `index`.
std::string DescribeOperation(const NftTransaction& transaction, size_t index);

class NetlinkNftablesWriter final : public NftablesWriter {
 public:
  // Opens the socket in the calling thread's network namespace; kept for the writer's lifetime.
  static absl::StatusOr<std::unique_ptr<NetlinkNftablesWriter>> Create();

  absl::Status Apply(const NftTransaction& transaction) override;
  absl::StatusOr<NftTableContents> Read(proxier::IpFamily family, const std::string& table) override;

 private:
  explicit NetlinkNftablesWriter(std::unique_ptr<nfnetlink::NfnetlinkSocket> socket)
      : socket_(std::move(socket)) {}

  absl::Mutex mutex_;
  const std::unique_ptr<nfnetlink::NfnetlinkSocket> socket_ ABSL_PT_GUARDED_BY(mutex_);
};

}  // namespace kproxy::backends::nftables
