#include "apiclient/rest_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "logging/log.h"

namespace kproxy::apiclient {

// ---- CancelToken ----

void CancelToken::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  // curl_multi_wakeup is the one multi call documented as safe from another thread.
  for (void* multi : active_) curl_multi_wakeup(static_cast<CURLM*>(multi));
}

bool CancelToken::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool CancelToken::SleepFor(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&cancelled_), duration);
  return !cancelled_;
}

bool CancelToken::Attach(void* multi) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  active_.push_back(multi);
  return true;
}

void CancelToken::Detach(void* multi) {
  absl::MutexLock lock(&mu_);
  active_.erase(std::remove(active_.begin(), active_.end(), multi), active_.end());
}

// ---- RestClient ----

struct RestClient::Request {
  const char* method = "GET";
  std::string path;
  std::string body;
  CancelToken* cancel = nullptr;
  absl::Duration timeout = absl::ZeroDuration();       // total; zero: none
  absl::Duration idle_timeout = absl::ZeroDuration();  // no byte for this long; zero: none
  const LineCallback* on_line = nullptr;

  // Per attempt.
  CURL* easy = nullptr;
  HttpResponse response;
  bool streaming_body = false;  // decided on the first body byte: 2xx and on_line set
  bool status_known = false;
  bool aborted_by_callback = false;
  bool line_too_long = false;
  size_t max_line_bytes = 0;
  std::string partial_line;
};

namespace {

std::once_flag curl_init_once;

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  absl::string_view line(data, size * count);
  if (absl::StartsWithIgnoreCase(line, "retry-after:")) {
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(12));
    int seconds = 0;
    // The HTTP-date form is not used by the API server; only delta-seconds is honoured.
    if (absl::SimpleAtoi(value, &seconds) && seconds > 0) {
      response->retry_after = absl::Seconds(std::min(seconds, 600));
    }
  }
  return size * count;
}

void SetBlob(CURL* easy, CURLoption option, const std::string& data) {
  curl_blob blob;
  blob.data = const_cast<char*>(data.data());
  blob.len = data.size();
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(easy, option, &blob);
}

}  // namespace

size_t RestClient::OnBody(char* data, size_t size, size_t count, void* user) {
  auto* request = static_cast<RestClient::Request*>(user);
  const size_t n = size * count;
  if (!request->status_known) {
    request->status_known = true;
    curl_easy_getinfo(request->easy, CURLINFO_RESPONSE_CODE, &request->response.status);
    request->streaming_body = request->on_line != nullptr && request->response.status >= 200 &&
                              request->response.status < 300;
  }
  if (!request->streaming_body) {
    request->response.body.append(data, n);
    return n;
  }
  absl::string_view chunk(data, n);
  while (!chunk.empty()) {
    const size_t newline = chunk.find('\n');
    const size_t line_bytes = request->partial_line.size() +
                              (newline == absl::string_view::npos ? chunk.size() : newline);
    if (line_bytes > request->max_line_bytes) {
      request->line_too_long = true;
      request->partial_line.clear();
      request->partial_line.shrink_to_fit();
      return 0;  // CURLE_WRITE_ERROR: the stream is treated as broken
    }
    if (newline == absl::string_view::npos) {
      request->partial_line.append(chunk.data(), chunk.size());
      break;
    }
    bool keep_going;
    if (request->partial_line.empty()) {
      keep_going = (*request->on_line)(chunk.substr(0, newline));
    } else {
      request->partial_line.append(chunk.data(), newline);
      keep_going = (*request->on_line)(request->partial_line);
      request->partial_line.clear();
    }
    if (!keep_going) {
      request->aborted_by_callback = true;
      return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
    }
    chunk.remove_prefix(newline + 1);
  }
  return n;
}

