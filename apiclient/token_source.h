// BearerTokenSource: the bearer token for API requests, from a static value or a token file that
// is re-read when it changes (projected service-account tokens rotate about hourly).
// ExecCredentialSource: the token or client certificate a kubeconfig's exec plugin supplies.
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "apiclient/kubeconfig.h"

namespace kproxy::apiclient {

class BearerTokenSource {
 public:
  // file empty: the static token is returned as is.
  BearerTokenSource(std::string static_token, std::string file,
                    absl::Duration recheck = absl::Seconds(5),
                    std::function<absl::Time()> now = [] { return absl::Now(); });

  // The current token ("" when none). The file is looked at (mtime and size) at most every
  // `recheck`, and read again only when it changed. A file that cannot be read keeps the last
  // good token and returns the error only if there never was one.
  absl::StatusOr<std::string> Token();
  // The server refused the token (401): look at the file again on the next Token() call.
  void Invalidate();

 private:
  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string static_token_;
  const std::string file_;
  const absl::Duration recheck_;
  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  bool force_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  timespec mtime_ ABSL_GUARDED_BY(mu_) = {};
  long long size_ ABSL_GUARDED_BY(mu_) = -1;
};

// What an exec plugin returned (ExecCredential.status).
struct ExecCredential {
  std::string token;                   // a bearer token, or
  std::string client_certificate_pem;  // a client certificate and its key
  std::string client_key_pem;
  std::optional<absl::Time> expiry;  // none: valid until the server refuses it (401)
};

// status of an ExecCredential the plugin printed; its apiVersion must be the configured one.
absl::StatusOr<ExecCredential> ParseExecCredential(absl::string_view json,
                                                   absl::string_view api_version);
// The KUBERNETES_EXEC_INFO value client-go gives a plugin: spec.interactive false, and spec.cluster
// (server, tls-server-name, insecure-skip-tls-verify, certificate-authority-data, proxy-url) when
// provideClusterInfo is set.
absl::StatusOr<std::string> ExecInfoJson(const ExecConfig& exec, const ClientConfig& cluster);

// Runs the plugin when there is no credential yet, when the last one expires within
// `refresh_before_expiry` (or is half-way through a shorter life), and after Invalidate() (the
// server answered 401). Thread-safe; one plugin run at a time. The plugin gets stdin from
// /dev/null and our stderr, and is killed after `timeout`.
class ExecCredentialSource {
 public:
  ExecCredentialSource(
      ExecConfig exec, ClientConfig cluster,
      absl::Duration refresh_before_expiry = absl::Seconds(10),
      absl::Duration timeout = absl::Minutes(1),
      std::function<absl::Time()> now = [] { return absl::Now(); });

  // The current credential. A failed run returns the error (naming the command, and the
  // installHint when the command is missing); an unexpired previous credential is kept then.
  absl::StatusOr<ExecCredential> Get();
  void Invalidate();
  int runs() const;  // how often the plugin ran (tests, logs)

 private:
  absl::StatusOr<ExecCredential> Run() const;

  const ExecConfig exec_;
  const ClientConfig cluster_;
  const absl::Duration refresh_before_expiry_;
  const absl::Duration timeout_;
  const std::function<absl::Time()> now_;
  mutable absl::Mutex mu_;
  std::optional<ExecCredential> credential_ ABSL_GUARDED_BY(mu_);
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool invalidated_ ABSL_GUARDED_BY(mu_) = false;
  int runs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kproxy::apiclient
