#include "cmd/kube-proxy/service_health_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "logging/log.h"

namespace kproxy::daemon {
namespace {

// Go's %q for the ASCII names Kubernetes allows, with escapes for anything else.
std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace

ServiceHealthServer::ServiceHealthServer(HttpServer* http, std::optional<std::vector<std::string>> bind_hosts,
                                         std::function<bool()> proxy_healthy, std::string hostname,
                                         ListenFailureFn on_listen_failure)
    : http_(http),
      bind_hosts_(bind_hosts.has_value() ? *std::move(bind_hosts) : std::vector<std::string>{""}),
      proxy_healthy_(std::move(proxy_healthy)),
      hostname_(std::move(hostname)),
      on_listen_failure_(std::move(on_listen_failure)) {}

ServiceHealthServer::~ServiceHealthServer() {
  absl::MutexLock lock(&mu_);
  for (auto& [name, instance] : services_) CloseAll(*instance);
  services_.clear();
}

HttpResponse ServiceHealthServer::Respond(const proxier::ServiceName& service, int local_endpoints,
                                          bool proxy_healthy) {
  HttpResponse resp;
  resp.status = (local_endpoints != 0 && proxy_healthy) ? 200 : 503;
  resp.headers = {{"Content-Type", "application/json"},
                  {"X-Content-Type-Options", "nosniff"},
                  {"X-Load-Balancing-Endpoint-Weight", absl::StrCat(local_endpoints)}};
  resp.body = absl::StrCat("{\n\t\"service\": {\n\t\t\"namespace\": ", GoQuote(service.namespace_name),
                           ",\n\t\t\"name\": ", GoQuote(service.name), "\n\t},\n\t\"localEndpoints\": ",
                           local_endpoints, ",\n\t\"serviceProxyHealthy\": ", proxy_healthy ? "true" : "false",
                           "\n}");
  return resp;
}

absl::Status ServiceHealthServer::Open(const std::shared_ptr<Instance>& self) {
  Instance& instance = *self;
  for (const std::string& host : bind_hosts_) {
    std::weak_ptr<Instance> weak = self;
    auto proxy_healthy = proxy_healthy_;
    absl::StatusOr<HttpServer::ListenerId> id =
        http_->AddListener(host, instance.port, [weak, proxy_healthy](const HttpRequest&) -> HttpResponse {
          std::shared_ptr<Instance> inst = weak.lock();
          if (inst == nullptr) return NotFoundResponse();
          return Respond(inst->name, inst->endpoints.load(std::memory_order_relaxed),
                         proxy_healthy ? proxy_healthy() : true);
        });
    if (!id.ok()) {
      // Close what was opened so a retry or a port-ownership change can succeed.
      CloseAll(instance);
      return id.status();
    }
    instance.listeners.push_back(*id);
  }
  return absl::OkStatus();
}

void ServiceHealthServer::CloseAll(Instance& instance) {
  for (HttpServer::ListenerId id : instance.listeners) http_->RemoveListener(id);
  instance.listeners.clear();
}

absl::Status ServiceHealthServer::SyncServices(const absl::flat_hash_map<proxier::ServiceName, int>& services) {
  absl::MutexLock lock(&mu_);
  for (auto it = services_.begin(); it != services_.end();) {
    auto wanted = services.find(it->first);
    if (wanted == services.end() || wanted->second != it->second->port) {
      KLOG_V(2) << "Closing healthcheck service=\"" << it->first.ToString() << "\" port=" << it->second->port;
      CloseAll(*it->second);
      services_.erase(it++);
    } else {
      ++it;
    }
  }
  std::vector<std::string> failures;
  for (const auto& [name, port] : services) {
    if (services_.contains(name)) {
      KLOG_V(3) << "Existing healthcheck service=\"" << name.ToString() << "\" port=" << port;
      continue;
    }
    KLOG_V(2) << "Opening healthcheck service=\"" << name.ToString() << "\" port=" << port;
    auto instance = std::make_shared<Instance>();
    instance->name = name;
    instance->port = port;
    absl::Status status = Open(instance);
    if (status.ok()) {
      services_[name] = std::move(instance);
    } else {
      std::string message = absl::StrCat("node ", hostname_, " failed to start healthcheck \"", name.ToString(),
                                         "\" on port ", port, ": ", status.message());
      KLOG_ERROR << "Failed to start healthcheck node=\"" << hostname_ << "\" service=\"" << name.ToString()
                 << "\" port=" << port << " err=\"" << status.message() << "\"";
      if (on_listen_failure_) on_listen_failure_(name, message);
      failures.push_back(std::move(message));
    }
  }
  if (!failures.empty()) return absl::UnavailableError(absl::StrJoin(failures, "; "));
  return absl::OkStatus();
}

void ServiceHealthServer::SyncEndpoints(const absl::flat_hash_map<proxier::ServiceName, int>& local_endpoints) {
  absl::MutexLock lock(&mu_);
  for (auto& [name, instance] : services_) {
    auto it = local_endpoints.find(name);
    int count = it == local_endpoints.end() ? 0 : it->second;
    KLOG_V(3) << "Reporting endpoints for healthcheck endpointCount=" << count << " service=\"" << name.ToString()
              << "\"";
    instance->endpoints.store(count, std::memory_order_relaxed);
  }
}

std::vector<int> ServiceHealthServer::BoundPorts(const proxier::ServiceName& service) const {
  absl::MutexLock lock(&mu_);
  std::vector<int> ports;
  auto it = services_.find(service);
  if (it == services_.end()) return ports;
  for (HttpServer::ListenerId id : it->second->listeners) ports.push_back(http_->BoundPort(id));
  return ports;
}

size_t ServiceHealthServer::ServiceCount() const {
  absl::MutexLock lock(&mu_);
  return services_.size();
}

}  // namespace kproxy::daemon
