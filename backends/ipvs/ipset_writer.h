// IpsetWriter: the kernel's ipsets that IPVS mode's iptables rules match against.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proxier/ipvs/ipvs_state.h"

namespace kproxy::backends::ipvs {

using proxier::ipvs::IpsetSpec;

class IpsetWriter {
 public:
  virtual ~IpsetWriter() = default;
  // Makes every set in `sets` exist (created with upstream's type and options) and hold exactly its
  // entries, writing only the differences; sets not listed are untouched. Idempotent.
  virtual absl::Status Sync(const std::vector<IpsetSpec>& sets) = 0;
  // Destroys every set whose name starts with `prefix` (--cleanup). A set still referenced by an
  // iptables rule cannot be destroyed: remove the rules first.
  virtual absl::Status DestroySets(absl::string_view prefix) = 0;
};

}  // namespace kproxy::backends::ipvs
