#include "apiclient/token_source.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "logging/json_quote.h"
#include "logging/log.h"

extern char** environ;

namespace kproxy::apiclient {

BearerTokenSource::BearerTokenSource(std::string static_token, std::string file,
                                     absl::Duration recheck, std::function<absl::Time()> now)
    : static_token_(std::move(static_token)), file_(std::move(file)), recheck_(recheck),
      now_(std::move(now)) {}

void BearerTokenSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  force_ = true;
}

absl::Status BearerTokenSource::ReloadLocked() {
  struct stat st;
  if (stat(file_.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat("token file ", file_, ": ", std::strerror(errno)));
  }
  const bool changed = !loaded_ || st.st_mtim.tv_sec != mtime_.tv_sec ||
                       st.st_mtim.tv_nsec != mtime_.tv_nsec || st.st_size != size_;
  // A 401 forces a read even if stat looks the same: mtime granularity can hide a fast rewrite.
  if (!changed && !force_) return absl::OkStatus();
  std::ifstream in(file_, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("token file ", file_, ": cannot read"));
  std::ostringstream text;
  text << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) return absl::UnavailableError(absl::StrCat("token file ", file_, ": empty"));
  if (loaded_ && token != token_) KLOG_INFO << "Reloaded bearer token from " << file_ << " (token: <redacted>)";
  token_ = std::move(token);
  loaded_ = true;
  mtime_ = st.st_mtim;
  size_ = st.st_size;
  return absl::OkStatus();
}

absl::StatusOr<std::string> BearerTokenSource::Token() {
  if (file_.empty()) return static_token_;
  absl::MutexLock lock(&mu_);
  const absl::Time now = now_();
  if (!loaded_ || force_ || now - last_check_ >= recheck_) {
    last_check_ = now;
    absl::Status status = ReloadLocked();
    force_ = false;
    if (!status.ok()) {
      if (!loaded_) return status;
      KLOG_WARNING << status.message() << "; keeping the previous token";
    }
  }
  return token_;
}

// ---- exec credential plugins ----

namespace {

// A plugin's stdout beyond this is not a credential.
constexpr size_t kMaxPluginOutput = 1 << 20;

std::string PluginName(const ExecConfig& exec) {
  return absl::StrCat("exec plugin ", exec.command);
}

// Runs the plugin with `extra_env` over our environment; its stdout, or an error naming it.
absl::StatusOr<std::string> RunPlugin(const ExecConfig& exec,
                                      const std::vector<std::string>& extra_env,
                                      absl::Duration timeout) {
  std::vector<std::string> args = {exec.command};
  args.insert(args.end(), exec.args.begin(), exec.args.end());
  absl::flat_hash_set<std::string> overridden;
  for (const std::string& entry : extra_env) overridden.insert(entry.substr(0, entry.find('=')));
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    if (!overridden.contains(entry.substr(0, entry.find('=')))) env.emplace_back(entry);
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat(PluginName(exec), ": pipe: ", std::strerror(errno)));
  // posix_spawn, as every program kproxy starts: an argv, no shell; the command is the admin's
  // kubeconfig's, looked up on PATH as client-go does.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  pid_t pid = -1;
  const int spawn_error = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawn_error != 0) {
    close(out[0]);
    std::string message =
        absl::StrCat(PluginName(exec), ": cannot run it: ", std::strerror(spawn_error));
    if (spawn_error == ENOENT && !exec.install_hint.empty())
      absl::StrAppend(&message, "; ", exec.install_hint);
    return absl::FailedPreconditionError(message);
  }
  std::string output;
  bool timed_out = false;
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[4096];
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    const int ready =
        poll(&p, 1, static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < kMaxPluginOutput) output.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(PluginName(exec), ": no answer within ",
                                                    absl::FormatDuration(timeout), "; killed"));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(
        absl::StrCat(PluginName(exec), ": ",
                     WIFEXITED(status) ? absl::StrCat("exit status ", WEXITSTATUS(status))
                                       : absl::StrCat("killed by signal ", WTERMSIG(status)),
                     " (its stderr is in this log)"));
  }
  return output;
}

absl::StatusOr<std::string> StringField(const simdjson::dom::object& object, const char* key,
                                        absl::string_view path) {
  simdjson::dom::element value;
  if (object.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return std::string();
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(path, key, ": not a string"));
  }
  return std::string(text);
}

}  // namespace

absl::StatusOr<ExecCredential> ParseExecCredential(absl::string_view json,
                                                   absl::string_view api_version) {
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  simdjson::dom::object root;
  const simdjson::padded_string padded(json.data(), json.size());
  if (parser.parse(padded).get(document) != simdjson::SUCCESS ||
      document.get_object().get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("output is not a JSON object (want an ExecCredential)");
  }
  absl::StatusOr<std::string> kind = StringField(root, "kind", "");
  if (!kind.ok()) return kind.status();
  if (*kind != "ExecCredential") {
    return absl::InvalidArgumentError(absl::StrCat("kind \"", *kind, "\": want ExecCredential"));
  }
  absl::StatusOr<std::string> version = StringField(root, "apiVersion", "");
  if (!version.ok()) return version.status();
  if (*version != api_version) {
    return absl::InvalidArgumentError(
        absl::StrCat("apiVersion \"", *version, "\": the kubeconfig asked for ", api_version));
  }
  simdjson::dom::object status;
  if (root.at_key("status").get_object().get(status) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("status: missing or not an object");
  }
  ExecCredential credential;
  for (auto [key, out] : {std::pair{"token", &credential.token},
                          std::pair{"clientCertificateData", &credential.client_certificate_pem},
                          std::pair{"clientKeyData", &credential.client_key_pem}}) {
    absl::StatusOr<std::string> value = StringField(status, key, "status.");
    if (!value.ok()) return value.status();
    *out = *std::move(value);
  }
  const bool has_certificate = !credential.client_certificate_pem.empty();
  if (has_certificate != !credential.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "status: clientCertificateData and clientKeyData must be given together");
  }
  if (credential.token.empty() && !has_certificate) {
    return absl::InvalidArgumentError(
        "status: neither token nor clientCertificateData and clientKeyData");
  }
  absl::StatusOr<std::string> expiry = StringField(status, "expirationTimestamp", "status.");
  if (!expiry.ok()) return expiry.status();
  if (!expiry->empty()) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, *expiry, &t, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("status.expirationTimestamp \"", *expiry, "\": ", error));
    }
    credential.expiry = t;
  }
  return credential;
}

