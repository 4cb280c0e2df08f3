// RestClient: HTTP(S) requests to the API server over libcurl (TLS, bearer token with reload or
// from an exec plugin, proxy-url, qps/burst limiting), with line-by-line streaming for watches and
// cancellation from another thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "apiclient/api_transport.h"
#include "apiclient/kubeconfig.h"
#include "apiclient/rate_limiter.h"
#include "apiclient/token_source.h"

namespace kproxy::apiclient {

// Lets one thread abort another thread's requests and sleeps promptly. Cancel() is permanent.
class CancelToken {
 public:
  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  void Cancel();
  bool cancelled() const;
  // Sleeps up to `duration`; returns false when cancelled (before or during the sleep).
  bool SleepFor(absl::Duration duration);

 private:
  friend class RestClient;
  // The running request's libcurl multi handle, woken by Cancel(). Attach returns false when
  // already cancelled.
  bool Attach(void* multi);
  void Detach(void* multi);

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<void*> active_ ABSL_GUARDED_BY(mu_);
};

struct HttpResponse {
  long status = 0;
  // The whole body (for Stream(): only when the status was not 2xx, i.e. the Status object).
  std::string body;
  // Retry-After of a 429/503, zero when absent.
  absl::Duration retry_after = absl::ZeroDuration();
};

// One HTTP exchange with the API server, as client-go's rest_client_* metrics see it.
struct RequestOutcome {
  absl::string_view method;  // "GET", "POST"
  absl::string_view host;    // the server URL's host[:port]
  long status = 0;           // 0: no response (transport error, cancelled)
  absl::Duration duration;   // until the whole body arrived (for a watch: until it ended)
  bool stream = false;       // a watch
};

struct RestClientOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration token_recheck = absl::Seconds(5);
  // An exec plugin's credential is renewed this long before it expires.
  absl::Duration exec_refresh_before_expiry = absl::Seconds(10);
  std::string user_agent = "kube-proxy/kproxy";
  // A streamed line (one watch event) longer than this ends the stream as broken: no real object
  // comes near it, and a server or proxy that never sends the newline must not grow memory forever.
  size_t max_stream_line_bytes = 16 << 20;
  // Called after every request (each retry too), from the requesting thread.
  std::function<void(const RequestOutcome&)> on_request;
};

class RestClient final : public ApiTransport {
 public:
  // Fails on a server URL that does not parse.
  static absl::StatusOr<std::unique_ptr<RestClient>> Create(const ClientConfig& config,
                                                            RestClientOptions options = {});
  ~RestClient() override;

  // path_and_query starts with "/" ("/api/v1/services?limit=500"). A transport failure is an
  // error status (kUnavailable, kDeadlineExceeded, or kCancelled when `cancel` fired); any HTTP
  // status is a response. A 401 makes the token file be re-read and the request retried once.
  absl::StatusOr<HttpResponse> Get(absl::string_view path_and_query, CancelToken* cancel = nullptr,
                                   absl::Duration timeout = absl::Seconds(60)) override;
  absl::StatusOr<HttpResponse> Post(absl::string_view path, absl::string_view json_body,
                                    CancelToken* cancel = nullptr,
                                    absl::Duration timeout = absl::Seconds(30)) override;
  // Streams a 2xx body line by line (without the '\n') to on_line, until the server ends it, no
  // byte arrived for idle_timeout (kDeadlineExceeded), cancel fires (kCancelled), on_line
  // returns false (kAborted), or a line grows past max_stream_line_bytes (kResourceExhausted). A non-2xx response is returned whole, without calling on_line.
  absl::StatusOr<HttpResponse> Stream(absl::string_view path_and_query, const LineCallback& on_line,
                                      CancelToken* cancel = nullptr,
                                      absl::Duration idle_timeout = absl::Minutes(11)) override;

  const std::string& server() const { return config_.server; }

 private:
  struct Request;
  // Idle connections, TLS sessions and DNS answers shared by the requests of one thread.
  struct ConnectionShare;
  static size_t OnBody(char* data, size_t size, size_t count, void* request);
  RestClient(ClientConfig config, RestClientOptions options);
  absl::StatusOr<HttpResponse> Do(Request& request);
  absl::StatusOr<HttpResponse> DoOnce(Request& request);
  // The calling thread's connection cache. libcurl does not support one connection cache used by
  // concurrent threads (reflectors and the Event recorder run at once), so each thread reuses
  // only its own connections. Threads of a client are few and long-lived; a cache lives as long
  // as the client (a finished thread's id, when reused, takes it over: still one user at a time).
  ConnectionShare* ShareForThisThread();

  const ClientConfig config_;
  const RestClientOptions options_;
  std::string base_url_;    // server URL, with the host replaced by tls-server-name if set
  std::string connect_to_;  // CURLOPT_CONNECT_TO entry sending base_url_'s host to the real one
  RateLimiter limiter_;
  BearerTokenSource token_source_;
  absl::Mutex shares_mu_;
  absl::flat_hash_map<std::thread::id, std::unique_ptr<ConnectionShare>> shares_
      ABSL_GUARDED_BY(shares_mu_);
  std::unique_ptr<ExecCredentialSource> exec_source_;  // with a kubeconfig exec plugin
  std::string host_;                                   // server URL's host[:port], for metrics
};

}  // namespace kproxy::apiclient
