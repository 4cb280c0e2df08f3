#include "apiclient/reflector.h"

#include <random>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "apiclient/object_equality.h"
#include "logging/log.h"

namespace kproxy::apiclient {
namespace {

std::string UrlEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

const proxier::ObjectMeta& Meta(const DecodedObject& object) {
  return std::visit([](const auto& o) -> const proxier::ObjectMeta& { return o.metadata; },
                    object.object);
}

const char* KindOf(const DecodedObject& object) {
  switch (object.object.index()) {
    case 0: return "Service";
    case 1: return "EndpointSlice";
    default: return "Node";
  }
}

// The objects of `kind` from a decoded list, moved out.
std::vector<DecodedObject> TakeObjects(DecodedObjects& decoded, absl::string_view kind) {
  std::vector<DecodedObject> out;
  auto take = [&out](auto& objects) {
    out.reserve(objects.size());
    for (auto& o : objects) out.push_back(DecodedObject{std::move(o)});
    objects.clear();
  };
  if (kind == "Service") take(decoded.services);
  if (kind == "EndpointSlice") take(decoded.endpoint_slices);
  if (kind == "Node") take(decoded.nodes);
  return out;
}

// The message of a Status object body, for logs; the raw body when it is not one.
std::string StatusMessage(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) == simdjson::SUCCESS) {
    std::string_view message;
    if (doc["message"].get(message) == simdjson::SUCCESS) return std::string(message);
  }
  return body.substr(0, 200);
}

}  // namespace

std::string ObjectKey(const DecodedObject& object) {
  const proxier::ObjectMeta& meta = Meta(object);
  if (meta.namespace_name.empty()) return meta.name;
  return absl::StrCat(meta.namespace_name, "/", meta.name);
}

const std::string& ObjectResourceVersion(const DecodedObject& object) {
  return Meta(object).resource_version;
}

Reflector::Reflector(ApiTransport* transport, ResourceSpec spec, ReflectorSink* sink,
                     ReflectorOptions options)
    : transport_(transport), spec_(std::move(spec)), sink_(sink), options_(std::move(options)) {}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

bool Reflector::HasSynced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool Reflector::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&synced_), timeout);
}

ReflectorStats Reflector::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::string Reflector::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

void Reflector::SetResourceVersion(std::string rv) {
  if (rv.empty()) return;
  absl::MutexLock lock(&mu_);
  resource_version_ = std::move(rv);
}

std::string Reflector::Query(bool watch) const {
  std::string q;
  auto add = [&q](absl::string_view key, absl::string_view value) {
    absl::StrAppend(&q, q.empty() ? "?" : "&", key, "=", UrlEscape(value));
  };
  if (!spec_.label_selector.empty()) add("labelSelector", spec_.label_selector);
  if (!spec_.field_selector.empty()) add("fieldSelector", spec_.field_selector);
  if (watch) {
    add("watch", "true");
    add("allowWatchBookmarks", "true");
  }
  return q;
}

void Reflector::CountDecodeErrors(const DecodedObjects& decoded) {
  for (const std::string& error : decoded.errors) {
    KLOG_WARNING << spec_.kind << " list: skipping object: " << error;
  }
  if (!decoded.rejected.empty()) {
    absl::MutexLock lock(&mu_);
    stats_.decode_errors += decoded.rejected.size();
  }
}

void Reflector::Run() {
  Backoff backoff(options_.backoff);
  bool need_list = true;
  while (!cancel_.cancelled()) {
    Result result;
    const char* phase = need_list ? "list" : "watch";
    if (need_list) {
      result = ListAndReplace();
      if (result.outcome == Outcome::kOk) {
        need_list = false;
        continue;
      }
    } else {
      result = WatchOnce();
    }
    absl::Duration delay = absl::ZeroDuration();
    switch (result.outcome) {
      case Outcome::kCancelled:
        return;
      case Outcome::kOk:
      case Outcome::kEnded:
        backoff.Reset();
        break;
      case Outcome::kGone:
        need_list = true;
        // A watch that expired right after its list means a server that compacts faster than we
        // list; back off rather than spin.
        if (result.healthy) {
          backoff.Reset();
        } else {
          delay = backoff.Next();
        }
        break;
      case Outcome::kError:
        if (result.healthy) backoff.Reset();
        delay = std::max(backoff.Next(), result.retry_after);
        KLOG_V(2) << spec_.kind << " " << phase << ": retrying in " << delay;
        break;
    }
    if (delay > absl::ZeroDuration() && !cancel_.SleepFor(delay)) return;
  }
}

