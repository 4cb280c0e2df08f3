#include "proxier/endpoints_change_tracker.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace kproxy::proxier {
namespace {

bool FamilyMatches(AddressType type, IpFamily family) {
  return (type == AddressType::kIPv4 && family == IpFamily::kIPv4) ||
         (type == AddressType::kIPv6 && family == IpFamily::kIPv6);
}

std::vector<std::string> SortedUnique(const std::optional<std::vector<std::string>>& in) {
  if (!in.has_value()) return {};
  std::vector<std::string> out = *in;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool SameEndpoints(const EndpointList& a, const EndpointList& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == nullptr || b[i] == nullptr || !(*a[i] == *b[i])) return false;
  }
  return true;
}

ServicePortName FirstKeyOf(const ServiceName& service) {
  return ServicePortName{service, "", Protocol::kTCP};
}

}  // namespace

EndpointsChangeTracker::ConvertedSlice EndpointsChangeTracker::Convert(const EndpointSlice& slice) const {
  ConvertedSlice converted;
  for (const EndpointSlicePort& port : slice.ports) {
    // A nil port means "all ports", which a proxy cannot program (upstream skips it too).
    if (!port.port.has_value() || *port.port == 0) continue;
    PortEndpoints& out = converted.emplace_back();
    out.port_name = port.name.value_or("");
    out.protocol = port.protocol.value_or(Protocol::kTCP);
    out.endpoints.reserve(slice.endpoints.size());
    for (const EndpointSliceEndpoint& ep : slice.endpoints) {
      if (ep.addresses.empty() || ep.addresses[0].family() != family_) continue;
      auto endpoint = std::make_shared<Endpoint>();
      endpoint->ip = ep.addresses[0];
      endpoint->port = *port.port;
      endpoint->node_name = ep.node_name.value_or("");
      endpoint->is_local = !node_name_.empty() && endpoint->node_name == node_name_;
      endpoint->ready = ep.conditions.ready.value_or(true);
      endpoint->serving = ep.conditions.serving.value_or(endpoint->ready);
      endpoint->terminating = ep.conditions.terminating.value_or(false);
      endpoint->zone = ep.zone.value_or("");
      endpoint->SetHints(SortedUnique(ep.hints_for_zones), SortedUnique(ep.hints_for_nodes));
      out.endpoints.push_back(std::move(endpoint));
    }
  }
  return converted;
}

namespace {

// What the proxy uses of a slice; metadata churn (resourceVersion, labels) is not a change.
// (A template: PortEndpoints is private to the tracker.)
template <typename ConvertedSlice>
bool SameConverted(const ConvertedSlice& a, const ConvertedSlice& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].port_name != b[i].port_name || a[i].protocol != b[i].protocol ||
        !SameEndpoints(a[i].endpoints, b[i].endpoints)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool EndpointsChangeTracker::Update(const EndpointSlice& slice, bool removed, absl::Time now) {
  const bool ignored = slice.address_type == AddressType::kFQDN ||
                       !FamilyMatches(slice.address_type, family_) || slice.service_name.empty() ||
                       slice.metadata.name.empty();
  // Converted outside the lock: this is the expensive part.
  ConvertedSlice converted;
  if (!ignored && !removed) converted = Convert(slice);
  absl::MutexLock lock(&mu_);
  if (ignored) return !pending_.empty();
  const ServiceName service{slice.metadata.namespace_name, slice.service_name};
  const std::string& slice_name = slice.metadata.name;
  if (removed) {
    auto it = slices_.find(service);
    if (it == slices_.end() || it->second.erase(slice_name) == 0) return !pending_.empty();
    if (it->second.empty()) slices_.erase(it);
  } else {
    SliceSet& set = slices_[service];
    auto it = set.find(slice_name);
    if (it != set.end() && SameConverted(it->second, converted)) return !pending_.empty();
    set.insert_or_assign(slice_name, std::move(converted));
  }
  pending_.try_emplace(service, now);
  return true;
}

EndpointsChangeTracker::ApplyResult EndpointsChangeTracker::Apply(EndpointsMap& map) {
  absl::MutexLock lock(&mu_);
  ApplyResult result;
  for (const auto& [service, first_seen] : pending_) {
    // Merge every slice of the Service, in slice-name order, into sorted, deduplicated lists.
    absl::btree_map<ServicePortName, absl::btree_map<std::string, std::shared_ptr<const Endpoint>>> merged;
    if (auto sit = slices_.find(service); sit != slices_.end()) {
      for (const auto& [slice_name, slice] : sit->second) {
        for (const PortEndpoints& port : slice) {
          auto& set = merged[ServicePortName{service, port.port_name, port.protocol}];
          for (const std::shared_ptr<const Endpoint>& endpoint : port.endpoints) {
            auto [it, inserted] = set.try_emplace(endpoint->IpPort(), endpoint);
            // The same address in two slices: an endpoint moving between slices, or a pod IP
            // reused before the terminating pod is gone. Prefer the non-terminating one; otherwise
            // the first slice by name wins, so the result does not depend on arrival order.
            if (!inserted && it->second->terminating && !endpoint->terminating) it->second = endpoint;
          }
        }
      }
      if (sit->second.empty()) slices_.erase(sit);
    }

    EndpointsMap current;
    for (auto& [name, set] : merged) {
      if (set.empty()) continue;
      EndpointList list;
      list.reserve(set.size());
      for (auto& [key, endpoint] : set) list.push_back(std::move(endpoint));
      current.emplace(name, std::move(list));
    }

    auto first = map.lower_bound(FirstKeyOf(service));
    auto last = first;
    bool same = true;
    auto cur = current.begin();
    for (; last != map.end() && last->first.service == service; ++last) {
      if (!same) continue;
      if (cur == current.end() || cur->first != last->first || !SameEndpoints(cur->second, last->second)) {
        same = false;
      } else {
        ++cur;
      }
    }
    if (same && cur == current.end()) continue;  // keeps the old lists (and their pointers)
    map.erase(first, last);
    for (auto& [name, list] : current) map.emplace(name, std::move(list));
    result.changed.insert(service);
    result.change_times.push_back(first_seen);
  }
  pending_.clear();
  std::sort(result.change_times.begin(), result.change_times.end());
  return result;
}

size_t EndpointsChangeTracker::PendingCount() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace kproxy::proxier
