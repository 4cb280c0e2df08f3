#include "cmd/kube-proxy/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "logging/log.h"

namespace kproxy::daemon {
namespace {

// Idle keep-alive connections are closed after this long so scanners cannot pin descriptors.
constexpr int kIdleTimeoutSeconds = 60;
constexpr ev_ssize_t kMaxHeadersSize = 64 * 1024;
constexpr ev_ssize_t kMaxBodySize = 64 * 1024;

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

const char* MethodName(enum evhttp_cmd_type cmd) {
  switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
  }
  return "UNKNOWN";
}

void UsePthreadsOnce() {
  static std::once_flag once;
  // Makes event_active() from other threads safe and wakes the loop.
  std::call_once(once, [] { evthread_use_pthreads(); });
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err, what);
}

// Opens a non-blocking listening socket on host:port. Returns the fd.
absl::StatusOr<int> OpenListenSocket(absl::string_view host, int port, int* bound_port) {
  std::string literal(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  const std::string name = literal.find(':') != std::string::npos ? absl::StrCat("[", literal, "]:", port)
                                                                  : absl::StrCat(literal, ":", port);
  if (literal == "0.0.0.0") literal.clear();  // Go: every address of both families
  if (port < 0 || port > 65535) return absl::InvalidArgumentError(absl::StrCat("listen ", name, ": invalid port"));
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool wildcard_v6 = false;
  if (literal.empty()) literal = "::";
  sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sockaddr_in6* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, literal.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, literal.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
    // Go listens dual-stack on an unspecified address; do the same.
    wildcard_v6 = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("listen ", name, ": \"", host, "\" is not an IP address"));
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && wildcard_v6 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
    // No IPv6 on this host: every address means every IPv4 address.
    ss = {};
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof(sockaddr_in);
    wildcard_v6 = false;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("listen ", name, ": socket"));
  int one = 1;
  int zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ss.ss_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, wildcard_v6 ? &zero : &one, sizeof(int));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat("listen ", name, ": bind"));
  }
  if (listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat("listen ", name, ": listen"));
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0) {
    *bound_port = bound.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                                             : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  } else {
    *bound_port = port;
  }
  return fd;
}

}  // namespace

struct HttpServer::Listener {
  HttpHandler handler;
  int port = 0;
  evhttp* http = nullptr;
};

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(absl::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address ", address, ": missing port in address"));
  }
  absl::string_view host = address.substr(0, colon);
  absl::string_view port_text = address.substr(colon + 1);
  if (absl::ConsumePrefix(&host, "[")) {
    if (!absl::ConsumeSuffix(&host, "]")) {
      return absl::InvalidArgumentError(absl::StrCat("address ", address, ": missing ']' in address"));
    }
  } else if (host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address ", address, ": too many colons in address"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("address ", address, ": invalid port \"", port_text, "\""));
  }
  return std::make_pair(std::string(host), port);
}

absl::StatusOr<uint64_t> RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return ErrnoStatus(errno, "getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return ErrnoStatus(errno, "setrlimit(RLIMIT_NOFILE)");
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

HttpResponse NotFoundResponse() {
  HttpResponse resp;
  resp.status = 404;
  resp.headers = {{"Content-Type", "text/plain; charset=utf-8"}, {"X-Content-Type-Options", "nosniff"}};
  resp.body = "404 page not found\n";
  return resp;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create() {
  UsePthreadsOnce();
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->base_ = event_base_new();
  if (server->base_ == nullptr) return absl::InternalError("http server: event_base_new failed");
  server->wakeup_ = event_new(server->base_, -1, EV_PERSIST, &HttpServer::OnWakeup, server.get());
  if (server->wakeup_ == nullptr) return absl::InternalError("http server: event_new failed");
  return server;
}

HttpServer::~HttpServer() {
  Stop();
  absl::flat_hash_map<ListenerId, std::unique_ptr<Listener>> listeners;
  {
    absl::MutexLock lock(&mu_);
    listeners.swap(listeners_);
  }
  // The loop is stopped: nothing else touches the evhttp objects.
  for (auto& [id, listener] : listeners) {
    if (listener->http != nullptr) evhttp_free(listener->http);
  }
  if (wakeup_ != nullptr) event_free(wakeup_);
  if (base_ != nullptr) event_base_free(base_);
}

absl::Status HttpServer::Start() {
  absl::MutexLock lock(&mu_);
  if (running_) return absl::FailedPreconditionError("http server: already started");
  running_ = true;
  loop_thread_ = std::thread([this] {
    event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
  });
  loop_thread_id_ = loop_thread_.get_id();
  return absl::OkStatus();
}

void HttpServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!running_ || !loop_thread_.joinable()) return;
    tasks_.push_back([this] { event_base_loopbreak(base_); });
    event_active(wakeup_, EV_READ, 0);
  }
  loop_thread_.join();
  std::vector<absl::AnyInvocable<void()>> leftover;
  {
    absl::MutexLock lock(&mu_);
    running_ = false;
    loop_thread_id_ = std::thread::id();
    leftover.swap(tasks_);
    // Tasks queued after the loop broke: run them here, still under mu_ so no one restarts the
    // loop meanwhile.
    for (auto& task : leftover) task();
  }
}

