// ScriptedTransport: an in-process ApiTransport that answers requests from a script of
// responses (list pages, watch lines, errors) and blocks like a quiet watch when the script is
// exhausted, so reflector behaviour is testable without a server.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "apiclient/api_transport.h"
#include "apiclient/rest_client.h"

namespace kproxy::apiclient::testing {

class ScriptedTransport final : public ApiTransport {
 public:
  struct Step {
    absl::Status transport_error;  // non-OK: returned instead of a response
    HttpResponse response;         // for Stream(): status; lines are delivered when 2xx
    std::vector<std::string> lines;
  };
  static Step Ok(std::string body) { return Step{absl::OkStatus(), HttpResponse{200, std::move(body)}, {}}; }
  static Step Lines(std::vector<std::string> lines) {
    return Step{absl::OkStatus(), HttpResponse{200, ""}, std::move(lines)};
  }
  static Step Status(long code, absl::Duration retry_after = absl::ZeroDuration()) {
    return Step{absl::OkStatus(), HttpResponse{code, "{\"kind\":\"Status\",\"code\":" + std::to_string(code) + "}", retry_after}, {}};
  }
  static Step Error(absl::Status status) { return Step{std::move(status), {}, {}}; }

  void Push(Step step) {
    absl::MutexLock lock(&mu_);
    steps_.push_back(std::move(step));
  }
  std::vector<std::string> paths() const {
    absl::MutexLock lock(&mu_);
    return paths_;
  }
  std::vector<absl::Time> times() const {
    absl::MutexLock lock(&mu_);
    return times_;
  }
  std::vector<std::string> posts() const {
    absl::MutexLock lock(&mu_);
    return posts_;
  }

  absl::StatusOr<HttpResponse> Get(absl::string_view path, CancelToken* cancel, absl::Duration) override {
    return Run(path, nullptr, cancel);
  }
  absl::StatusOr<HttpResponse> Post(absl::string_view path, absl::string_view body, CancelToken* cancel,
                                    absl::Duration) override {
    {
      absl::MutexLock lock(&mu_);
      posts_.push_back(std::string(body));
    }
    return Run(path, nullptr, cancel);
  }
  absl::StatusOr<HttpResponse> Stream(absl::string_view path, const LineCallback& on_line,
                                      CancelToken* cancel, absl::Duration) override {
    return Run(path, &on_line, cancel);
  }

 private:
  absl::StatusOr<HttpResponse> Run(absl::string_view path, const LineCallback* on_line, CancelToken* cancel) {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      paths_.push_back(std::string(path));
      times_.push_back(absl::Now());
      if (steps_.empty()) {
        // Nothing scripted: behave like a quiet watch until cancelled.
        mu_.Unlock();
        while (cancel != nullptr && cancel->SleepFor(absl::Seconds(1))) {}
        mu_.Lock();
        return absl::CancelledError("cancelled");
      }
      step = std::move(steps_.front());
      steps_.pop_front();
    }
    if (!step.transport_error.ok()) return step.transport_error;
    if (on_line != nullptr && step.response.status >= 200 && step.response.status < 300) {
      for (const std::string& line : step.lines) {
        if (!(*on_line)(line)) return absl::AbortedError("stream abandoned by the reader");
      }
    }
    return step.response;
  }

  mutable absl::Mutex mu_;
  std::deque<Step> steps_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> times_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> posts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::apiclient::testing
