#include "apiclient/object_file_source.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "apiclient/object_decoder.h"
#include "apiclient/object_equality.h"
#include "logging/log.h"

namespace kproxy::apiclient {
namespace {

using proxier::EndpointSlice;
using proxier::Node;
using proxier::Service;

std::string ErrnoText(int err) { return std::strerror(err); }

// How long a modified file must stay unmodified before the poll thread reads it.
constexpr absl::Duration kSettleTime = absl::Milliseconds(200);

bool WantedFileName(absl::string_view name) {
  if (name.empty() || name[0] == '.') return false;  // hidden files, editor swap files, ..data
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml") ||
         absl::EndsWith(name, ".json");
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", ErrnoText(errno)));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(buf).str();
}

template <typename T>
ObjectFileSource::ObjectKey KeyOf(const T& obj) {
  return {obj.metadata.namespace_name, obj.metadata.name};
}

// Inserts `from`'s entries missing in `into` (used to keep last good versions).
template <typename Map>
void CarryOver(const Map& from, Map* into) {
  for (const auto& [key, value] : from) into->try_emplace(key, value);
}

template <typename T, typename Map, typename OnDup>
void MergeInto(const Map& from, Map* into, OnDup on_duplicate) {
  for (const auto& [key, value] : from) {
    auto [it, inserted] = into->insert_or_assign(key, value);
    if (!inserted) on_duplicate(key);
  }
}

// Objects read once are shared, not copied: the same pointer is the same object.
template <typename T>
bool Same(const std::shared_ptr<const T>& a, const std::shared_ptr<const T>& b) {
  return a == b || ObjectsEqual(*a, *b);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ObjectFileSource>> ObjectFileSource::Create(
    ObjectFileSourceOptions options, proxier::ServiceHandler* service_handler,
    proxier::EndpointSliceHandler* slice_handler, proxier::NodeHandler* node_handler) {
  if (options.path.empty()) return absl::InvalidArgumentError("--objects: path is empty");
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--objects: poll interval must be positive");
  }
  struct stat st;
  if (stat(options.path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("--objects ", options.path, ": ", ErrnoText(errno)));
  }
  bool is_directory = S_ISDIR(st.st_mode);
  if (!is_directory && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--objects ", options.path, ": neither a regular file nor a directory"));
  }
  return std::unique_ptr<ObjectFileSource>(new ObjectFileSource(
      std::move(options), is_directory, service_handler, slice_handler, node_handler));
}

ObjectFileSource::ObjectFileSource(ObjectFileSourceOptions options, bool is_directory,
                                   proxier::ServiceHandler* service_handler,
                                   proxier::EndpointSliceHandler* slice_handler,
                                   proxier::NodeHandler* node_handler)
    : options_(std::move(options)),
      is_directory_(is_directory),
      service_handler_(service_handler),
      slice_handler_(slice_handler),
      node_handler_(node_handler) {}

ObjectFileSource::~ObjectFileSource() { Stop(); }

absl::StatusOr<std::map<std::string, ObjectFileSource::FileSignature>> ObjectFileSource::ListFiles()
    const {
  std::map<std::string, FileSignature> files;
  auto add = [&](const std::string& path) -> absl::Status {
    struct stat st;
    // stat follows symlinks, so ConfigMap volumes (files linked through ..data) are seen changing.
    if (stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("--objects ", path, ": ", ErrnoText(errno)));
    }
    if (!S_ISREG(st.st_mode)) return absl::OkStatus();
    files[path] =
        FileSignature{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<int64_t>(st.st_size),
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    return absl::OkStatus();
  };
  if (!is_directory_) {
    absl::Status st = add(options_.path);
    if (!st.ok()) return st;
    return files;
  }
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(options_.path.c_str()), closedir);
  if (dir == nullptr) {
    return absl::NotFoundError(absl::StrCat("--objects ", options_.path, ": ", ErrnoText(errno)));
  }
  while (struct dirent* entry = readdir(dir.get())) {
    absl::string_view name(entry->d_name);
    if (!WantedFileName(name)) continue;
    std::string path =
        absl::StrCat(options_.path, absl::EndsWith(options_.path, "/") ? "" : "/", name);
    // A file removed between readdir and stat is simply gone.
    if (absl::Status st = add(path); !st.ok()) continue;
  }
  return files;
}

void ObjectFileSource::Reject(absl::string_view file, absl::string_view message) {
  KLOG_ERROR << "--objects " << file << ": " << message;
  rejected_objects_.fetch_add(1);
  if (options_.on_rejected) options_.on_rejected(file, message);
}

bool ObjectFileSource::ReadFile(const std::string& file, const FileSignature& signature,
                                const FileObjects* previous, FileObjects* next) {
  next->signature = signature;
  absl::Time mtime = absl::FromUnixNanos(signature.mtime_ns);
  next->recheck = absl::Now() - mtime < absl::Seconds(2);
  auto keep_previous = [&] {
    if (previous == nullptr) return;
    CarryOver(previous->services, &next->services);
    CarryOver(previous->endpoint_slices, &next->endpoint_slices);
    CarryOver(previous->nodes, &next->nodes);
  };
  absl::StatusOr<std::string> content = ReadWholeFile(file);
  if (!content.ok()) {
    Reject(file, absl::StrCat(content.status().message(), " (keeping its previous objects)"));
    keep_previous();
    return true;
  }
  next->content_hash = std::hash<std::string>{}(*content);
  if (previous != nullptr && previous->content_hash == next->content_hash) return false;
  DecodedObjects decoded;
  if (absl::EndsWith(file, ".json")) {
    absl::StatusOr<DecodedObjects> json = DecodeJsonDocument(*content);
    if (!json.ok()) {
      Reject(file, absl::StrCat(json.status().message(), " (keeping its previous objects)"));
      keep_previous();
      return true;
    }
    decoded = std::move(*json);
  } else {
    decoded = DecodeYamlDocuments(*content);
  }
  for (Service& s : decoded.services) {
    ObjectKey key = KeyOf(s);
    next->services.insert_or_assign(std::move(key), std::make_shared<const Service>(std::move(s)));
  }
  for (EndpointSlice& s : decoded.endpoint_slices) {
    ObjectKey key = KeyOf(s);
    SliceRecord record;
    record.fingerprint = ContentFingerprint(s);
    record.slice = std::make_shared<const EndpointSlice>(std::move(s));
    next->endpoint_slices.insert_or_assign(std::move(key), std::move(record));
  }
  for (Node& n : decoded.nodes) {
    ObjectKey key = KeyOf(n);
    next->nodes.insert_or_assign(std::move(key), std::make_shared<const Node>(std::move(n)));
  }
  for (const std::string& error : decoded.errors) Reject(file, error);
  if (previous == nullptr) return true;
  if (decoded.document_errors > 0) {
    // Which objects the broken document held is unknown: keep every previous one not seen now.
    keep_previous();
    return true;
  }
  // A malformed object keeps its last good version instead of being deleted.
  for (const RejectedObject& r : decoded.rejected) {
    if (r.name.empty()) continue;
    ObjectKey key{r.namespace_name, r.name};
    if (r.kind == "Service") {
      if (auto it = previous->services.find(key); it != previous->services.end())
        next->services.try_emplace(key, it->second);
    } else if (r.kind == "EndpointSlice") {
      if (auto it = previous->endpoint_slices.find(key); it != previous->endpoint_slices.end()) {
        next->endpoint_slices.try_emplace(key, it->second);
      }
    } else if (r.kind == "Node") {
      if (auto it = previous->nodes.find(key); it != previous->nodes.end())
        next->nodes.try_emplace(key, it->second);
    }
  }
  return true;
}

absl::Status ObjectFileSource::LoadOnce() {
  absl::MutexLock lock(&mu_);
  return LoadLocked(/*settle=*/false);
}

absl::Status ObjectFileSource::LoadLocked(bool settle) {
  absl::StatusOr<std::map<std::string, FileSignature>> listing = ListFiles();
  if (!listing.ok()) return listing.status();

  bool changed = !loaded_;
  for (const auto& [file, objects] : files_) {
    if (!listing->contains(file)) changed = true;  // removed: its objects go
  }
  std::map<std::string, FileObjects> next;
  const absl::Time now = absl::Now();
  for (const auto& [file, signature] : *listing) {
    auto prev = files_.find(file);
    if (prev != files_.end() && prev->second.signature == signature && !prev->second.recheck) {
      next.emplace(file, std::move(prev->second));
      continue;
    }
    if (settle && now - absl::FromUnixNanos(signature.mtime_ns) < kSettleTime) {
      // Editors truncate and then write: a file written this instant may be empty or half
      // there. Keep what it held (and its old signature, so the next poll looks again).
      if (prev != files_.end()) next.emplace(file, std::move(prev->second));
      continue;
    }
    FileObjects objects;
    if (!ReadFile(file, signature, prev == files_.end() ? nullptr : &prev->second, &objects)) {
      // Same bytes as before: keep the decoded objects, remember the new signature.
      prev->second.signature = objects.signature;
      prev->second.recheck = objects.recheck;
      next.emplace(file, std::move(prev->second));
      continue;
    }
    changed = true;
    next.emplace(file, std::move(objects));
  }
  if (!changed) {
    // Same files, same signatures: put the moved states back untouched.
    files_ = std::move(next);
    return absl::OkStatus();
  }
  files_ = std::move(next);

  // Files are merged in name order; a later file's object replaces an earlier one of the same key.
  FileObjects merged;
  for (const auto& [file, objects] : files_) {
    auto warn = [&file = file](absl::string_view kind) {
      return [&file, kind](const ObjectKey& key) {
        KLOG_WARNING << "--objects " << file << ": " << kind << " " << key.first
                     << (key.first.empty() ? "" : "/") << key.second
                     << " is defined more than once; this file's version wins";
      };
    };
    MergeInto<Service>(objects.services, &merged.services, warn("Service"));
    MergeInto<SliceRecord>(objects.endpoint_slices, &merged.endpoint_slices,
                             warn("EndpointSlice"));
    MergeInto<Node>(objects.nodes, &merged.nodes, warn("Node"));
  }
  if (!Deliver(merged)) {
    // Rare (a duplicate definition's winner changed): read everything again, whole.
    KLOG_INFO << "--objects " << options_.path << ": reading every file again";
    files_.clear();
    return LoadLocked(/*settle=*/false);
  }
  ShrinkDeliveredSlices();
  loads_.fetch_add(1);
  if (!loaded_) {
    loaded_ = true;
    if (node_handler_ != nullptr) node_handler_->OnNodeSynced();
    if (service_handler_ != nullptr) service_handler_->OnServicesSynced();
    if (slice_handler_ != nullptr) slice_handler_->OnEndpointSlicesSynced();
    KLOG_INFO << "--objects " << options_.path << ": loaded " << merged.services.size()
              << " Services, " << merged.endpoint_slices.size() << " EndpointSlices, "
              << merged.nodes.size() << " Nodes";
  }
  return absl::OkStatus();
}

void ObjectFileSource::ShrinkDeliveredSlices() {
  auto shrink = [](SliceRecord& record) {
    if (!record.whole) return;
    record.slice = std::make_shared<const EndpointSlice>(IdentityOnly(*record.slice));
    record.whole = false;
  };
  for (auto& [key, record] : delivered_slices_) shrink(record);
  // Files share the delivered objects: shrink each once, then point the files at the result.
  for (auto& [file, objects] : files_) {
    for (auto& [key, record] : objects.endpoint_slices) {
      if (!record.whole) continue;
      auto it = delivered_slices_.find(key);
      if (it != delivered_slices_.end() && it->second.fingerprint == record.fingerprint) {
        record = it->second;
      } else {
        shrink(record);  // a duplicate that lost the merge
      }
    }
  }
}

bool ObjectFileSource::Deliver(const FileObjects& merged) {
  // A slice to add or update must be held whole; only slices of files read this time are. Checked
  // before anything is delivered.
  if (slice_handler_ != nullptr) {
    for (const auto& [key, record] : merged.endpoint_slices) {
      auto it = delivered_slices_.find(key);
      const bool changed = it == delivered_slices_.end() || it->second.fingerprint != record.fingerprint;
      if (changed && !record.whole) return false;
    }
  }
  // The Node first: its zone and addresses shape how the following Services are programmed.
  if (node_handler_ != nullptr) {
    std::shared_ptr<const Node> node;
    if (!options_.node_name.empty()) {
      if (auto it = merged.nodes.find(ObjectKey{"", options_.node_name}); it != merged.nodes.end())
        node = it->second;
    }
    if (node && !delivered_node_) {
      node_handler_->OnNodeAdd(*node);
    } else if (!node && delivered_node_) {
      node_handler_->OnNodeDelete(*delivered_node_);
    } else if (node && delivered_node_ && !Same(node, delivered_node_)) {
      node_handler_->OnNodeUpdate(*delivered_node_, *node);
    }
    delivered_node_ = std::move(node);
  }

  if (service_handler_ != nullptr) {
    for (auto it = delivered_services_.begin(); it != delivered_services_.end();) {
      if (merged.services.contains(it->first)) {
        ++it;
        continue;
      }
      service_handler_->OnServiceDelete(*it->second);
      it = delivered_services_.erase(it);
    }
    for (const auto& [key, service] : merged.services) {
      auto it = delivered_services_.find(key);
      if (it == delivered_services_.end()) {
        service_handler_->OnServiceAdd(*service);
        delivered_services_.emplace(key, service);
      } else if (!Same(it->second, service)) {
        service_handler_->OnServiceUpdate(*it->second, *service);
        it->second = service;
      }
    }
  }

  if (slice_handler_ != nullptr) {
    for (auto it = delivered_slices_.begin(); it != delivered_slices_.end();) {
      if (merged.endpoint_slices.contains(it->first)) {
        ++it;
        continue;
      }
      slice_handler_->OnEndpointSliceDelete(*it->second.slice);
      it = delivered_slices_.erase(it);
    }
    for (const auto& [key, record] : merged.endpoint_slices) {
      auto it = delivered_slices_.find(key);
      if (it == delivered_slices_.end()) {
        slice_handler_->OnEndpointSliceAdd(*record.slice);
        delivered_slices_.emplace(key, record);
      } else if (it->second.fingerprint != record.fingerprint) {
        slice_handler_->OnEndpointSliceUpdate(*it->second.slice, *record.slice);
        it->second = record;
      }
    }
  }
  return true;
}

absl::Status ObjectFileSource::Run() {
  {
    absl::MutexLock lock(&thread_mu_);
    if (started_) return absl::FailedPreconditionError("--objects source: Run() called twice");
    if (stop_.HasBeenNotified())
      return absl::FailedPreconditionError("--objects source: already stopped");
  }
  {
    absl::MutexLock lock(&mu_);
    if (!loaded_) {
      absl::Status st = LoadLocked(/*settle=*/false);
      if (!st.ok()) return st;
    }
  }
  absl::MutexLock lock(&thread_mu_);
  started_ = true;
  thread_ = std::thread([this] { PollLoop(); });
  return absl::OkStatus();
}

void ObjectFileSource::PollLoop() {
  std::string last_error;
  while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
    absl::Status st;
    {
      absl::MutexLock lock(&mu_);
      st = LoadLocked(/*settle=*/true);
    }
    // Logged once per distinct error, not once per poll, while e.g. the directory is missing.
    if (!st.ok() && std::string(st.message()) != last_error) {
      KLOG_WARNING << "--objects: " << st.message() << " (keeping the objects loaded before)";
    }
    last_error = st.ok() ? std::string() : std::string(st.message());
  }
}

void ObjectFileSource::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&thread_mu_);
    if (!stop_.HasBeenNotified()) stop_.Notify();
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

}  // namespace kproxy::apiclient
