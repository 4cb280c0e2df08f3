// NftBatchSink: applies iptables-restore --noflush input straight to nf_tables as one atomic
// transaction (the interface of IptablesNftWriter, so the restore runner can be tested with a
// fake).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kproxy::backends::iptables {

class NftBatchSink {
 public:
  virtual ~NftBatchSink() = default;
  // Applies the whole input (the pieces joined) atomically: all of it or nothing.
  // - Unimplemented: some line is outside the supported grammar; nothing was sent.
  // - FailedPrecondition: a table the input names does not exist yet; nothing was sent.
  // - any other error: the kernel refused the transaction, so nothing changed; the message names
  //   the failing operation and input line.
  // Chains declared with `:CHAIN` are created when missing and flushed otherwise; `-X` of a missing
  // chain is an error, as with iptables-restore.
  virtual absl::Status Apply(absl::Span<const absl::string_view> pieces) = 0;
};

}  // namespace kproxy::backends::iptables
