// MetricsServer: kube-proxy's metricsBindAddress endpoints (default 127.0.0.1:10249): /metrics,
// /proxyMode, /configz and a generic /healthz, served on the shared HttpServer.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cmd/kube-proxy/http_server.h"
#include "cmd/kube-proxy/metrics.h"

namespace kproxy::daemon {

class MetricsServer {
 public:
  // The /configz body: the whole JSON document, e.g. {"kubeproxy.config.k8s.io": {...}}.
  using ConfigzFn = std::function<std::string()>;

  // `http` and `metrics` must outlive this object. `configz` may be null (then /configz is 404)
  // and is called on the event loop, so it must be cheap and thread-safe.
  MetricsServer(HttpServer* http, const Metrics* metrics, std::string proxy_mode, ConfigzFn configz = nullptr);
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts serving on host:port ("" = every address); returns the bound port. May be called
  // once per address (metricsBindAddress can name several node IPs).
  absl::StatusOr<int> Listen(absl::string_view host, int port);
  // Stops serving on every address; idempotent.
  void Close();

  // The handler, exposed for tests.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpServer* const http_;
  const Metrics* const metrics_;
  const std::string proxy_mode_;
  const ConfigzFn configz_;

  absl::Mutex mu_;
  std::vector<HttpServer::ListenerId> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
