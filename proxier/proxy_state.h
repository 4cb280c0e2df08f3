// ProxyState: the change trackers and current maps of one IP family. Object sources feed it through
// the handler interfaces; the sync loop takes a snapshot from it for each sync.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "proxier/endpoints_change_tracker.h"
#include "proxier/handlers.h"
#include "proxier/proxy_snapshot.h"
#include "proxier/service_change_tracker.h"

namespace kproxy::proxier {


class ProxyState final : public ServiceHandler, public EndpointSliceHandler {
 public:
  // `on_change` is called (from the source's thread) after each change that left work pending;
  // the daemon uses it to kick the sync runner. `now` supplies the time of each change.
  ProxyState(IpFamily family, std::string node_name, std::function<absl::Time()> now,
             std::function<void()> on_change);

  void OnServiceAdd(const Service& service) override;
  void OnServiceUpdate(const Service& old_service, const Service& service) override;
  void OnServiceDelete(const Service& service) override;
  void OnServicesSynced() override;
  void OnEndpointSliceAdd(const EndpointSlice& slice) override;
  void OnEndpointSliceUpdate(const EndpointSlice& old_slice, const EndpointSlice& slice) override;
  void OnEndpointSliceDelete(const EndpointSlice& slice) override;
  void OnEndpointSlicesSynced() override;

  struct Taken {
    std::shared_ptr<const ProxySnapshot> snapshot;
    ChangedServices changed;               // union of Service and endpoint changes
    std::vector<absl::Time> change_times;  // for network-programming latency
  };
  // Applies pending changes and returns the resulting snapshot. Only the sync loop calls it.
  // O(changed) when the caller released the previous snapshot (the maps are then updated in place);
  // while somebody still holds it, the maps are copied first, so a snapshot never changes.
  Taken TakeSnapshot();

  bool HasPendingChanges() const;
  // Services / EndpointSlice-derived endpoint sets with changes not yet taken (metrics' _pending).
  size_t PendingServiceChanges() const { return service_changes_.PendingCount(); }
  size_t PendingEndpointChanges() const { return endpoint_changes_.PendingCount(); }
  // Both Services and EndpointSlices have been listed once.
  bool IsSynced() const;
  IpFamily family() const { return family_; }

 private:
  const IpFamily family_;
  std::function<absl::Time()> now_;
  std::function<void()> on_change_;
  ServiceChangeTracker service_changes_;
  EndpointsChangeTracker endpoint_changes_;
  // The current maps, shared with the last snapshot returned (copy-on-write). Touched only by
  // TakeSnapshot.
  std::shared_ptr<ProxySnapshot> current_;
  std::atomic<bool> services_synced_{false};
  std::atomic<bool> endpoints_synced_{false};
};

}  // namespace kproxy::proxier