// Every request has its own easy and multi handle (cancellation is per request), so without a share
// each one paid a TCP and TLS handshake: a paged initial list of a large cluster is hundreds of
// requests. One share per thread: libcurl documents sharing connections between concurrent
// threads as unsupported, so the locks below only ever see one thread.
struct RestClient::ConnectionShare {
  CURLSH* handle = curl_share_init();
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  ConnectionShare() {
    curl_share_setopt(handle, CURLSHOPT_LOCKFUNC, &ConnectionShare::Lock);
    curl_share_setopt(handle, CURLSHOPT_UNLOCKFUNC, &ConnectionShare::Unlock);
    curl_share_setopt(handle, CURLSHOPT_USERDATA, this);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  ~ConnectionShare() { curl_share_cleanup(handle); }
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<ConnectionShare*>(self)->locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<ConnectionShare*>(self)->locks[data].unlock();
  }
};

RestClient::ConnectionShare* RestClient::ShareForThisThread() {
  absl::MutexLock lock(&shares_mu_);
  std::unique_ptr<ConnectionShare>& share = shares_[std::this_thread::get_id()];
  if (share == nullptr) share = std::make_unique<ConnectionShare>();
  return share.get();
}

RestClient::RestClient(ClientConfig config, RestClientOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      limiter_(config_.qps, config_.burst),
      token_source_(config_.bearer_token, config_.bearer_token_file, options_.token_recheck) {
  if (config_.exec.has_value()) {
    exec_source_ = std::make_unique<ExecCredentialSource>(*config_.exec, config_,
                                                          options_.exec_refresh_before_expiry);
  }
  absl::string_view host = config_.server;
  if (size_t scheme = host.find("://"); scheme != absl::string_view::npos)
    host.remove_prefix(scheme + 3);
  host_ = std::string(host.substr(0, host.find('/')));
}

RestClient::~RestClient() = default;

absl::StatusOr<std::unique_ptr<RestClient>> RestClient::Create(const ClientConfig& config,
                                                               RestClientOptions options) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_ALL); });
  std::unique_ptr<RestClient> client(new RestClient(config, std::move(options)));
  std::string server = config.server;
  while (absl::EndsWith(server, "/")) server.pop_back();
  if (!absl::StartsWith(server, "http://") && !absl::StartsWith(server, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.origin, ": server \"", config.server, "\": must start with https:// or http://"));
  }
  client->base_url_ = server;
  if (!config.tls_server_name.empty()) {
    // libcurl verifies the certificate against the URL's host and sends it as SNI; there is no
    // separate option for that. So the URL names tls-server-name and CONNECT_TO sends the
    // connection to the real host.
    CURLU* url = curl_url();
    char* host = nullptr;
    char* port = nullptr;
    CURLUcode rc = curl_url_set(url, CURLUPART_URL, server.c_str(), 0);
    if (rc == CURLUE_OK) rc = curl_url_get(url, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OK) rc = curl_url_get(url, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (rc == CURLUE_OK) rc = curl_url_set(url, CURLUPART_HOST, config.tls_server_name.c_str(), 0);
    char* rewritten = nullptr;
    if (rc == CURLUE_OK) rc = curl_url_get(url, CURLUPART_URL, &rewritten, 0);
    if (rc == CURLUE_OK) {
      client->base_url_ = rewritten;
      while (absl::EndsWith(client->base_url_, "/")) client->base_url_.pop_back();
      client->connect_to_ = absl::StrCat(config.tls_server_name, ":", port, ":", host, ":", port);
    }
    curl_free(host);
    curl_free(port);
    curl_free(rewritten);
    curl_url_cleanup(url);
    if (rc != CURLUE_OK) {
      return absl::InvalidArgumentError(absl::StrCat(config.origin, ": server \"", config.server,
                                                     "\": ", curl_url_strerror(rc)));
    }
  }
  // Protobuf is upstream's default, so this holds on nearly every node: not worth a line at -v 0.
  if (absl::StrContains(config.content_type, "protobuf")) {
    KLOG_V(2) << "API content type " << config.content_type
              << " requested; kproxy decodes only JSON and asks for application/json";
  }
  KLOG_V(2) << "API client: " << config.DebugString();
  return client;
}

