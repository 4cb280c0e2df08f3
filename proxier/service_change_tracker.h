// ServiceChangeTracker: pending Service changes of one IP family, kept as a previous/current pair per
// Service so that no-op updates cancel out; Apply() folds them into a ServicePortMap.
#pragma once

#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proxier/api_types.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier {

// Builds the ServicePorts of one family from a Service (empty for headless, ExternalName, Services
// without a cluster IP of that family, and those labelled service.kubernetes.io/service-proxy-name
// or service.kubernetes.io/headless).
ServicePortMap ServicePortsOf(const Service& service, IpFamily family);

class ServiceChangeTracker {
 public:
  explicit ServiceChangeTracker(IpFamily family) : family_(family) {}

  // Records a change: previous == nullptr for an add, current == nullptr for a delete.
  // Returns true when changes are pending afterwards. Thread-safe.
  bool Update(const Service* previous, const Service* current, absl::Time now);

  struct ApplyResult {
    ChangedServices changed;               // Services whose ServicePorts differ after the apply
    std::vector<absl::Time> change_times;  // when each applied change was first recorded
  };
  // Applies every pending change to `map` and clears them. Thread-safe.
  ApplyResult Apply(ServicePortMap& map);

  size_t PendingCount() const;

 private:
  struct Change {
    ServicePortMap previous;
    ServicePortMap current;
    absl::Time first_seen;
  };
  const IpFamily family_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<ServiceName, Change> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::proxier
