#include "cmd/kube-proxy/health_server.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kproxy::daemon {
namespace {

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse resp;
  resp.status = status;
  resp.headers = {{"Content-Type", "application/json"}, {"X-Content-Type-Options", "nosniff"}};
  resp.body = std::move(body);
  return resp;
}

}  // namespace

HealthServer::HealthServer(HttpServer* http, const ProxyHealth* health, Metrics* metrics,
                           std::optional<absl::Time> monotonic_origin)
    : http_(http), health_(health), metrics_(metrics), monotonic_origin_(monotonic_origin) {}

HealthServer::~HealthServer() { Close(); }

absl::StatusOr<int> HealthServer::Listen(absl::string_view host, int port) {
  absl::MutexLock lock(&mu_);
  if (listener_.has_value()) return absl::FailedPreconditionError("healthz server: already listening");
  absl::StatusOr<HttpServer::ListenerId> id =
      http_->AddListener(host, port, [this](const HttpRequest& request) { return Handle(request); });
  if (!id.ok()) {
    return absl::Status(id.status().code(), absl::StrCat("failed to start proxy healthz: ", id.status().message()));
  }
  listener_ = *id;
  return http_->BoundPort(*id);
}

void HealthServer::Close() {
  absl::MutexLock lock(&mu_);
  if (!listener_.has_value()) return;
  http_->RemoveListener(*listener_);
  listener_.reset();
}

HttpResponse HealthServer::Handle(const HttpRequest& request) const {
  if (request.path == "/healthz") return Healthz();
  if (request.path == "/livez") return Livez();
  return NotFoundResponse();
}

HttpResponse HealthServer::Healthz() const {
  ProxyHealthStatus status = health_->Health();
  const bool healthy = status.healthy && status.node_eligible;
  const int code = healthy ? 200 : 503;
  if (metrics_ != nullptr) metrics_->IncProxyHealthz(code);
  // Compatibility with older releases: a healthy proxy reports "lastUpdated" as now.
  absl::Time last_updated = healthy ? status.current_time : status.last_updated;
  return JsonResponse(code, absl::StrCat("{\"lastUpdated\": \"", GoTimeString(last_updated, monotonic_origin_),
                                         "\",\"currentTime\": \"",
                                         GoTimeString(status.current_time, monotonic_origin_),
                                         "\", \"nodeEligible\": ", status.node_eligible ? "true" : "false", "}"));
}

HttpResponse HealthServer::Livez() const {
  ProxyHealthStatus status = health_->Health();
  const int code = status.healthy ? 200 : 503;
  if (metrics_ != nullptr) metrics_->IncProxyLivez(code);
  absl::Time last_updated = status.healthy ? status.current_time : status.last_updated;
  return JsonResponse(code, absl::StrCat("{\"lastUpdated\": \"", GoTimeString(last_updated, monotonic_origin_),
                                         "\",\"currentTime\": \"",
                                         GoTimeString(status.current_time, monotonic_origin_), "\"}"));
}

}  // namespace kproxy::daemon
