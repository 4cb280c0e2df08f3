// IptablesRestoreRunner: the real IptablesRunner — execs {ip,ip6}tables[-legacy|-nft][-restore|-save]
// with argument vectors (never a shell) under the xtables lock, in the calling process's netns.
#pragma once

#include <atomic>
#include <functional>
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

// Why a restore went to iptables-nft-restore instead of the direct nf_tables writer
// (the reason label of kubeproxy_iptables_nft_direct_fallbacks_total).
inline constexpr absl::string_view kFallbackUnsupportedVersion = "unsupported_version";
inline constexpr absl::string_view kFallbackUnsupportedInput = "unsupported_input";
inline constexpr absl::string_view kFallbackMissingTable = "missing_table";
inline constexpr absl::string_view kFallbackWriterUnavailable = "writer_unavailable";

class IptablesRestoreRunner final : public IptablesRunner {
 public:
  // kAuto resolves through DetectVariant(). Fails when the variant's tools are not on PATH.
  // With iptables-nft, restores first go straight to nf_tables through an IptablesNftWriter
  // (unless KPROXY_IPTABLES_NFT_DIRECT=0), falling back to iptables-nft-restore when the installed
  // iptables-nft is not a version whose encoding the writer reproduces (one warning at start), for
  // input the writer does not translate, and before iptables-nft has created the table (a warning
  // each time).
  static absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> Create(proxier::IpFamily family,
                                                                       IptablesVariant variant);
  // The same with the direct writer given (nullptr: always the tool), e.g. a fake in tests. The
  // installed iptables-nft's version is checked here too.
  static absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> Create(proxier::IpFamily family,
                                                                       IptablesVariant variant,
                                                                       std::unique_ptr<NftBatchSink> direct_writer);

  // Called with the reason (kFallback*) of every restore that went to iptables-nft-restore
  // although direct writes were wanted. Set it before the first restore.
  void set_fallback_observer(std::function<void(absl::string_view reason)> observer) {
    fallback_observer_ = std::move(observer);
  }

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
  // Drops the direct writer unless the installed iptables-nft is a verified version (warns once).
  void CheckIptablesNftVersion();
  void CountFallback(absl::string_view reason);
  // The restore through iptables-restore itself.
  absl::Status RestoreWithTool(absl::Span<const absl::string_view> pieces);
  std::vector<std::string> LockArgs() const;
  // Runs the tool; a non-zero exit becomes an error naming the command and its stderr.
  absl::StatusOr<SubprocessResult> Run(std::vector<std::string> argv, absl::string_view input,
                                       absl::Duration timeout);

  const proxier::IpFamily family_;
  const IptablesVariant variant_;
  // Thread-safe itself; null when restores always use the tool.
  std::unique_ptr<NftBatchSink> direct_writer_;
  // Set when direct writes were wanted but are off for the whole run (kFallback*); empty otherwise.
  absl::string_view direct_disabled_reason_;
  std::function<void(absl::string_view reason)> fallback_observer_;
};

}  // namespace kproxy::backends::iptables
