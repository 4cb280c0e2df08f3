// BearerTokenSource: the bearer token for API requests, from a static value or a token file that
// is re-read when it changes (projected service-account tokens rotate about hourly).
#pragma once

#include <ctime>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

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

}  // namespace kproxy::apiclient
