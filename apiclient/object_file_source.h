// ObjectFileSource: the --objects source. Loads Services, EndpointSlices and the Node from a file
// or a directory of YAML/JSON files and delivers them to the proxier's handlers as diffs,
// re-reading on change.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "proxier/api_types.h"
#include "proxier/handlers.h"

namespace kproxy::apiclient {

struct ObjectFileSourceOptions {
  // A file (any extension; ".json" is read as JSON, anything else as YAML) or a directory whose
  // *.yaml, *.yml and *.json files are read (not recursively; names starting with "." are skipped).
  std::string path;
  // Only the Node with this name is delivered to the NodeHandler; empty: no Node is delivered.
  std::string node_name;
  // How often Run()'s thread checks the files for changes (inode, size, mtime). The thread reads a
  // changed file once it has been left alone for 200 ms, so half-written files are not loaded.
  absl::Duration poll_interval = absl::Seconds(1);
  // Called for every rejected object or unreadable file/document (e.g. to count a metric).
  std::function<void(absl::string_view file, absl::string_view message)> on_rejected;
};

class ObjectFileSource final {
 public:
  // Checks that the path exists; handlers may be nullptr (that kind is then not delivered).
  // Handlers must outlive the source. Nothing is read or started yet.
  static absl::StatusOr<std::unique_ptr<ObjectFileSource>> Create(
      ObjectFileSourceOptions options, proxier::ServiceHandler* service_handler,
      proxier::EndpointSliceHandler* slice_handler, proxier::NodeHandler* node_handler);
  ~ObjectFileSource();
  ObjectFileSource(const ObjectFileSource&) = delete;
  ObjectFileSource& operator=(const ObjectFileSource&) = delete;

  // Reads every file whose content may have changed and delivers the differences; the first call
  // also delivers the Synced notifications. Fails only when the path cannot be listed/read at all
  // (nothing is delivered then); rejected objects keep their last good version and are counted.
  absl::Status LoadOnce() ABSL_LOCKS_EXCLUDED(mu_);
  // Loads once if that has not happened yet, then starts a thread that re-loads on change.
  absl::Status Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops and joins the thread; idempotent. A stopped source cannot be run again.
  void Stop();

  // Objects, documents and files rejected since creation.
  size_t rejected_objects() const { return rejected_objects_.load(); }
  // Completed loads (LoadOnce calls and reloads after a change).
  size_t loads() const { return loads_.load(); }

  // (namespace, name); namespace is empty for Nodes.
  using ObjectKey = std::pair<std::string, std::string>;

 private:
  // Identity of a file's content as far as stat(2) can tell.
  struct FileSignature {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    friend bool operator==(const FileSignature&, const FileSignature&) = default;
  };
  // The last good objects read from one file.
  // An EndpointSlice as read from a file: whole until delivered, then only its identity (the
  // endpoints are most of the memory, and the handlers keep what they need of them).
  struct SliceRecord {
    std::shared_ptr<const proxier::EndpointSlice> slice;
    uint64_t fingerprint = 0;  // ContentFingerprint of the whole slice
    bool whole = true;
  };

  struct FileObjects {
    FileSignature signature;
    size_t content_hash = 0;
    // File timestamps have jiffy granularity: a file modified again within the same tick as our
    // read keeps its signature, so recently modified files are read again (and compared by hash).
    bool recheck = false;
    // Shared with the merged view and with what was delivered: one copy of each object in memory.
    std::map<ObjectKey, std::shared_ptr<const proxier::Service>> services;
    std::map<ObjectKey, SliceRecord> endpoint_slices;
    std::map<ObjectKey, std::shared_ptr<const proxier::Node>> nodes;
  };

  ObjectFileSource(ObjectFileSourceOptions options, bool is_directory,
                   proxier::ServiceHandler* service_handler,
                   proxier::EndpointSliceHandler* slice_handler,
                   proxier::NodeHandler* node_handler);

  absl::StatusOr<std::map<std::string, FileSignature>> ListFiles() const;
  // Decodes one file into `next`, carrying over from `previous` what failed to decode.
  // Returns false when the content is unchanged (by hash) and `previous` can be kept as is.
  bool ReadFile(const std::string& file, const FileSignature& signature,
                const FileObjects* previous, FileObjects* next);
  void Reject(absl::string_view file, absl::string_view message);
  // settle: leave files modified in the last moments for the next poll (they may be half written).
  absl::Status LoadLocked(bool settle) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns false when a slice that must be delivered is no longer held whole (a duplicate's
  // other definition became the winner): the caller reads every file again.
  bool Deliver(const FileObjects& merged) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces every delivered slice by its identity (per file and delivered).
  void ShrinkDeliveredSlices() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PollLoop();

  const ObjectFileSourceOptions options_;
  const bool is_directory_;
  proxier::ServiceHandler* const service_handler_;
  proxier::EndpointSliceHandler* const slice_handler_;
  proxier::NodeHandler* const node_handler_;

  absl::Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, FileObjects> files_ ABSL_GUARDED_BY(mu_);
  // What the handlers have been told.
  std::map<ObjectKey, std::shared_ptr<const proxier::Service>> delivered_services_ ABSL_GUARDED_BY(mu_);
  std::map<ObjectKey, SliceRecord> delivered_slices_ ABSL_GUARDED_BY(mu_);  // identities only
  std::shared_ptr<const proxier::Node> delivered_node_ ABSL_GUARDED_BY(mu_);

  std::atomic<size_t> rejected_objects_{0};
  std::atomic<size_t> loads_{0};

  absl::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
  bool started_ ABSL_GUARDED_BY(thread_mu_) = false;
  absl::Notification stop_;
};

}  // namespace kproxy::apiclient