absl::StatusOr<std::string> ExecInfoJson(const ExecConfig& exec, const ClientConfig& cluster) {
  using logging::JsonQuote;
  std::string spec = "\"interactive\":false";
  if (exec.provide_cluster_info) {
    std::string ca = cluster.ca_data;
    if (ca.empty() && !cluster.ca_file.empty()) {
      std::ifstream in(cluster.ca_file, std::ios::binary);
      if (!in) return absl::FailedPreconditionError(absl::StrCat(cluster.ca_file, ": cannot read"));
      std::ostringstream text;
      text << in.rdbuf();
      ca = text.str();
    }
    std::string fields = absl::StrCat("\"server\":", JsonQuote(cluster.server));
    if (!cluster.tls_server_name.empty())
      absl::StrAppend(&fields, ",\"tls-server-name\":", JsonQuote(cluster.tls_server_name));
    if (cluster.insecure_skip_tls_verify)
      absl::StrAppend(&fields, ",\"insecure-skip-tls-verify\":true");
    if (!ca.empty())
      absl::StrAppend(&fields,
                      ",\"certificate-authority-data\":", JsonQuote(absl::Base64Escape(ca)));
    if (!cluster.proxy_url.empty())
      absl::StrAppend(&fields, ",\"proxy-url\":", JsonQuote(cluster.proxy_url));
    spec = absl::StrCat("\"cluster\":{", fields, "},", spec);
  }
  return absl::StrCat("{\"kind\":\"ExecCredential\",\"apiVersion\":", JsonQuote(exec.api_version),
                      ",\"spec\":{", spec, "}}");
}

ExecCredentialSource::ExecCredentialSource(ExecConfig exec, ClientConfig cluster,
                                           absl::Duration refresh_before_expiry,
                                           absl::Duration timeout, std::function<absl::Time()> now)
    : exec_(std::move(exec)),
      cluster_(std::move(cluster)),
      refresh_before_expiry_(refresh_before_expiry),
      timeout_(timeout),
      now_(std::move(now)) {}

void ExecCredentialSource::Invalidate() {
  absl::MutexLock lock(&mu_);
  invalidated_ = true;
}

int ExecCredentialSource::runs() const {
  absl::MutexLock lock(&mu_);
  return runs_;
}

absl::StatusOr<ExecCredential> ExecCredentialSource::Run() const {
  absl::StatusOr<std::string> info = ExecInfoJson(exec_, cluster_);
  if (!info.ok())
    return absl::Status(info.status().code(),
                        absl::StrCat(PluginName(exec_), ": ", info.status().message()));
  std::vector<std::string> env;
  for (const auto& [name, value] : exec_.env) env.push_back(absl::StrCat(name, "=", value));
  env.push_back(absl::StrCat("KUBERNETES_EXEC_INFO=", *info));
  absl::StatusOr<std::string> output = RunPlugin(exec_, env, timeout_);
  if (!output.ok()) return output.status();
  absl::StatusOr<ExecCredential> credential = ParseExecCredential(*output, exec_.api_version);
  if (!credential.ok()) {
    return absl::Status(credential.status().code(),
                        absl::StrCat(PluginName(exec_), ": ", credential.status().message()));
  }
  return credential;
}

absl::StatusOr<ExecCredential> ExecCredentialSource::Get() {
  absl::MutexLock lock(&mu_);  // held across the run: concurrent requests wait for one plugin run
  const absl::Time now = now_();
  if (credential_.has_value() && !invalidated_ && now < refresh_at_) return *credential_;
  ++runs_;
  absl::StatusOr<ExecCredential> fresh = Run();
  if (!fresh.ok()) {
    // Still valid and not refused: keep using it, the next request tries the plugin again.
    if (credential_.has_value() && !invalidated_ &&
        (!credential_->expiry || now < *credential_->expiry)) {
      KLOG_WARNING << fresh.status().message()
                   << "; keeping the previous credential until it expires";
      return *credential_;
    }
    return fresh.status();
  }
  // Refreshed `refresh_before_expiry` ahead, or half-way through a shorter life: never a plugin
  // run for every request.
  refresh_at_ = absl::InfiniteFuture();
  if (fresh->expiry.has_value()) {
    refresh_at_ = *fresh->expiry - std::min(refresh_before_expiry_, (*fresh->expiry - now) / 2);
  }
  KLOG_V(2) << PluginName(exec_) << ": got a "
            << (fresh->token.empty() ? "client certificate" : "token")
            << (fresh->expiry ? absl::StrCat(" valid until ", absl::FormatTime(*fresh->expiry))
                              : "")
            << " (credential: <redacted>)";
  credential_ = *std::move(fresh);
  invalidated_ = false;
  return *credential_;
}

}  // namespace kproxy::apiclient
