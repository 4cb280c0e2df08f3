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

// What the proxy uses of a slice; metadata churn (resourceVersion, labels) is not a change.
bool SameContent(const EndpointSlice& a, const EndpointSlice& b) {
  return a.address_type == b.address_type && a.ports == b.ports && a.endpoints == b.endpoints;
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

bool EndpointsChangeTracker::Update(const EndpointSlice& slice, bool removed, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (slice.address_type == AddressType::kFQDN || !FamilyMatches(slice.address_type, family_) ||
      slice.service_name.empty() || slice.metadata.name.empty()) {
    return !pending_.empty();
  }
  const ServiceName service{slice.metadata.namespace_name, slice.service_name};
  const std::string& slice_name = slice.metadata.name;
  if (removed) {
    auto it = slices_.find(service);
    if (it == slices_.end() || it->second.erase(slice_name) == 0) return !pending_.empty();
    if (it->second.empty()) slices_.erase(it);
  } else {
    SliceSet& set = slices_[service];
    auto it = set.find(slice_name);
    if (it != set.end() && SameContent(it->second, slice)) return !pending_.empty();
    EndpointSlice stored = slice;
    // The proxy never reads them again; 10k Services' annotations are not worth keeping.
    stored.metadata.annotations.clear();
    stored.metadata.labels.clear();
    set.insert_or_assign(slice_name, std::move(stored));
  }
  pending_.try_emplace(service, now);
  return true;
}

EndpointsChangeTracker::ApplyResult EndpointsChangeTracker::Apply(EndpointsMap& map) {
  absl::MutexLock lock(&mu_);
  ApplyResult result;
  for (const auto& [service, first_seen] : pending_) {
    // Merge every slice of the Service, in slice-name order, into sorted, deduplicated lists.
    absl::btree_map<ServicePortName, absl::btree_map<std::string, Endpoint>> merged;
    if (auto sit = slices_.find(service); sit != slices_.end()) {
      for (const auto& [slice_name, slice] : sit->second) {
        for (const EndpointSlicePort& port : slice.ports) {
          // A nil port means "all ports", which a proxy cannot program (upstream skips it too).
          if (!port.port.has_value() || *port.port == 0) continue;
          ServicePortName name{service, port.name.value_or(""), port.protocol.value_or(Protocol::kTCP)};
          auto& set = merged[name];
          for (const EndpointSliceEndpoint& ep : slice.endpoints) {
            if (ep.addresses.empty() || ep.addresses[0].family() != family_) continue;
            Endpoint endpoint;
            endpoint.ip = ep.addresses[0];
            endpoint.port = *port.port;
            endpoint.node_name = ep.node_name.value_or("");
            endpoint.is_local = !node_name_.empty() && endpoint.node_name == node_name_;
            endpoint.ready = ep.conditions.ready.value_or(true);
            endpoint.serving = ep.conditions.serving.value_or(endpoint.ready);
            endpoint.terminating = ep.conditions.terminating.value_or(false);
            endpoint.zone = ep.zone.value_or("");
            endpoint.zone_hints = SortedUnique(ep.hints_for_zones);
            endpoint.has_zone_hints = !endpoint.zone_hints.empty();
            endpoint.node_hints = SortedUnique(ep.hints_for_nodes);
            endpoint.has_node_hints = !endpoint.node_hints.empty();
            std::string key = endpoint.IpPort();
            auto [it, inserted] = set.try_emplace(std::move(key), endpoint);
            // The same address in two slices: an endpoint moving between slices, or a pod IP
            // reused before the terminating pod is gone. Prefer the non-terminating one; otherwise
            // the first slice by name wins, so the result does not depend on arrival order.
            if (!inserted && it->second.terminating && !endpoint.terminating) {
              it->second = std::move(endpoint);
            }
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
      for (auto& [key, endpoint] : set) {
        list.push_back(std::make_shared<const Endpoint>(std::move(endpoint)));
      }
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
