// A minimal blocking HTTP/1.1 client over a raw socket, so tests see the exact status line,
// headers and body the server wrote.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kproxy::daemon::testing {

struct RawHttpResponse {
  int status = 0;
  // In the order received; names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first header named `name` (case-insensitive), or "" .
  std::string Header(absl::string_view name) const;
  int HeaderCount(absl::string_view name) const;
};

// GET (or `method`) http://host:port/path with "Connection: close"; reads to EOF.
// A refused connection returns UnavailableError whose message contains "refused".
absl::StatusOr<RawHttpResponse> HttpGet(absl::string_view host, int port, absl::string_view path,
                                        absl::string_view method = "GET");

}  // namespace kproxy::daemon::testing
