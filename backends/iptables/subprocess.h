// RunSubprocess: runs a program from an argument vector (never a shell), feeding stdin and capturing
// stdout/stderr, with a deadline — how the iptables tools are exec'd.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/time/time.h"

namespace kproxy::backends::iptables {

struct SubprocessResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string stdout_text;
  std::string stderr_text;
};

// Runs argv[0] (looked up on PATH) with argv. Fails only when the program cannot be started or the
// deadline passes (the child is then killed); a non-zero exit is reported in the result.
absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               absl::string_view stdin_text,
                                               absl::Duration timeout);
// The same, with stdin given as pieces written in order (a large restore input is never joined).
absl::StatusOr<SubprocessResult> RunSubprocess(const std::vector<std::string>& argv,
                                               absl::Span<const absl::string_view> stdin_pieces,
                                               absl::Duration timeout);

}  // namespace kproxy::backends::iptables
