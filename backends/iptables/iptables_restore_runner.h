// IptablesRestoreRunner: the real IptablesRunner — execs {ip,ip6}tables[-legacy|-nft][-restore|-save]
// with argument vectors (never a shell) under the xtables lock, in the calling process's netns.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "backends/iptables/iptables_runner.h"
#include "backends/iptables/iptables_variant.h"
#include "backends/iptables/nft_batch_sink.h"
#include "backends/iptables/subprocess.h"

namespace kproxy::backends::iptables {

class IptablesRestoreRunner final : public IptablesRunner {
 public:
  // kAuto resolves through DetectVariant(). Fails when the variant's tools are not on PATH.
  // With iptables-nft, restores first go straight to nf_tables through an IptablesNftWriter
  // (unless KPROXY_IPTABLES_NFT_DIRECT=0), falling back to iptables-nft-restore for input the
  // writer does not translate or before iptables-nft has created the table.
  static absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> Create(proxier::IpFamily family,
                                                                       IptablesVariant variant);
  // The same with the direct writer given (nullptr: always the tool), e.g. a fake in tests.
  static absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> Create(proxier::IpFamily family,
                                                                       IptablesVariant variant,
                                                                       std::unique_ptr<NftBatchSink> direct_writer);

  proxier::IpFamily family() const override { return family_; }
  IptablesVariant variant() const { return variant_; }
  absl::Status Restore(absl::string_view input) override;
  absl::Status RestoreFromPieces(absl::Span<const absl::string_view> pieces) override;
  absl::StatusOr<absl::flat_hash_set<std::string>> ListChains(Table table) override;
  absl::Status EnsureRule(Table table, absl::string_view chain, const std::vector<std::string>& rule) override;
  absl::Status EnsureChain(Table table, absl::string_view chain) override;
  absl::StatusOr<bool> ChainExists(Table table, absl::string_view chain) override;

  // iptables-save -t <table>.
  absl::StatusOr<std::string> SaveTable(Table table) override;

  // Tool names for this family/variant, e.g. "ip6tables-nft-restore".
  std::string ToolName(absl::string_view suffix) const;
  static bool ToolExists(absl::string_view name);

  // The 1-based input line the tool's stderr blames ("Error occurred at line: N", "line N failed"),
  // 0 if none.
  static int FailedLineFromStderr(absl::string_view stderr_text);

 private:
  IptablesRestoreRunner(proxier::IpFamily family, IptablesVariant variant,
                        std::unique_ptr<NftBatchSink> direct_writer)
      : family_(family), variant_(variant), direct_writer_(std::move(direct_writer)) {}
  // The restore through iptables-restore itself.
  absl::Status RestoreWithTool(absl::Span<const absl::string_view> pieces);
  std::vector<std::string> LockArgs() const;
  // Runs the tool; a non-zero exit becomes an error naming the command and its stderr.
  absl::StatusOr<SubprocessResult> Run(std::vector<std::string> argv, absl::string_view input,
                                       absl::Duration timeout);

  const proxier::IpFamily family_;
  const IptablesVariant variant_;
  // Thread-safe itself; null when restores always use the tool.
  const std::unique_ptr<NftBatchSink> direct_writer_;
  std::atomic<bool> logged_fallback_{false};
};

}  // namespace kproxy::backends::iptables
