// Process-wide logging in klog's text format ("I1126 05:10:26.123456   42 file.cc:12] msg") or as
// JSON lines (--logging-format=json), with klog's -v verbosity levels. Writes to stderr (info to
// stdout with split streams).
#pragma once

#include <atomic>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kproxy::logging {

enum class Severity { kInfo, kWarning, kError, kFatal };
enum class Format { kText, kJson };

void SetVerbosity(int level);
int Verbosity();

// klog's --vmodule: "pattern=N" raises the verbosity of the files whose name (without directory
// and extension) matches the glob; a pattern with a '/' matches the path's trailing components.
struct VmoduleRule {
  std::string pattern;
  int level = 0;
};
// Entries as the flag or logging.vmodule give them; a malformed one is an error naming it.
absl::StatusOr<std::vector<VmoduleRule>> ParseVmodule(const std::vector<std::string>& entries);
void SetVmodule(std::vector<VmoduleRule> rules);
// The --vmodule level of `file` (a __FILE__), or -1 when no rule matches.
int VmoduleLevel(const char* file);

namespace internal {
extern std::atomic<bool> vmodule_set;
}  // namespace internal

// What KLOG_V asks: -v first, --vmodule only when set (it can only raise the level, as klog's).
inline bool VerboseEnabled(int level, const char* file) {
  if (Verbosity() >= level) return true;
  return internal::vmodule_set.load(std::memory_order_relaxed) && VmoduleLevel(file) >= level;
}
void SetFormat(Format format);
// component-base's split streams: info lines to stdout, warnings and errors to stderr. Off: all
// to stderr. Every line is written (and flushed) at once either way.
void SetSplitStream(bool split);
// Redirects output (tests); nullptr restores stderr.
void SetSinkForTesting(std::string* sink);

void Write(Severity severity, int verbosity, const char* file, int line, absl::string_view message);

// Collects one message and writes it when destroyed.
class LogMessage {
 public:
  LogMessage(Severity severity, int verbosity, const char* file, int line)
      : severity_(severity), verbosity_(verbosity), file_(file), line_(line) {}
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  Severity severity_;
  int verbosity_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};

// Turns the streamed message into a void expression, so KLOG_V is one expression (safe after an
// unbraced if) that evaluates nothing when the level is off.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace kproxy::logging

#define KLOG_INFO ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kInfo, 0, __FILE__, __LINE__).stream()
#define KLOG_WARNING ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kWarning, 0, __FILE__, __LINE__).stream()
#define KLOG_ERROR ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kError, 0, __FILE__, __LINE__).stream()
// Logs at info severity only when -v >= level (or --vmodule's level for this file).
#define KLOG_V(level)                                          \
  !::kproxy::logging::VerboseEnabled((level), __FILE__)        \
      ? (void)0                                                \
      : ::kproxy::logging::Voidify() &                         \
            ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kInfo, (level), __FILE__, __LINE__).stream()
