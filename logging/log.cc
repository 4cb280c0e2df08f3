#include "logging/log.h"

#include "logging/json_quote.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kproxy::logging {
namespace {

std::atomic<int> g_verbosity{0};
std::atomic<Format> g_format{Format::kText};
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

}  // namespace

void SetVerbosity(int level) { g_verbosity.store(level); }
int Verbosity() { return g_verbosity.load(std::memory_order_relaxed); }
void SetFormat(Format format) { g_format.store(format); }
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
  fwrite(out.data(), 1, out.size(), stderr);
}

LogMessage::~LogMessage() { Write(severity_, verbosity_, file_, line_, stream_.str()); }

}  // namespace kproxy::logging
