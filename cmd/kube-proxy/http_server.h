// HttpServer: one libevent event loop on one thread serving any number of HTTP listeners (healthz,
// metrics and thousands of per-Service health-check ports) without a thread per port.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct event_base;
struct event;
struct evhttp_request;

namespace kproxy::daemon {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string path;    // without the query: "/healthz"
  std::string query;   // without the '?'
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Called on the event-loop thread; must not block and must not call back into HttpServer.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Splits "host:port", "[v6]:port" or ":port" (host "") as Go's net.SplitHostPort, checking the
// port is 0..65535. Brackets are removed from the host.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address);

// Raises the soft RLIMIT_NOFILE to the hard limit, as the Go runtime does at start-up, so
// thousands of health-check ports fit. Returns the new soft limit.
absl::StatusOr<uint64_t> RaiseOpenFileLimit();

// What Go's http.NotFound writes: 404, "404 page not found\n".
HttpResponse NotFoundResponse();

class HttpServer {
 public:
  using ListenerId = int64_t;

  static absl::StatusOr<std::unique_ptr<HttpServer>> Create();
  // Stops the loop and closes every listener and connection.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the event-loop thread. Listeners added before Start() accept connections (the kernel
  // queues them) and are served once it runs. Error if already started.
  absl::Status Start();
  // Stops the loop and joins its thread; listeners stay open (kernel-queued) until removed or
  // the server is destroyed. Idempotent; must not be called from a handler.
  void Stop();

  // Binds and listens on host:port synchronously (so a failure is returned here, naming the
  // address), then serves every request on it with `handler`. `host` is an IP literal. As Go's
  // net.Listen("tcp", ...) does, an unspecified address ("", "0.0.0.0" or "::") listens on every
  // address of both families (dual-stack "::", or "0.0.0.0" on a host without IPv6).
  // Port 0 asks the kernel for a free port: see BoundPort(). Thread-safe.
  absl::StatusOr<ListenerId> AddListener(absl::string_view host, int port, HttpHandler handler);
  // Closes the listening socket and its open connections before returning. Unknown ids are
  // ignored. Thread-safe; must not be called from a handler.
  void RemoveListener(ListenerId id);
  // The port the kernel bound for `id`; 0 for unknown ids.
  int BoundPort(ListenerId id) const;
  size_t ListenerCount() const;

 private:
  struct Listener;
  HttpServer() = default;

  // Runs `fn` on the loop thread and waits for it; runs it inline when the loop is not running
  // (holding mu_, so it never races the loop) or when already on the loop thread.
  void RunInLoop(absl::AnyInvocable<void()> fn);
  static void OnWakeup(int fd, short what, void* arg);
  static void OnRequest(::evhttp_request* req, void* arg);
  void DrainTasks();

  event_base* base_ = nullptr;
  event* wakeup_ = nullptr;
  std::thread loop_thread_;
  std::thread::id loop_thread_id_;

  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  ListenerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Owned here; the evhttp inside is touched only on the loop thread (or with the loop stopped).
  absl::flat_hash_map<ListenerId, std::unique_ptr<Listener>> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::daemon
