// HealthServer: kube-proxy's /healthz and /livez (healthzBindAddress, default 0.0.0.0:10256) with
// upstream's status codes, headers and bodies, served on the shared HttpServer.
#pragma once

#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cmd/kube-proxy/http_server.h"
#include "cmd/kube-proxy/metrics.h"
#include "cmd/kube-proxy/proxy_health.h"

namespace kproxy::daemon {

class HealthServer {
 public:
  // All three must outlive this object. `metrics` may be null (no counters).
  // Times in bodies carry Go's " m=+..." monotonic suffix relative to `monotonic_origin`
  // (process start by default); std::nullopt omits it.
  HealthServer(HttpServer* http, const ProxyHealth* health, Metrics* metrics,
               std::optional<absl::Time> monotonic_origin = ProcessStartTime());
  ~HealthServer();

  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Starts serving on host:port ("" = every address); returns the bound port. Error if already
  // listening or the address cannot be bound (the caller decides whether to retry or exit).
  absl::StatusOr<int> Listen(absl::string_view host, int port);
  // Stops serving; idempotent.
  void Close();

  // The handler, exposed for tests: /healthz, /livez, else 404.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpResponse Healthz() const;
  HttpResponse Livez() const;

  HttpServer* const http_;
  const ProxyHealth* const health_;
  Metrics* const metrics_;
  const std::optional<absl::Time> monotonic_origin_;

  absl::Mutex mu_;
  std::optional<HttpServer::ListenerId> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