Reflector::Result Reflector::ListAndReplace() {
  absl::flat_hash_map<std::string, DecodedObject> fresh;
  absl::flat_hash_set<std::string> rejected;
  std::vector<std::string> order;  // list order, so adds are delivered deterministically
  std::string continue_token;
  std::string list_rv;
  int restarts = 0;
  while (true) {
    std::string path = absl::StrCat(spec_.path, Query(false), Query(false).empty() ? "?" : "&",
                                    "limit=", options_.page_size);
    if (!continue_token.empty()) absl::StrAppend(&path, "&continue=", UrlEscape(continue_token));
    absl::StatusOr<HttpResponse> response = transport_->Get(path, &cancel_, options_.list_timeout);
    if (!response.ok()) {
      if (absl::IsCancelled(response.status())) return {Outcome::kCancelled};
      KLOG_WARNING << spec_.kind << " list failed: " << response.status().message();
      return {Outcome::kError};
    }
    if (response->status == 410 && !continue_token.empty() && restarts++ < 3) {
      // The continue token expired between pages: the snapshot is gone, start over.
      KLOG_INFO << spec_.kind << " list: continue token expired, listing again from the start";
      fresh.clear();
      rejected.clear();
      order.clear();
      continue_token.clear();
      continue;
    }
    if (response->status != 200) {
      KLOG_WARNING << spec_.kind << " list " << spec_.path << ": HTTP " << response->status << ": "
                   << StatusMessage(response->body);
      return {Outcome::kError, response->retry_after};
    }
    absl::StatusOr<DecodedObjects> decoded = DecodeJsonDocument(response->body);
    if (!decoded.ok()) {
      KLOG_WARNING << spec_.kind << " list " << spec_.path << ": " << decoded.status().message();
      return {Outcome::kError};
    }
    CountDecodeErrors(*decoded);
    for (const RejectedObject& r : decoded->rejected) {
      rejected.insert(r.namespace_name.empty() ? r.name : absl::StrCat(r.namespace_name, "/", r.name));
    }
    for (DecodedObject& object : TakeObjects(*decoded, spec_.kind)) {
      std::string key = ObjectKey(object);
      if (fresh.insert_or_assign(key, std::move(object)).second) order.push_back(std::move(key));
    }
    list_rv = decoded->resource_version;
    continue_token = decoded->continue_token;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.list_pages;
    }
    if (continue_token.empty()) break;
  }

  // Deliver only what differs from what the handler already has: after a relist most objects
  // are unchanged, and delete+add churn would make the proxier rewrite their rules.
  for (const std::string& key : order) {
    const DecodedObject& object = fresh.at(key);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      sink_->OnAdd(object);
    } else if (ObjectResourceVersion(it->second) != ObjectResourceVersion(object)) {
      sink_->OnUpdate(it->second, object);
    }
  }
  for (auto& [key, object] : cache_) {
    if (fresh.contains(key)) continue;
    if (rejected.contains(key)) {
      // It still exists but its new version did not decode: keep the last good one.
      fresh.emplace(key, std::move(object));
      continue;
    }
    sink_->OnDelete(object);
  }
  for (auto& [key, object] : fresh) KeepIdentityOnly(object);
  cache_ = std::move(fresh);
  SetResourceVersion(list_rv);
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    ++stats_.lists;
    stats_.cached_objects = cache_.size();
    first = !synced_;
  }
  KLOG_V(2) << spec_.kind << " list: " << cache_.size() << " objects at resourceVersion " << list_rv;
  if (first) {
    sink_->OnSynced();
    absl::MutexLock lock(&mu_);
    synced_ = true;
  }
  return {Outcome::kOk};
}

// The cache compares resourceVersions and hands the previous version to OnUpdate/OnDelete, whose
// handlers use only its identity for EndpointSlices: their endpoints (most of a large cluster's
// objects) are not kept.
void Reflector::KeepIdentityOnly(DecodedObject& object) {
  if (auto* slice = std::get_if<proxier::EndpointSlice>(&object.object)) *slice = IdentityOnly(*slice);
}

void Reflector::ApplyEvent(const std::string& type, const DecodedObject& object) {
  std::string key = ObjectKey(object);
  auto it = cache_.find(key);
  if (type == "DELETED") {
    if (it == cache_.end()) return;
    sink_->OnDelete(object);
    cache_.erase(it);
  } else if (it == cache_.end()) {
    // ADDED, or a MODIFIED for an object we never saw (it may have been rejected before).
    sink_->OnAdd(object);
    KeepIdentityOnly(cache_.emplace(std::move(key), object).first->second);
  } else {
    if (ObjectResourceVersion(it->second) == ObjectResourceVersion(object)) return;
    sink_->OnUpdate(it->second, object);
    it->second = object;
    KeepIdentityOnly(it->second);
  }
}