absl::StatusOr<HttpResponse> RestClient::Get(absl::string_view path_and_query, CancelToken* cancel,
                                             absl::Duration timeout) {
  Request request;
  request.path = std::string(path_and_query);
  request.cancel = cancel;
  request.timeout = timeout;
  return Do(request);
}

absl::StatusOr<HttpResponse> RestClient::Post(absl::string_view path, absl::string_view json_body,
                                              CancelToken* cancel, absl::Duration timeout) {
  Request request;
  request.method = "POST";
  request.path = std::string(path);
  request.body = std::string(json_body);
  request.cancel = cancel;
  request.timeout = timeout;
  return Do(request);
}

absl::StatusOr<HttpResponse> RestClient::Stream(absl::string_view path_and_query,
                                                const LineCallback& on_line, CancelToken* cancel,
                                                absl::Duration idle_timeout) {
  Request request;
  request.path = std::string(path_and_query);
  request.cancel = cancel;
  request.idle_timeout = idle_timeout;
  request.on_line = &on_line;
  return Do(request);
}

absl::StatusOr<HttpResponse> RestClient::Do(Request& request) {
  absl::StatusOr<HttpResponse> response = DoOnce(request);
  // A rotated token: the file may already hold the new one, the plugin may give a new credential;
  // try once more with it.
  if (response.ok() && response->status == 401 && exec_source_ != nullptr) {
    exec_source_->Invalidate();
    KLOG_V(2) << request.method << " " << request.path << ": 401, running the exec plugin again";
    response = DoOnce(request);
  } else if (response.ok() && response->status == 401 && !config_.bearer_token_file.empty()) {
    token_source_.Invalidate();
    KLOG_V(2) << request.method << " " << request.path << ": 401, re-reading the token file";
    response = DoOnce(request);
  }
  return response;
}

