#include "cmd/kube-proxy/metrics_server.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kproxy::daemon {
namespace {

HttpResponse TextResponse(std::string content_type, std::string body) {
  HttpResponse resp;
  resp.headers = {{"Content-Type", std::move(content_type)}, {"X-Content-Type-Options", "nosniff"}};
  resp.body = std::move(body);
  return resp;
}

}  // namespace

MetricsServer::MetricsServer(HttpServer* http, const Metrics* metrics, std::string proxy_mode, ConfigzFn configz)
    : http_(http), metrics_(metrics), proxy_mode_(std::move(proxy_mode)), configz_(std::move(configz)) {}

MetricsServer::~MetricsServer() { Close(); }

absl::StatusOr<int> MetricsServer::Listen(absl::string_view host, int port) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<HttpServer::ListenerId> id =
      http_->AddListener(host, port, [this](const HttpRequest& request) { return Handle(request); });
  if (!id.ok()) {
    return absl::Status(id.status().code(), absl::StrCat("starting metrics server failed: ", id.status().message()));
  }
  listeners_.push_back(*id);
  return http_->BoundPort(*id);
}

void MetricsServer::Close() {
  absl::MutexLock lock(&mu_);
  for (HttpServer::ListenerId id : listeners_) http_->RemoveListener(id);
  listeners_.clear();
}

HttpResponse MetricsServer::Handle(const HttpRequest& request) const {
  if (request.path == "/metrics") {
    HttpResponse resp;
    resp.headers = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    resp.body = metrics_->SerializeText();
    return resp;
  }
  if (request.path == "/proxyMode") return TextResponse("text/plain; charset=utf-8", proxy_mode_);
  // k8s.io/apiserver's healthz.InstallHandler: /healthz and its only check, /healthz/ping.
  if (request.path == "/healthz" || request.path == "/healthz/ping") {
    return TextResponse("text/plain; charset=utf-8", "ok");
  }
  if (request.path == "/configz" && configz_) {
    HttpResponse resp;
    resp.headers = {{"Content-Type", "application/json"}};
    resp.body = configz_();
    return resp;
  }
  return NotFoundResponse();
}

}  // namespace kproxy::daemon