Reflector::Result Reflector::WatchOnce() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t min_s = absl::ToInt64Seconds(options_.min_watch_timeout);
  const int64_t max_s = std::max(min_s, absl::ToInt64Seconds(options_.max_watch_timeout));
  const int64_t timeout_s = std::uniform_int_distribution<int64_t>(min_s, max_s)(rng);
  const std::string start_rv = resource_version();
  const std::string path =
      absl::StrCat(spec_.path, Query(true), "&resourceVersion=", UrlEscape(start_rv),
                   "&timeoutSeconds=", timeout_s);
  {
    absl::MutexLock lock(&mu_);
    ++stats_.watches;
  }
  KLOG_V(3) << spec_.kind << " watch from resourceVersion " << start_rv;

  simdjson::dom::parser parser;
  bool gone = false;
  bool bad_line = false;
  std::string error_event;
  uint64_t events = 0;
  const absl::Time started = absl::Now();
  auto on_line = [&](absl::string_view line) -> bool {
    if (absl::StripAsciiWhitespace(line).empty()) return true;
    absl::StatusOr<WatchEvent> event = DecodeWatchEventLine(parser, line);
    if (!event.ok()) {
      KLOG_WARNING << spec_.kind << " watch: event does not parse (" << event.status().message()
                   << "); resuming from resourceVersion " << resource_version();
      bad_line = true;
      return false;
    }
    if (event->type == "ERROR") {
      if (event->error_code == 410) {
        gone = true;
      } else {
        error_event = absl::StrCat(event->error_code, " ", event->error_reason, ": ", event->error.message());
      }
      return false;
    }
    if (event->type == "BOOKMARK") {
      SetResourceVersion(event->resource_version);
      return true;
    }
    if (!event->object.has_value()) {
      KLOG_WARNING << spec_.kind << " watch " << event->type << ": skipping object: " << event->error.message();
      absl::MutexLock lock(&mu_);
      ++stats_.decode_errors;
      if (!event->resource_version.empty()) resource_version_ = event->resource_version;
      return true;
    }
    if (KindOf(*event->object) != spec_.kind) {
      KLOG_WARNING << spec_.kind << " watch: ignoring a " << KindOf(*event->object) << " event";
      return true;
    }
    if (event->type != "ADDED" && event->type != "MODIFIED" && event->type != "DELETED") {
      KLOG_WARNING << spec_.kind << " watch: ignoring event type " << event->type;
      return true;
    }
    ApplyEvent(event->type, *event->object);
    ++events;
    SetResourceVersion(event->resource_version.empty() ? ObjectResourceVersion(*event->object)
                                                       : event->resource_version);
    absl::MutexLock lock(&mu_);
    ++stats_.events;
    stats_.cached_objects = cache_.size();
    return true;
  };
  absl::StatusOr<HttpResponse> response =
      transport_->Stream(path, on_line, &cancel_, options_.watch_idle_timeout);
  Result result;
  result.healthy = events > 0 || absl::Now() - started >= options_.healthy_stream;
  auto count_error = [this] {
    absl::MutexLock lock(&mu_);
    ++stats_.stream_errors;
  };
  if (gone || (response.ok() && response->status == 410)) {
    KLOG_INFO << spec_.kind << " watch: resourceVersion " << resource_version()
              << " is too old (410 Gone); listing again";
    absl::MutexLock lock(&mu_);
    ++stats_.relists_gone;
    result.outcome = Outcome::kGone;
    return result;
  }
  if (!response.ok()) {
    if (absl::IsCancelled(response.status())) return {Outcome::kCancelled};
    count_error();
    if (!bad_line && error_event.empty()) {
      KLOG_WARNING << spec_.kind << " watch ended: " << response.status().message();
    } else if (!error_event.empty()) {
      KLOG_WARNING << spec_.kind << " watch: ERROR event " << error_event;
    }
    result.outcome = Outcome::kError;
    return result;
  }
  if (response->status != 200) {
    count_error();
    KLOG_WARNING << spec_.kind << " watch " << spec_.path << ": HTTP " << response->status << ": "
                 << StatusMessage(response->body);
    result.outcome = Outcome::kError;
    result.retry_after = response->retry_after;
    return result;
  }
  KLOG_V(3) << spec_.kind << " watch ended by the server after " << events << " events";
  result.outcome = Outcome::kEnded;
  return result;
}

}  // namespace kproxy::apiclient
