// JSON string quoting, shared by the JSON log format and the bodies the proxy posts (Events).
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace kproxy::logging {

// Appends `s` as a JSON string literal (quotes included; control characters escaped).
void AppendJsonQuoted(std::string& out, absl::string_view s);
// `s` as a JSON string literal.
std::string JsonQuote(absl::string_view s);

}  // namespace kproxy::logging
