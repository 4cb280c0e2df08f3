// ServiceHealthServer: one HTTP health check per externalTrafficPolicy=Local Service on its
// healthCheckNodePort, answering 200 while the node has ready local endpoints and the proxy is
// healthy (upstream's ServiceHealthServer), all on the shared HttpServer's single event loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cmd/kube-proxy/http_server.h"
#include "proxier/service_port.h"

namespace kproxy::daemon {

class ServiceHealthServer {
 public:
  // Called when a health-check port cannot be opened (e.g. to record a
  // FailedToStartServiceHealthcheck Event); the message names node, Service, port and error.
  using ListenFailureFn = std::function<void(const proxier::ServiceName&, const std::string& message)>;

  // `bind_hosts`: the node IPs nodePortAddresses selects (empty: health-check ports are opened on
  // no address); nullopt means every address. The proxy
  // health callback (ProxyHealth::IsHealthy) is called on the event loop per request and must be
  // cheap and thread-safe. `http` must outlive this object.
  ServiceHealthServer(HttpServer* http, std::optional<std::vector<std::string>> bind_hosts, std::function<bool()> proxy_healthy,
                      std::string hostname = "", ListenFailureFn on_listen_failure = nullptr);
  // Closes every health-check port.
  ~ServiceHealthServer();

  ServiceHealthServer(const ServiceHealthServer&) = delete;
  ServiceHealthServer& operator=(const ServiceHealthServer&) = delete;

  // Makes `services` (Service -> healthCheckNodePort) the open set: closes ports of Services no
  // longer present or whose port changed, opens the new ones, leaves the rest alone. A port that
  // cannot be bound is logged and left out (so the next call retries it) without affecting the
  // others; the returned error lists those failures. Port 0 binds a kernel-chosen port (tests).
  absl::Status SyncServices(const absl::flat_hash_map<proxier::ServiceName, int>& services);
  // Sets the number of ready local endpoints per Service; open Services not in the map get 0,
  // entries for Services without an open port are ignored.
  void SyncEndpoints(const absl::flat_hash_map<proxier::ServiceName, int>& local_endpoints);

  // The bound port of each listener of `service` (one per bind host); empty when not open.
  std::vector<int> BoundPorts(const proxier::ServiceName& service) const;
  size_t ServiceCount() const;

  // The response for one Service, exposed for tests.
  static HttpResponse Respond(const proxier::ServiceName& service, int local_endpoints, bool proxy_healthy);

 private:
  struct Instance {
    proxier::ServiceName name;
    int port = 0;
    std::vector<HttpServer::ListenerId> listeners;
    std::atomic<int> endpoints{0};
  };

  absl::Status Open(const std::shared_ptr<Instance>& instance);
  void CloseAll(Instance& instance);

  HttpServer* const http_;
  const std::vector<std::string> bind_hosts_;
  const std::function<bool()> proxy_healthy_;
  const std::string hostname_;
  const ListenFailureFn on_listen_failure_;

  mutable absl::Mutex mu_;
  // Handlers hold a shared_ptr to their Instance and read `endpoints` atomically, so a request
  // never waits for mu_ (which SyncServices holds while the loop opens and closes sockets).
  absl::flat_hash_map<proxier::ServiceName, std::shared_ptr<Instance>> services_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
