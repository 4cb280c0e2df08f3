// RecordingHandlers: Service/EndpointSlice/Node handlers (and a ReflectorSink) that record every
// call as a line ("add default/web@12", "update default/web@12->15", "delete default/web",
// "synced") and keep the resulting state, for tests to assert order and convergence.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "apiclient/reflector.h"
#include "proxier/handlers.h"

namespace kproxy::apiclient::testing {

class CallLog {
 public:
  void Add(std::string line, const std::string& key, const std::string& rv, bool erase) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(std::move(line));
    if (erase) {
      state_.erase(key);
    } else if (!key.empty()) {
      state_[key] = rv;
    }
  }
  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // key -> resourceVersion of what the handler holds now.
  std::map<std::string, std::string> state() const {
    absl::MutexLock lock(&mu_);
    return state_;
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    calls_.clear();
  }
  // Waits until `predicate(state)` holds.
  template <typename P>
  bool WaitFor(P predicate, absl::Duration timeout = absl::Seconds(20)) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (predicate(state(), calls())) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return predicate(state(), calls());
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> state_ ABSL_GUARDED_BY(mu_);
};

inline std::string KeyOf(const proxier::ObjectMeta& m) {
  return m.namespace_name.empty() ? m.name : absl::StrCat(m.namespace_name, "/", m.name);
}

class RecordingSink final : public ReflectorSink {
 public:
  void OnAdd(const DecodedObject& o) override {
    log.Add(absl::StrCat("add ", ObjectKey(o), "@", ObjectResourceVersion(o)), ObjectKey(o),
            ObjectResourceVersion(o), false);
  }
  void OnUpdate(const DecodedObject& old_o, const DecodedObject& o) override {
    log.Add(absl::StrCat("update ", ObjectKey(o), "@", ObjectResourceVersion(old_o), "->",
                         ObjectResourceVersion(o)),
            ObjectKey(o), ObjectResourceVersion(o), false);
  }
  void OnDelete(const DecodedObject& o) override {
    log.Add(absl::StrCat("delete ", ObjectKey(o)), ObjectKey(o), "", true);
  }
  void OnSynced() override { log.Add("synced", "", "", false); }
  CallLog log;
};

class RecordingHandlers final : public proxier::ServiceHandler,
                                public proxier::EndpointSliceHandler,
                                public proxier::NodeHandler {
 public:
  void OnServiceAdd(const proxier::Service& s) override { Added(services, s.metadata); }
  void OnServiceUpdate(const proxier::Service& o, const proxier::Service& s) override {
    Updated(services, o.metadata, s.metadata);
  }
  void OnServiceDelete(const proxier::Service& s) override { Deleted(services, s.metadata); }
  void OnServicesSynced() override { services.Add("synced", "", "", false); }
  void OnEndpointSliceAdd(const proxier::EndpointSlice& s) override { Added(slices, s.metadata); }
  void OnEndpointSliceUpdate(const proxier::EndpointSlice& o, const proxier::EndpointSlice& s) override {
    Updated(slices, o.metadata, s.metadata);
  }
  void OnEndpointSliceDelete(const proxier::EndpointSlice& s) override { Deleted(slices, s.metadata); }
  void OnEndpointSlicesSynced() override { slices.Add("synced", "", "", false); }
  void OnNodeAdd(const proxier::Node& n) override { Added(nodes, n.metadata); }
  void OnNodeUpdate(const proxier::Node& o, const proxier::Node& n) override {
    Updated(nodes, o.metadata, n.metadata);
  }
  void OnNodeDelete(const proxier::Node& n) override { Deleted(nodes, n.metadata); }
  void OnNodeSynced() override { nodes.Add("synced", "", "", false); }

  CallLog services;
  CallLog slices;
  CallLog nodes;

 private:
  static void Added(CallLog& log, const proxier::ObjectMeta& m) {
    log.Add(absl::StrCat("add ", KeyOf(m), "@", m.resource_version), KeyOf(m), m.resource_version, false);
  }
  static void Updated(CallLog& log, const proxier::ObjectMeta& o, const proxier::ObjectMeta& m) {
    log.Add(absl::StrCat("update ", KeyOf(m), "@", o.resource_version, "->", m.resource_version), KeyOf(m),
            m.resource_version, false);
  }
  static void Deleted(CallLog& log, const proxier::ObjectMeta& m) {
    log.Add(absl::StrCat("delete ", KeyOf(m)), KeyOf(m), "", true);
  }
};

}  // namespace kproxy::apiclient::testing
