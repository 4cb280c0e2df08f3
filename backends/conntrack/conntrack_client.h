// ConntrackClient: reads and deletes conntrack entries of one IP family over netlink (libmnl),
// for the stale-UDP-flow cleanup after syncs.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "proxier/api_types.h"
#include "proxier/ip_address.h"

namespace kproxy::backends::conntrack {

struct ConntrackEntry {
  proxier::Protocol protocol = proxier::Protocol::kUDP;
  // Original direction (client -> service address).
  proxier::IpAddress orig_source;
  proxier::IpAddress orig_destination;
  uint16_t orig_source_port = 0;
  uint16_t orig_destination_port = 0;
  // Reply direction (backend -> client): reply_source is the backend after DNAT.
  proxier::IpAddress reply_source;
  proxier::IpAddress reply_destination;
  uint16_t reply_source_port = 0;
  uint16_t reply_destination_port = 0;
  friend bool operator==(const ConntrackEntry&, const ConntrackEntry&) = default;
};

class ConntrackClient {
 public:
  virtual ~ConntrackClient() = default;
  virtual proxier::IpFamily family() const = 0;
  // Every entry of the family and protocol. A dump interrupted by the kernel (EINTR) returns what it
  // read, as upstream does.
  virtual absl::StatusOr<std::vector<ConntrackEntry>> List(proxier::Protocol protocol) = 0;
  // Deletes the entries; an entry already gone (ENOENT) is not an error. Returns how many were deleted.
  virtual absl::StatusOr<size_t> Delete(const std::vector<ConntrackEntry>& entries) = 0;
};

}  // namespace kproxy::backends::conntrack
