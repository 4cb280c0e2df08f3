#include "backends/iptables/iptables_restore_runner.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "backends/iptables/iptables_nft_writer.h"
#include "backends/iptables/iptables_save.h"
#include "logging/log.h"

namespace kproxy::backends::iptables {
namespace {

// A restore is only killed when it is wedged, never because the input is large: iptables-nft needs
// minutes for a 10k-Service full sync on a small node, and a killed full sync would be retried from
// scratch forever (upstream sets no deadline at all). So the deadline grows with the input.
absl::Duration RestoreTimeout(size_t input_bytes) {
  return absl::Seconds(120) + absl::Seconds(60) * static_cast<int64_t>(input_bytes >> 20);
}
constexpr absl::Duration kCommandTimeout = absl::Seconds(30);

// The digits that follow `marker` in `text`, or 0.
int NumberAfter(absl::string_view text, absl::string_view marker) {
  size_t at = text.find(marker);
  if (at == absl::string_view::npos) return 0;
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(text.substr(at + marker.size()));
  size_t len = 0;
  while (len < rest.size() && absl::ascii_isdigit(rest[len])) ++len;
  int n = 0;
  if (len == 0 || !absl::SimpleAtoi(rest.substr(0, len), &n)) return 0;
  return n;
}

std::string OneLine(absl::string_view s) {
  std::string out = std::string(absl::StripAsciiWhitespace(s));
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

bool IptablesRestoreRunner::ToolExists(absl::string_view name) {
  const char* path = std::getenv("PATH");
  std::string search = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  for (absl::string_view dir : absl::StrSplit(search, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

int IptablesRestoreRunner::FailedLineFromStderr(absl::string_view stderr_text) {
  if (int n = NumberAfter(stderr_text, "Error occurred at line:"); n > 0) return n;
  // "iptables-restore: line 7 failed"
  size_t at = stderr_text.find("line ");
  while (at != absl::string_view::npos) {
    int n = NumberAfter(stderr_text.substr(at), "line ");
    absl::string_view after = stderr_text.substr(at + 5);
    size_t sp = after.find(' ');
    if (n > 0 && sp != absl::string_view::npos && absl::StartsWith(after.substr(sp), " failed")) return n;
    at = stderr_text.find("line ", at + 5);
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> IptablesRestoreRunner::Create(proxier::IpFamily family,
                                                                                      IptablesVariant variant) {
  if (variant == IptablesVariant::kAuto) variant = DetectVariant();
  std::unique_ptr<NftBatchSink> direct_writer;
  const char* direct = std::getenv("KPROXY_IPTABLES_NFT_DIRECT");
  const bool want_direct =
      variant == IptablesVariant::kNft && !(direct != nullptr && absl::string_view(direct) == "0");
  absl::Status writer_status;
  if (want_direct) {
    absl::StatusOr<std::unique_ptr<IptablesNftWriter>> writer = IptablesNftWriter::Create(family);
    if (writer.ok()) {
      direct_writer = *std::move(writer);
    } else {
      writer_status = writer.status();
    }
  }
  absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> runner =
      Create(family, variant, std::move(direct_writer));
  if (runner.ok() && !writer_status.ok()) {
    KLOG_WARNING << "Direct nf_tables writes unavailable (" << proxier::IpFamilyName(family)
                 << "), restoring with " << (*runner)->ToolName("-restore") << ": "
                 << writer_status;
    (*runner)->direct_disabled_reason_ = kFallbackWriterUnavailable;
  }
  return runner;
}

void IptablesRestoreRunner::CheckIptablesNftVersion() {
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({ToolName(""), "--version"}, "", kCommandTimeout);
  std::string output;
  if (!r.ok()) {
    output = std::string(r.status().message());
  } else if (r->exit_code != 0) {
    output = absl::StrCat("exit status ", r->exit_code, ": ", r->stderr_text);
  } else {
    output = r->stdout_text;
  }
  output = OneLine(output);
  const std::string version = (r.ok() && r->exit_code == 0) ? ParseIptablesVersion(output) : "";
  if (IsVerifiedIptablesNftVersion(version)) {
    KLOG_V(2) << "Direct nf_tables writes (" << proxier::IpFamilyName(family_) << ") for "
              << output;
    return;
  }
  KLOG_WARNING << "Direct nf_tables writes off (" << proxier::IpFamilyName(family_)
               << "): " << ToolName("") << " --version says \"" << output
               << "\", and the direct encoding was verified only with iptables-nft "
               << absl::StrJoin(kVerifiedIptablesNftVersions, ", ") << "; restoring with "
               << ToolName("-restore") << " (slow on large tables)";
  direct_writer_.reset();
  direct_disabled_reason_ = kFallbackUnsupportedVersion;
}

void IptablesRestoreRunner::CountFallback(absl::string_view reason) {
  if (fallback_observer_) fallback_observer_(reason);
}

absl::StatusOr<std::unique_ptr<IptablesRestoreRunner>> IptablesRestoreRunner::Create(
    proxier::IpFamily family, IptablesVariant variant, std::unique_ptr<NftBatchSink> direct_writer) {
  if (variant == IptablesVariant::kAuto) variant = DetectVariant();
  std::unique_ptr<IptablesRestoreRunner> runner(new IptablesRestoreRunner(family, variant, std::move(direct_writer)));
  for (absl::string_view suffix : {"", "-restore", "-save"}) {
    std::string tool = runner->ToolName(suffix);
    if (!ToolExists(tool)) {
      return absl::FailedPreconditionError(absl::StrCat("iptables runner (", proxier::IpFamilyName(family), ", ",
                                                        IptablesVariantName(variant), "): ", tool,
                                                        " not found on PATH"));
    }
  }
  if (runner->direct_writer_ != nullptr) runner->CheckIptablesNftVersion();
  return runner;
}

std::string IptablesRestoreRunner::ToolName(absl::string_view suffix) const {
  return absl::StrCat(family_ == proxier::IpFamily::kIPv6 ? "ip6tables" : "iptables",
                      variant_ == IptablesVariant::kLegacy ? "-legacy" : "-nft", suffix);
}

std::vector<std::string> IptablesRestoreRunner::LockArgs() const {
  // nf_tables needs no xtables lock and warns that -W is deprecated; legacy honours both.
  if (variant_ == IptablesVariant::kLegacy) return {"-w", "5", "-W", "100000"};
  return {"-w", "5"};
}

absl::StatusOr<SubprocessResult> IptablesRestoreRunner::Run(std::vector<std::string> argv, absl::string_view input,
                                                            absl::Duration timeout) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess(argv, input, timeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": exit status ", r->exit_code, ": ",
                                            OneLine(r->stderr_text)));
  }
  return r;
}

absl::Status IptablesRestoreRunner::Restore(absl::string_view input) {
  const absl::string_view one[] = {input};
  return RestoreFromPieces(one);
}

absl::Status IptablesRestoreRunner::RestoreFromPieces(absl::Span<const absl::string_view> pieces) {
  if (direct_writer_ != nullptr) {
    absl::Status status = direct_writer_->Apply(pieces);
    if (status.ok()) return status;
    // Unimplemented (input outside the writer's grammar) and FailedPrecondition (table not created
    // yet) sent nothing: the tool handles the whole input. Anything else is the kernel refusing the
    // transaction, which the tool would hit too.
    if (status.code() != absl::StatusCode::kUnimplemented && status.code() != absl::StatusCode::kFailedPrecondition) {
      return absl::Status(status.code(), absl::StrCat("direct nf_tables restore (", proxier::IpFamilyName(family_),
                                                      ") failed: ", status.message()));
    }
    const absl::string_view reason = status.code() == absl::StatusCode::kUnimplemented
                                         ? kFallbackUnsupportedInput
                                         : kFallbackMissingTable;
    // Each one: a fallback that repeats every sync costs minutes per sync on a large table.
    KLOG_WARNING << "Restoring with " << ToolName("-restore")
                 << " instead of direct nf_tables writes (" << proxier::IpFamilyName(family_)
                 << ", " << reason << "): " << status.message();
    CountFallback(reason);
  } else if (!direct_disabled_reason_.empty()) {
    CountFallback(direct_disabled_reason_);  // warned once when the runner was created
  }
  return RestoreWithTool(pieces);
}

absl::Status IptablesRestoreRunner::RestoreWithTool(absl::Span<const absl::string_view> pieces) {
  std::vector<std::string> argv = {ToolName("-restore"), "--noflush", "--counters"};
  for (std::string& a : LockArgs()) argv.push_back(std::move(a));
  size_t bytes = 0;
  for (absl::string_view piece : pieces) bytes += piece.size();
  absl::StatusOr<SubprocessResult> r = RunSubprocess(argv, pieces, RestoreTimeout(bytes));
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) return absl::OkStatus();
  std::string where;
  if (int line = FailedLineFromStderr(r->stderr_text); line > 0) {
    const std::string input = absl::StrJoin(pieces, "");  // only when it failed
    std::vector<absl::string_view> lines = absl::StrSplit(input, '\n');
    where = absl::StrCat(" at input line ", line);
    if (static_cast<size_t>(line) <= lines.size()) absl::StrAppend(&where, " (", lines[line - 1], ")");
  }
  return absl::InternalError(absl::StrCat(ToolName("-restore"), " (", proxier::IpFamilyName(family_),
                                          ") failed", where, ": exit status ", r->exit_code, ": ",
                                          OneLine(r->stderr_text)));
}

absl::StatusOr<std::string> IptablesRestoreRunner::SaveTable(Table table) {
  absl::StatusOr<SubprocessResult> r =
      Run({ToolName("-save"), "-t", std::string(TableName(table))}, "", kCommandTimeout);
  if (!r.ok()) return r.status();
  return std::move(r->stdout_text);
}

absl::StatusOr<absl::flat_hash_set<std::string>> IptablesRestoreRunner::ListChains(Table table) {
  absl::StatusOr<std::string> save = SaveTable(table);
  if (!save.ok()) return save.status();
  absl::flat_hash_set<std::string> chains;
  auto tables = ParseIptablesSave(*save);
  auto it = tables.find(std::string(TableName(table)));
  if (it != tables.end()) {
    for (const SavedChain& c : it->second.chains) chains.insert(c.name);
  }
  return chains;
}

absl::StatusOr<bool> IptablesRestoreRunner::ChainExists(Table table, absl::string_view chain) {
  // `iptables -S CHAIN` avoids dumping the whole table on every canary check.
  std::vector<std::string> argv = {ToolName(""), "-t", std::string(TableName(table))};
  for (std::string& a : LockArgs()) argv.push_back(std::move(a));
  argv.insert(argv.end(), {"-S", std::string(chain)});
  absl::StatusOr<SubprocessResult> r = RunSubprocess(argv, "", kCommandTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) return true;
  if (r->exit_code == 1) return false;  // "No chain/target/match by that name."
  return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": exit status ", r->exit_code, ": ",
                                          OneLine(r->stderr_text)));
}

absl::Status IptablesRestoreRunner::EnsureChain(Table table, absl::string_view chain) {
  std::vector<std::string> argv = {ToolName(""), "-t", std::string(TableName(table))};
  for (std::string& a : LockArgs()) argv.push_back(std::move(a));
  argv.insert(argv.end(), {"-N", std::string(chain)});
  absl::StatusOr<SubprocessResult> r = RunSubprocess(argv, "", kCommandTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) return absl::OkStatus();
  // Already there is success; anything else is reported with the tool's words.
  absl::StatusOr<bool> exists = ChainExists(table, chain);
  if (exists.ok() && *exists) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": exit status ", r->exit_code, ": ",
                                          OneLine(r->stderr_text)));
}

