#include "logging/log.h"

#include "logging/json_quote.h"

#include <fnmatch.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kproxy::logging {
namespace {

std::atomic<int> g_verbosity{0};
std::atomic<Format> g_format{Format::kText};
std::atomic<bool> g_split_stream{false};
absl::Mutex g_mu;
std::string* g_sink ABSL_GUARDED_BY(g_mu) = nullptr;

char SeverityLetter(Severity s) {
  switch (s) {
    case Severity::kInfo: return 'I';
    case Severity::kWarning: return 'W';
    case Severity::kError: return 'E';
    case Severity::kFatal: return 'F';
  }
  return 'I';
}

absl::string_view BaseName(const char* file) {
  absl::string_view f(file);
  size_t slash = f.rfind('/');
  return slash == absl::string_view::npos ? f : f.substr(slash + 1);
}

absl::Mutex g_vmodule_mu;
std::vector<VmoduleRule> g_vmodule_rules ABSL_GUARDED_BY(g_vmodule_mu);
// Level per __FILE__ pointer: each call site's file is matched once.
absl::flat_hash_map<const char*, int> g_vmodule_cache ABSL_GUARDED_BY(g_vmodule_mu);

absl::string_view WithoutExtension(absl::string_view path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == absl::string_view::npos || (slash != absl::string_view::npos && dot < slash)) return path;
  return path.substr(0, dot);
}

}  // namespace

namespace internal {
std::atomic<bool> vmodule_set{false};
}  // namespace internal

absl::StatusOr<std::vector<VmoduleRule>> ParseVmodule(const std::vector<std::string>& entries) {
  std::vector<VmoduleRule> rules;
  for (const std::string& entry : entries) {
    for (absl::string_view item : absl::StrSplit(entry, ',', absl::SkipEmpty())) {
      std::vector<absl::string_view> parts = absl::StrSplit(item, '=');
      int level = 0;
      if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &level) || level < 0) {
        return absl::InvalidArgumentError(absl::StrCat("vmodule entry \"", item,
                                                       "\": expected a comma-separated list of pattern=N"));
      }
      if (level == 0) continue;  // as klog: a zero level adds nothing to -v
      rules.push_back(VmoduleRule{std::string(parts[0]), level});
    }
  }
  return rules;
}

void SetVmodule(std::vector<VmoduleRule> rules) {
  absl::MutexLock lock(&g_vmodule_mu);
  internal::vmodule_set.store(!rules.empty());
  g_vmodule_rules = std::move(rules);
  g_vmodule_cache.clear();
}

int VmoduleLevel(const char* file) {
  absl::MutexLock lock(&g_vmodule_mu);
  if (auto it = g_vmodule_cache.find(file); it != g_vmodule_cache.end()) return it->second;
  const absl::string_view path = WithoutExtension(file);
  const std::string full(path);
  const std::string base(BaseName(full.c_str()));
  int level = -1;
  auto matches = [&](const VmoduleRule& rule) {
    if (rule.pattern.find('/') == std::string::npos) return fnmatch(rule.pattern.c_str(), base.c_str(), 0) == 0;
    // "iptables/*" names a directory wherever the tree sits: try the path from each component on.
    for (size_t at = 0; at != std::string::npos; at = full.find('/', at + 1)) {
      const char* suffix = full.c_str() + (full[at] == '/' ? at + 1 : at);
      if (fnmatch(rule.pattern.c_str(), suffix, FNM_PATHNAME) == 0) return true;
    }
    return false;
  };
  for (const VmoduleRule& rule : g_vmodule_rules) {  // the first matching rule wins, as klog's
    if (matches(rule)) {
      level = rule.level;
      break;
    }
  }
  g_vmodule_cache[file] = level;
  return level;
}

void SetVerbosity(int level) { g_verbosity.store(level); }
int Verbosity() { return g_verbosity.load(std::memory_order_relaxed); }
void SetFormat(Format format) { g_format.store(format); }
void SetSplitStream(bool split) { g_split_stream.store(split); }
void SetSinkForTesting(std::string* sink) {
  absl::MutexLock lock(&g_mu);
  g_sink = sink;
}

void Write(Severity severity, int verbosity, const char* file, int line, absl::string_view message) {
  absl::Time now = absl::Now();
  std::string out;
  if (g_format.load() == Format::kJson) {
    // The shape of component-base's JSON logger: ts (seconds since epoch), caller, msg, v.
    out = absl::StrFormat("{\"ts\":%.6f,\"caller\":\"%s:%d\",", absl::ToDoubleSeconds(now - absl::UnixEpoch()),
                          BaseName(file), line);
    if (severity == Severity::kError || severity == Severity::kFatal) {
      out += "\"err\":null,";
    }
    out += "\"msg\":";
    AppendJsonQuoted(out, message);
    absl::StrAppend(&out, ",\"v\":", verbosity, "}\n");
  } else {
    out = absl::StrCat(std::string(1, SeverityLetter(severity)),
                       absl::FormatTime("%m%d %H:%M:%E6S", now, absl::UTCTimeZone()),
                       absl::StrFormat(" %7d ", static_cast<int>(syscall(SYS_gettid))), BaseName(file), ":",
                       line, "] ", message, "\n");
  }
  absl::MutexLock lock(&g_mu);
  if (g_sink != nullptr) {
    g_sink->append(out);
    return;
  }
  if (severity == Severity::kInfo && g_split_stream.load()) {
    fwrite(out.data(), 1, out.size(), stdout);
    fflush(stdout);  // stdout is buffered when it is a pipe; a log line must not wait
    return;
  }
  fwrite(out.data(), 1, out.size(), stderr);
}

LogMessage::~LogMessage() { Write(severity_, verbosity_, file_, line_, stream_.str()); }

}  // namespace kproxy::logging
