#include "apiclient/token_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "logging/log.h"

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

}  // namespace kproxy::apiclient
