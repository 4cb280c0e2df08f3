// EndpointsChangeTracker: pending EndpointSlice changes of one IP family. It keeps every slice of
// each Service (a Service's endpoints may be split across slices), merges them per ServicePort, and
// drops changes that leave a Service's endpoints as they were.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proxier/api_types.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier {

class EndpointsChangeTracker {
 public:
  EndpointsChangeTracker(std::string node_name, IpFamily family)
      : node_name_(std::move(node_name)), family_(family) {}

  // Records an added/updated slice (removed == false) or a deleted one (removed == true).
  // Slices of the other family and FQDN slices are ignored. Returns true when changes are pending.
  // Thread-safe.
  bool Update(const EndpointSlice& slice, bool removed, absl::Time now);

  struct ApplyResult {
    ChangedServices changed;
    std::vector<absl::Time> change_times;
  };
  // Applies pending changes to `map` (endpoint lists sorted by IpPort, duplicates across slices
  // removed) and clears them. Thread-safe.
  ApplyResult Apply(EndpointsMap& map);

  size_t PendingCount() const;

 private:
  // What is kept of one slice: its endpoints already converted, per port, in slice order. The
  // merged lists share these Endpoint objects, so 100k endpoints exist once, not three times
  // (raw slice copy, converted copy, merged list).
  struct PortEndpoints {
    std::string port_name;
    Protocol protocol = Protocol::kTCP;
    EndpointList endpoints;
  };
  using ConvertedSlice = std::vector<PortEndpoints>;
  ConvertedSlice Convert(const EndpointSlice& slice) const;
  // slice name -> converted slice, per Service.
  // std::map, not absl::btree_map: Debian's Abseil 20220623 btree crashes destroying vector values
  // when built with AddressSanitizer (its ASan-only node generations); a Service has few slices anyway.
  using SliceSet = std::map<std::string, ConvertedSlice>;
  const std::string node_name_;
  const IpFamily family_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<ServiceName, SliceSet> slices_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ServiceName, absl::Time> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::proxier