absl::StatusOr<HttpResponse> RestClient::DoOnce(Request& request) {
  const std::string url = base_url_ + request.path;
  const std::string what = absl::StrCat(request.method, " ", url);
  const absl::Duration wait = limiter_.Reserve();
  if (wait > absl::ZeroDuration()) {
    KLOG_V(4) << what << ": rate limited for " << wait;
    if (request.cancel != nullptr) {
      if (!request.cancel->SleepFor(wait)) return absl::CancelledError(what + ": cancelled");
    } else {
      absl::SleepFor(wait);
    }
  }
  absl::StatusOr<std::string> token = token_source_.Token();
  if (!token.ok()) return token.status();
  std::optional<ExecCredential> exec_credential;
  if (exec_source_ != nullptr) {
    absl::StatusOr<ExecCredential> credential = exec_source_->Get();
    if (!credential.ok()) {
      return absl::UnauthenticatedError(absl::StrCat(what, ": ", credential.status().message()));
    }
    exec_credential = *std::move(credential);
    *token = exec_credential->token;
  }
  const absl::Time started = absl::Now();

  request.response = HttpResponse{};
  request.status_known = false;
  request.streaming_body = false;
  request.aborted_by_callback = false;
  request.line_too_long = false;
  request.max_line_bytes = options_.max_stream_line_bytes;
  request.partial_line.clear();

  CURL* easy = curl_easy_init();
  if (easy == nullptr) return absl::InternalError(what + ": curl_easy_init failed");
  request.easy = easy;
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  if (ConnectionShare* share = ShareForThisThread(); share->handle != nullptr) {
    curl_easy_setopt(easy, CURLOPT_SHARE, share->handle);
  }
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  if (request.timeout > absl::ZeroDuration()) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
  }
  if (request.idle_timeout > absl::ZeroDuration()) {
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(absl::ToInt64Seconds(request.idle_timeout))));
  }
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_slist* connect_to = nullptr;
  if (!connect_to_.empty()) {
    connect_to = curl_slist_append(connect_to, connect_to_.c_str());
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to);
  }
  if (!config_.ca_data.empty()) {
    SetBlob(easy, CURLOPT_CAINFO_BLOB, config_.ca_data);
  } else if (!config_.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, config_.ca_file.c_str());
  }
  if (exec_credential.has_value() && !exec_credential->client_certificate_pem.empty()) {
    SetBlob(easy, CURLOPT_SSLCERT_BLOB, exec_credential->client_certificate_pem);
    SetBlob(easy, CURLOPT_SSLKEY_BLOB, exec_credential->client_key_pem);
  } else if (!config_.client_cert_data.empty()) {
    SetBlob(easy, CURLOPT_SSLCERT_BLOB, config_.client_cert_data);
  } else if (!config_.client_cert_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  }
  if (exec_credential.has_value() && !exec_credential->client_key_pem.empty()) {
    // set with the certificate above
  } else if (!config_.client_key_data.empty()) {
    SetBlob(easy, CURLOPT_SSLKEY_BLOB, config_.client_key_data);
  } else if (!config_.client_key_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLKEY, config_.client_key_file.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  if (!config_.proxy_url.empty()) curl_easy_setopt(easy, CURLOPT_PROXY, config_.proxy_url.c_str());
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config_.username.empty()) {
    curl_easy_setopt(easy, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, config_.password.c_str());
  }
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  std::string authorization;
  if (!token->empty()) {
    authorization = absl::StrCat("Authorization: Bearer ", *token);
    headers = curl_slist_append(headers, authorization.c_str());
  }
  if (std::string_view(request.method) == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &request.response);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &request);

  CURLM* multi = curl_multi_init();
  curl_multi_add_handle(multi, easy);
  bool cancelled = request.cancel != nullptr && !request.cancel->Attach(multi);
  CURLcode result = CURLE_OK;
  if (!cancelled) {
    int running = 1;
    while (true) {
      const CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        result = CURLE_RECV_ERROR;
        break;
      }
      if (running == 0) {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
          if (msg->msg == CURLMSG_DONE) result = msg->data.result;
        }
        break;
      }
      if (request.cancel != nullptr && request.cancel->cancelled()) {
        cancelled = true;
        break;
      }
      // Returns early on socket activity or curl_multi_wakeup() from Cancel().
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    if (request.cancel != nullptr) request.cancel->Detach(multi);
  }
  if (!request.status_known) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &request.response.status);
  curl_multi_remove_handle(multi, easy);
  curl_multi_cleanup(multi);
  curl_easy_cleanup(easy);
  request.easy = nullptr;
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  // Don't keep the credential around in freed memory longer than needed.
  std::fill(authorization.begin(), authorization.end(), '\0');

  if (options_.on_request) {
    options_.on_request({.method = request.method,
                         .host = host_,
                         .status = request.response.status,
                         .duration = absl::Now() - started,
                         .stream = request.on_line != nullptr});
  }
  if (cancelled) return absl::CancelledError(what + ": cancelled");
  if (request.aborted_by_callback) return absl::AbortedError(what + ": stream abandoned by the reader");
  if (request.line_too_long) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": a streamed line grew past ", request.max_line_bytes,
        " bytes without ending; treating the stream as broken"));
  }
  if (result == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": ", error_buffer[0] ? error_buffer : curl_easy_strerror(result)));
  }
  if (result != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(what, ": ", error_buffer[0] ? error_buffer : curl_easy_strerror(result)));
  }
  // A stream that ended without a final newline still delivers its last line.
  if (request.streaming_body && !request.partial_line.empty()) {
    (*request.on_line)(request.partial_line);
  }
  KLOG_V(4) << what << " -> " << request.response.status;
  return std::move(request.response);
}

}  // namespace kproxy::apiclient
