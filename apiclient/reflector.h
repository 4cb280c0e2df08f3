// Reflector: keeps one resource (Services, EndpointSlices or the Node) in sync with the API
// server by paged list + watch, delivering adds/updates/deletes in order to a sink, and relisting
// (without churn for unchanged objects) when the watch's resourceVersion expires.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "apiclient/api_transport.h"
#include "apiclient/backoff.h"
#include "apiclient/object_decoder.h"
#include "apiclient/rest_client.h"

namespace kproxy::apiclient {

// What to list and watch.
struct ResourceSpec {
  std::string kind;  // "Service", "EndpointSlice", "Node": the decoded objects kept
  std::string path;  // "/api/v1/services"
  std::string label_selector;
  std::string field_selector;
};

// Receives a reflector's changes, in order, on the reflector's thread.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  virtual void OnAdd(const DecodedObject& object) = 0;
  virtual void OnUpdate(const DecodedObject& old_object, const DecodedObject& object) = 0;
  virtual void OnDelete(const DecodedObject& object) = 0;
  // The first complete list has been delivered (called once).
  virtual void OnSynced() = 0;
};

struct ReflectorOptions {
  int page_size = 500;
  // Each watch asks the server to end it after a random time in this range, so that many
  // proxies do not reconnect together (client-go: minWatchTimeout 5 min, up to twice that).
  absl::Duration min_watch_timeout = absl::Minutes(5);
  absl::Duration max_watch_timeout = absl::Minutes(10);
  // A watch on which no byte (not even a bookmark) arrives for this long is considered dead.
  absl::Duration watch_idle_timeout = absl::Minutes(11);
  absl::Duration list_timeout = absl::Seconds(60);
  // A watch that lasted this long (or ended normally) resets the backoff.
  absl::Duration healthy_stream = absl::Seconds(30);
  BackoffOptions backoff;
};

struct ReflectorStats {
  uint64_t lists = 0;           // complete lists (first one and relists)
  uint64_t list_pages = 0;
  uint64_t watches = 0;         // watch requests started
  uint64_t relists_gone = 0;    // 410 Gone / expired resourceVersion
  uint64_t stream_errors = 0;   // dropped connections, 5xx, 429, lines that did not parse
  uint64_t decode_errors = 0;   // objects skipped because they did not decode
  uint64_t events = 0;          // watch events applied (ADDED/MODIFIED/DELETED)
  uint64_t cached_objects = 0;
};

class Reflector {
 public:
  // The transport and sink must outlive the reflector. Starts nothing.
  Reflector(ApiTransport* transport, ResourceSpec spec, ReflectorSink* sink,
            ReflectorOptions options = {});
  ~Reflector();  // Stop()s
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the list/watch thread. Call once.
  void Start();
  // Interrupts any request or wait in progress and joins the thread. Idempotent; the sink gets
  // no call after Stop() returns.
  void Stop();

  bool HasSynced() const;
  // Waits until the first list was delivered; false on timeout.
  bool WaitForSync(absl::Duration timeout) const;
  ReflectorStats stats() const;
  // The last resourceVersion seen (list, event or bookmark).
  std::string resource_version() const;

 private:
  enum class Outcome { kOk, kEnded, kGone, kError, kCancelled };
  struct Result {
    Outcome outcome = Outcome::kOk;
    absl::Duration retry_after = absl::ZeroDuration();
    bool healthy = false;
  };

  void Run();
  Result ListAndReplace();
  Result WatchOnce();
  // Applies one decoded watch event; returns false to abandon the stream.
  static void KeepIdentityOnly(DecodedObject& object);
  void ApplyEvent(const std::string& type, const DecodedObject& object);
  std::string Query(bool watch) const;
  void SetResourceVersion(std::string rv);
  void CountDecodeErrors(const DecodedObjects& decoded);

  ApiTransport* const transport_;
  const ResourceSpec spec_;
  ReflectorSink* const sink_;
  const ReflectorOptions options_;
  CancelToken cancel_;
  std::thread thread_;
  bool started_ = false;

  // Owned by the reflector thread.
  absl::flat_hash_map<std::string, DecodedObject> cache_;

  mutable absl::Mutex mu_;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  ReflectorStats stats_ ABSL_GUARDED_BY(mu_);
};

// namespace/name (or name) of a decoded object, and its metadata.resourceVersion.
std::string ObjectKey(const DecodedObject& object);
const std::string& ObjectResourceVersion(const DecodedObject& object);

}  // namespace kproxy::apiclient