absl::Status IptablesRestoreRunner::EnsureRule(Table table, absl::string_view chain,
                                               const std::vector<std::string>& rule) {
  std::vector<std::string> base = {ToolName(""), "-t", std::string(TableName(table))};
  for (std::string& a : LockArgs()) base.push_back(std::move(a));
  std::vector<std::string> check = base;
  check.insert(check.end(), {"-C", std::string(chain)});
  check.insert(check.end(), rule.begin(), rule.end());
  absl::StatusOr<SubprocessResult> r = RunSubprocess(check, "", kCommandTimeout);
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) return absl::OkStatus();
  if (r->exit_code != 1) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(check, " "), ": exit status ", r->exit_code, ": ",
                                            OneLine(r->stderr_text)));
  }
  std::vector<std::string> insert = base;
  insert.insert(insert.end(), {"-I", std::string(chain)});
  insert.insert(insert.end(), rule.begin(), rule.end());
  absl::StatusOr<SubprocessResult> ins = Run(insert, "", kCommandTimeout);
  if (!ins.ok()) return ins.status();
  KLOG_V(2) << "Inserted rule into " << TableName(table) << "/" << chain << ": " << absl::StrJoin(rule, " ");
  return absl::OkStatus();
}

}  // namespace kproxy::backends::iptables
