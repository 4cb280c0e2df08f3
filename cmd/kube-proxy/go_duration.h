// Go time.Duration text ("30s", "1m0s", "500ms", "1h2m3.5s"), the syntax kube-proxy's duration
// flags and KubeProxyConfiguration fields use.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kproxy::daemon {

// Parses Go's time.ParseDuration syntax: an optional sign, then one or more decimal numbers each
// with a unit (ns, us, µs, ms, s, m, h). "0" alone is allowed.
absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view text);

// Formats as Go's Duration.String() does: "0s", "500ms", "1.5s", "1m0s", "24h0m0s".
std::string FormatGoDuration(absl::Duration d);

}  // namespace kproxy::daemon
