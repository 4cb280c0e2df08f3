// Process-wide logging in klog's text format ("I1126 05:10:26.123456   42 file.cc:12] msg") or as
// JSON lines (--logging-format=json), with klog's -v verbosity levels. Writes to stderr.
#pragma once

#include <sstream>
#include <string>
#include "absl/strings/string_view.h"

namespace kproxy::logging {

enum class Severity { kInfo, kWarning, kError, kFatal };
enum class Format { kText, kJson };

void SetVerbosity(int level);
int Verbosity();
void SetFormat(Format format);
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

}  // namespace kproxy::logging

#define KLOG_INFO ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kInfo, 0, __FILE__, __LINE__).stream()
#define KLOG_WARNING ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kWarning, 0, __FILE__, __LINE__).stream()
#define KLOG_ERROR ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kError, 0, __FILE__, __LINE__).stream()
// Logs at info severity only when -v >= level.
#define KLOG_V(level)                                  \
  if (::kproxy::logging::Verbosity() < (level)) {      \
  } else                                               \
    ::kproxy::logging::LogMessage(::kproxy::logging::Severity::kInfo, (level), __FILE__, __LINE__).stream()
