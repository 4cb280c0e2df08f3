#include "proxier/proxy_state.h"

#include <algorithm>
#include <utility>

namespace kproxy::proxier {

ProxyState::ProxyState(IpFamily family, std::string node_name, std::function<absl::Time()> now,
                       std::function<void()> on_change)
    : family_(family),
      now_(std::move(now)),
      on_change_(std::move(on_change)),
      service_changes_(family),
      endpoint_changes_(std::move(node_name), family) {}

void ProxyState::OnServiceAdd(const Service& service) {
  if (service_changes_.Update(nullptr, &service, now_()) && on_change_) on_change_();
}

void ProxyState::OnServiceUpdate(const Service& old_service, const Service& service) {
  if (service_changes_.Update(&old_service, &service, now_()) && on_change_) on_change_();
}

void ProxyState::OnServiceDelete(const Service& service) {
  if (service_changes_.Update(&service, nullptr, now_()) && on_change_) on_change_();
}

void ProxyState::OnServicesSynced() {
  services_synced_ = true;
  // The first sync waits for both lists; kick it once they are complete.
  if (IsSynced() && on_change_) on_change_();
}

void ProxyState::OnEndpointSliceAdd(const EndpointSlice& slice) {
  if (endpoint_changes_.Update(slice, /*removed=*/false, now_()) && on_change_) on_change_();
}

void ProxyState::OnEndpointSliceUpdate(const EndpointSlice& old_slice, const EndpointSlice& slice) {
  const absl::Time now = now_();
  // The tracker keys slices by Service; a slice relabelled to another Service leaves the old one.
  if (old_slice.service_name != slice.service_name ||
      old_slice.metadata.namespace_name != slice.metadata.namespace_name ||
      old_slice.metadata.name != slice.metadata.name) {
    endpoint_changes_.Update(old_slice, /*removed=*/true, now);
  }
  if (endpoint_changes_.Update(slice, /*removed=*/false, now) && on_change_) on_change_();
}

void ProxyState::OnEndpointSliceDelete(const EndpointSlice& slice) {
  if (endpoint_changes_.Update(slice, /*removed=*/true, now_()) && on_change_) on_change_();
}

void ProxyState::OnEndpointSlicesSynced() {
  endpoints_synced_ = true;
  if (IsSynced() && on_change_) on_change_();
}

ProxyState::Taken ProxyState::TakeSnapshot() {
  Taken taken;
  if (current_ == nullptr) {
    current_ = std::make_shared<ProxySnapshot>();
    current_->family = family_;
  } else if (!HasPendingChanges()) {
    // Nothing to apply (a change arriving from now on waits for the next snapshot).
    taken.snapshot = current_;
    return taken;
  } else if (current_.use_count() > 1) {
    // Somebody still reads the last snapshot: it must not change under them. Only this thread
    // creates references to current_, so use_count() == 1 cannot race upwards.
    current_ = std::make_shared<ProxySnapshot>(*current_);  // copies shared_ptrs, not ServicePorts
  }
  ServiceChangeTracker::ApplyResult services = service_changes_.Apply(current_->services);
  EndpointsChangeTracker::ApplyResult endpoints = endpoint_changes_.Apply(current_->endpoints);
  taken.snapshot = current_;

  taken.changed = std::move(services.changed);
  taken.changed.insert(endpoints.changed.begin(), endpoints.changed.end());
  taken.change_times = std::move(services.change_times);
  taken.change_times.insert(taken.change_times.end(), endpoints.change_times.begin(),
                            endpoints.change_times.end());
  std::sort(taken.change_times.begin(), taken.change_times.end());
  return taken;
}

bool ProxyState::HasPendingChanges() const {
  return service_changes_.PendingCount() > 0 || endpoint_changes_.PendingCount() > 0;
}

bool ProxyState::IsSynced() const { return services_synced_ && endpoints_synced_; }

}  // namespace kproxy::proxier