void HttpServer::OnWakeup(int, short, void* arg) { static_cast<HttpServer*>(arg)->DrainTasks(); }

void HttpServer::DrainTasks() {
  std::vector<absl::AnyInvocable<void()>> tasks;
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();
}

void HttpServer::RunInLoop(absl::AnyInvocable<void()> fn) {
  absl::Notification done;
  {
    absl::MutexLock lock(&mu_);
    if (!running_ || std::this_thread::get_id() == loop_thread_id_) {
      fn();
      return;
    }
    tasks_.push_back([&fn, &done] {
      fn();
      done.Notify();
    });
    event_active(wakeup_, EV_READ, 0);
  }
  done.WaitForNotification();
}

absl::StatusOr<HttpServer::ListenerId> HttpServer::AddListener(absl::string_view host, int port,
                                                               HttpHandler handler) {
  int bound_port = 0;
  absl::StatusOr<int> fd = OpenListenSocket(host, port, &bound_port);
  if (!fd.ok()) return fd.status();
  auto listener = std::make_unique<Listener>();
  listener->handler = std::move(handler);
  listener->port = bound_port;
  bool accepted = false;
  Listener* raw = listener.get();
  RunInLoop([this, raw, &fd, &accepted] {
    raw->http = evhttp_new(base_);
    if (raw->http == nullptr) return;
    evhttp_set_timeout(raw->http, kIdleTimeoutSeconds);
    evhttp_set_max_headers_size(raw->http, kMaxHeadersSize);
    evhttp_set_max_body_size(raw->http, kMaxBodySize);
    evhttp_set_default_content_type(raw->http, nullptr);
    evhttp_set_allowed_methods(raw->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(raw->http, &HttpServer::OnRequest, raw);
    accepted = evhttp_accept_socket_with_handle(raw->http, *fd) != nullptr;
    if (!accepted) {
      evhttp_free(raw->http);
      raw->http = nullptr;
    }
  });
  if (!accepted) {
    close(*fd);
    return absl::InternalError(absl::StrCat("listen ", host, ":", port, ": libevent could not accept on the socket"));
  }
  absl::MutexLock lock(&mu_);
  ListenerId id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void HttpServer::RemoveListener(ListenerId id) {
  std::unique_ptr<Listener> listener;
  {
    absl::MutexLock lock(&mu_);
    auto it = listeners_.find(id);
    if (it == listeners_.end()) return;
    listener = std::move(it->second);
    listeners_.erase(it);
  }
  Listener* raw = listener.get();
  // evhttp_free closes the listening socket and every connection accepted on it.
  RunInLoop([raw] {
    if (raw->http != nullptr) evhttp_free(raw->http);
    raw->http = nullptr;
  });
}

int HttpServer::BoundPort(ListenerId id) const {
  absl::MutexLock lock(&mu_);
  auto it = listeners_.find(id);
  return it == listeners_.end() ? 0 : it->second->port;
}

size_t HttpServer::ListenerCount() const {
  absl::MutexLock lock(&mu_);
  return listeners_.size();
}

void HttpServer::OnRequest(evhttp_request* req, void* arg) {
  auto* listener = static_cast<Listener*>(arg);
  HttpRequest request;
  request.method = MethodName(evhttp_request_get_command(req));
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  request.path = (path != nullptr && *path != '\0') ? path : "/";
  const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
  if (query != nullptr) request.query = query;

  HttpResponse response = listener->handler(request);
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  for (const auto& [key, value] : response.headers) evhttp_add_header(headers, key.c_str(), value.c_str());
  evbuffer* body = evbuffer_new();
  if (body == nullptr) {
    evhttp_send_error(req, 500, nullptr);
    return;
  }
  if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
    // libevent would send the body after a HEAD reply; Go's server sends only the length.
    evhttp_add_header(headers, "Content-Length", absl::StrCat(response.body.size()).c_str());
  } else {
    evbuffer_add(body, response.body.data(), response.body.size());
  }
  evhttp_send_reply(req, response.status, ReasonPhrase(response.status), body);
  evbuffer_free(body);
}

}  // namespace kproxy::daemon
