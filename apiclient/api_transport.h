// ApiTransport: the requests a Reflector and the EventRecorder make, so they can run against the
// real RestClient or an in-process fake in tests.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kproxy::apiclient {

class CancelToken;
struct HttpResponse;

class ApiTransport {
 public:
  using LineCallback = std::function<bool(absl::string_view line)>;
  virtual ~ApiTransport() = default;
  // See RestClient for the contract: transport failures are statuses, HTTP statuses are responses.
  virtual absl::StatusOr<HttpResponse> Get(absl::string_view path_and_query, CancelToken* cancel,
                                           absl::Duration timeout) = 0;
  virtual absl::StatusOr<HttpResponse> Post(absl::string_view path, absl::string_view json_body,
                                            CancelToken* cancel, absl::Duration timeout) = 0;
  virtual absl::StatusOr<HttpResponse> Stream(absl::string_view path_and_query,
                                              const LineCallback& on_line, CancelToken* cancel,
                                              absl::Duration idle_timeout) = 0;
};

}  // namespace kproxy::apiclient
