// EventRecorder: posts events.k8s.io/v1 Warning Events about Services (e.g. a pass-through
// conflict on a shared ELB) from a bounded queue on its own thread, rate-limited and deduplicated,
// never blocking the caller.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "apiclient/api_transport.h"
#include "apiclient/rate_limiter.h"
#include "apiclient/rest_client.h"

namespace kproxy::apiclient {

// The object an Event is about (Event.regarding).
struct ObjectReference {
  std::string kind = "Service";
  std::string api_version = "v1";
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string resource_version;
};

struct EventRecorderOptions {
  std::string node_name;  // reportingInstance
  std::string reporting_controller = "kube-proxy";
  size_t queue_size = 256;
  // Posts per second and burst; beyond that events wait in the queue (and drop when it is full).
  double qps = 1.0;
  int burst = 25;
  // The same (regarding, reason, note) is posted at most once per window.
  absl::Duration dedupe_window = absl::Minutes(10);
  absl::Duration post_timeout = absl::Seconds(10);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

struct EventRecorderStats {
  uint64_t posted = 0;
  uint64_t failed = 0;
  uint64_t deduplicated = 0;
  uint64_t dropped = 0;  // queue full
};

class EventRecorder {
 public:
  // The transport must outlive the recorder. Starts nothing.
  EventRecorder(ApiTransport* transport, EventRecorderOptions options);
  ~EventRecorder();  // Stop()s; queued events are dropped

  void Start();
  void Stop();

  // Queues a Warning Event; returns false when it was a duplicate or the queue is full. Never
  // blocks on the network.
  bool Warning(const ObjectReference& regarding, absl::string_view reason, absl::string_view action,
               absl::string_view note);
  EventRecorderStats stats() const;
  // Waits until the queue is empty and nothing is being posted (tests, shutdown).
  bool Flush(absl::Duration timeout);

  // The JSON body of the Event (exposed for tests).
  static std::string EventJson(const ObjectReference& regarding, absl::string_view type,
                               absl::string_view reason, absl::string_view action,
                               absl::string_view note, absl::string_view controller,
                               absl::string_view instance, absl::Time when, absl::string_view name);

 private:
  struct Pending {
    ObjectReference regarding;
    std::string reason;
    std::string action;
    std::string note;
    absl::Time when;
  };
  void Run();

  ApiTransport* const transport_;
  const EventRecorderOptions options_;
  RateLimiter limiter_;
  CancelToken cancel_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, absl::Time> last_posted_ ABSL_GUARDED_BY(mu_);
  EventRecorderStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::apiclient
