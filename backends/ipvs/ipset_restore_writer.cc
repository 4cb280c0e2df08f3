#include "backends/ipvs/ipset_restore_writer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "backends/iptables/subprocess.h"

namespace kproxy::backends::ipvs {
namespace {

using proxier::IpFamily;
using proxier::ipvs::IpsetType;

// ipset prints host-sized nets without their prefix length; compare in that form.
std::string Canonical(const IpsetSpec& set, absl::string_view entry) {
  if (set.type == IpsetType::kHashIpPortNet) {
    absl::string_view host = set.family == IpFamily::kIPv4 ? "/32" : "/128";
    if (absl::EndsWith(entry, host)) entry.remove_suffix(host.size());
  }
  return std::string(entry);
}

}  // namespace

IpsetContents ParseIpsetSave(absl::string_view text) {
  IpsetContents out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() >= 2 && words[0] == "create") out[std::string(words[1])];
    if (words.size() >= 3 && words[0] == "add") out[std::string(words[1])].insert(std::string(words[2]));
  }
  return out;
}

std::string IpsetCreateLine(const IpsetSpec& set) {
  std::string line = absl::StrCat("create ", set.name, " ", proxier::ipvs::IpsetTypeName(set.type));
  if (set.type == IpsetType::kBitmapPort) {
    absl::StrAppend(&line, " range 0-65535");
  } else {
    absl::StrAppend(&line, " family ", set.family == IpFamily::kIPv4 ? "inet" : "inet6",
                    " hashsize 1024 maxelem 65536");
  }
  if (!set.comment.empty()) absl::StrAppend(&line, " comment");
  return line;
}

std::string RenderIpsetRestore(const std::vector<IpsetSpec>& desired, const IpsetContents& current) {
  std::string out;
  for (const IpsetSpec& set : desired) {
    absl::btree_set<std::string> want;
    for (const auto& e : set.entries) want.insert(Canonical(set, e));
    auto it = current.find(set.name);
    static const absl::btree_set<std::string> kNone;
    const absl::btree_set<std::string>& have = it == current.end() ? kNone : it->second;
    if (it == current.end()) absl::StrAppend(&out, IpsetCreateLine(set), "\n");
    for (const auto& e : have) {
      if (!want.contains(e)) absl::StrAppend(&out, "del ", set.name, " ", e, "\n");
    }
    for (const auto& e : want) {
      if (!have.contains(e)) absl::StrAppend(&out, "add ", set.name, " ", e, "\n");
    }
  }
  return out;
}

absl::StatusOr<std::string> IpsetRestoreWriter::Run(const std::vector<std::string>& args, absl::string_view input) {
  std::vector<std::string> argv = {binary_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = iptables::RunSubprocess(argv, input, absl::Seconds(30));
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " exited ", result->exit_code, ": ",
                                            absl::StripAsciiWhitespace(result->stderr_text)));
  }
  return result->stdout_text;
}

absl::Status IpsetRestoreWriter::Sync(const std::vector<IpsetSpec>& sets) {
  auto saved = Run({"save"}, "");
  if (!saved.ok()) return saved.status();
  std::string input = RenderIpsetRestore(sets, ParseIpsetSave(*saved));
  if (input.empty()) return absl::OkStatus();
  return Run({"restore", "-exist"}, input).status();
}

absl::Status IpsetRestoreWriter::DestroySets(absl::string_view prefix) {
  auto saved = Run({"save"}, "");
  if (!saved.ok()) return saved.status();
  absl::Status first;
  for (const auto& [name, entries] : ParseIpsetSave(*saved)) {
    if (!absl::StartsWith(name, prefix)) continue;
    absl::Status s = Run({"destroy", name}, "").status();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace kproxy::backends::ipvs
