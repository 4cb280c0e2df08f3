#include "apiclient/event_recorder.h"

#include "logging/json_quote.h"

#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "logging/log.h"

namespace kproxy::apiclient {


EventRecorder::EventRecorder(ApiTransport* transport, EventRecorderOptions options)
    : transport_(transport), options_(std::move(options)),
      limiter_(options_.qps, options_.burst, options_.now) {}

EventRecorder::~EventRecorder() { Stop(); }

void EventRecorder::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void EventRecorder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

bool EventRecorder::Warning(const ObjectReference& regarding, absl::string_view reason,
                            absl::string_view action, absl::string_view note) {
  const absl::Time now = options_.now();
  const std::string key = absl::StrCat(regarding.namespace_name, "/", regarding.name, "\x1f",
                                       reason, "\x1f", note);
  absl::MutexLock lock(&mu_);
  auto it = last_posted_.find(key);
  if (it != last_posted_.end() && now - it->second < options_.dedupe_window) {
    ++stats_.deduplicated;
    return false;
  }
  if (queue_.size() >= options_.queue_size) {
    ++stats_.dropped;
    KLOG_WARNING << "Event queue full, dropping " << reason << " for " << regarding.namespace_name
                 << "/" << regarding.name;
    return false;
  }
  last_posted_[key] = now;
  // Forget old keys so a long-running proxy does not grow this map forever.
  if (last_posted_.size() > 4 * options_.queue_size) {
    for (auto i = last_posted_.begin(); i != last_posted_.end();) {
      if (now - i->second >= options_.dedupe_window) {
        last_posted_.erase(i++);
      } else {
        ++i;
      }
    }
  }
  queue_.push_back(Pending{regarding, std::string(reason), std::string(action), std::string(note), now});
  return true;
}

EventRecorderStats EventRecorder::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool EventRecorder::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !busy_; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

std::string EventRecorder::EventJson(const ObjectReference& regarding, absl::string_view type,
                                     absl::string_view reason, absl::string_view action,
                                     absl::string_view note, absl::string_view controller,
                                     absl::string_view instance, absl::Time when,
                                     absl::string_view name) {
  // eventTime is a MicroTime: RFC 3339 with exactly six fractional digits.
  const std::string event_time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", when, absl::UTCTimeZone());
  std::string regarding_json = absl::StrCat(
      "{\"kind\":", logging::JsonQuote(regarding.kind), ",\"apiVersion\":", logging::JsonQuote(regarding.api_version),
      ",\"namespace\":", logging::JsonQuote(regarding.namespace_name), ",\"name\":", logging::JsonQuote(regarding.name));
  if (!regarding.uid.empty()) absl::StrAppend(&regarding_json, ",\"uid\":", logging::JsonQuote(regarding.uid));
  if (!regarding.resource_version.empty()) {
    absl::StrAppend(&regarding_json, ",\"resourceVersion\":", logging::JsonQuote(regarding.resource_version));
  }
  regarding_json += "}";
  // The API server limits note to 1 kB.
  absl::string_view short_note = note.substr(0, 1024);
  return absl::StrCat(
      "{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\",\"metadata\":{\"name\":",
      logging::JsonQuote(name), ",\"namespace\":", logging::JsonQuote(regarding.namespace_name),
      "},\"eventTime\":", logging::JsonQuote(event_time), ",\"reportingController\":", logging::JsonQuote(controller),
      ",\"reportingInstance\":", logging::JsonQuote(instance), ",\"action\":", logging::JsonQuote(action),
      ",\"reason\":", logging::JsonQuote(reason), ",\"regarding\":", regarding_json,
      ",\"note\":", logging::JsonQuote(short_note), ",\"type\":", logging::JsonQuote(type), "}");
}

void EventRecorder::Run() {
  std::mt19937_64 rng{std::random_device{}()};
  while (true) {
    Pending pending;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      pending = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    const absl::Duration wait = limiter_.Reserve();
    if (wait > absl::ZeroDuration() && !cancel_.SleepFor(wait)) return;
    // Like client-go: <object name>.<unique hex suffix>.
    const std::string name = absl::StrFormat("%s.%016x", pending.regarding.name, rng());
    const std::string body = EventJson(pending.regarding, "Warning", pending.reason, pending.action,
                                       pending.note, options_.reporting_controller,
                                       options_.node_name, pending.when, name);
    const std::string path = absl::StrCat("/apis/events.k8s.io/v1/namespaces/",
                                          pending.regarding.namespace_name, "/events");
    absl::StatusOr<HttpResponse> response = transport_->Post(path, body, &cancel_, options_.post_timeout);
    absl::MutexLock lock(&mu_);
    busy_ = false;
    if (response.ok() && response->status >= 200 && response->status < 300) {
      ++stats_.posted;
      KLOG_V(2) << "Posted Event " << pending.reason << " for Service " << pending.regarding.namespace_name
                << "/" << pending.regarding.name;
    } else {
      if (!response.ok() && absl::IsCancelled(response.status())) return;
      ++stats_.failed;
      KLOG_WARNING << "Could not post Event " << pending.reason << " for "
                   << pending.regarding.namespace_name << "/" << pending.regarding.name << ": "
                   << (response.ok() ? absl::StrCat("HTTP ", response->status, " ", response->body.substr(0, 200))
                                     : std::string(response.status().message()));
    }
  }
}

}  // namespace kproxy::apiclient
