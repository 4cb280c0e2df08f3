// Generic-netlink IPVS messages as plain byte values: builders for every command kproxy sends and
// parsers for the dump replies, so the wire format is unit-testable without a kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proxier/ipvs/ipvs_state.h"

namespace kproxy::backends::ipvs {

// One netlink message: nlmsghdr + genlmsghdr + attributes. Sequence and port are left 0; the
// round-trip function stamps them before sending.
class GenlMessage {
 public:
  GenlMessage(uint16_t family_id, uint8_t command, uint16_t flags, uint8_t version = 1);

  void PutU16(uint16_t type, uint16_t value);
  void PutU32(uint32_t type, uint32_t value);
  void PutBytes(uint16_t type, absl::Span<const uint8_t> value);
  void PutString(uint16_t type, absl::string_view value);  // NUL-terminated
  // Returns the offset to hand to EndNested().
  size_t BeginNested(uint16_t type);
  void EndNested(size_t offset);

  uint8_t command() const { return bytes_[16]; }
  // The whole message, nlmsg_len filled in.
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t>& mutable_bytes() { return bytes_; }

 private:
  void PutAttr(uint16_t type, const void* data, size_t len);
  std::vector<uint8_t> bytes_;
};

// "IPVS_CMD_NEW_DEST", ...
const char* IpvsCommandName(uint8_t command);

// Request builders. `full` service messages carry scheduler, flags, timeout and netmask (NEW/SET);
// identity-only ones serve DEL_SERVICE and GET_DEST.
GenlMessage BuildServiceMessage(uint16_t family_id, uint8_t command, const proxier::ipvs::VirtualServer& server,
                                bool full);
GenlMessage BuildDestinationMessage(uint16_t family_id, uint8_t command, const proxier::ipvs::VirtualServer& server,
                                    const proxier::ipvs::RealServer& destination, bool full);
// The acknowledged request of one IPVS table write (a service or destination kind of
// IpvsOperation, as the single-write client methods send it); InvalidArgument for bind/unbind.
absl::StatusOr<GenlMessage> BuildWriteMessage(uint16_t family_id, const proxier::ipvs::IpvsOperation& write);
// Requests back to back in one buffer, each stamped with `port` and sequence numbers counting up
// from `first_sequence` (the kernel answers each with an NLMSG_ERROR carrying its sequence).
std::vector<uint8_t> ConcatenateRequests(absl::Span<const GenlMessage> messages, uint32_t first_sequence,
                                         uint32_t port);
GenlMessage BuildGetServicesDump(uint16_t family_id);
// IPVS_CMD_SET_CONFIG with the non-zero timeouts; IPVS_CMD_GET_CONFIG.
GenlMessage BuildSetTimeoutsMessage(uint16_t family_id, const proxier::ipvs::IpvsTimeouts& timeouts);
GenlMessage BuildGetConfigMessage(uint16_t family_id);
GenlMessage BuildGetDestinationsDump(uint16_t family_id, const proxier::ipvs::VirtualServer& server);

// Parsers for one reply's genl payload (the bytes after the genlmsghdr). A fwmark service parses
// to NotFound (kproxy does not manage them).
absl::StatusOr<proxier::ipvs::VirtualServer> ParseServiceReply(absl::Span<const uint8_t> attributes);
absl::StatusOr<proxier::ipvs::RealServer> ParseDestinationReply(absl::Span<const uint8_t> attributes);
absl::StatusOr<proxier::ipvs::IpvsTimeouts> ParseConfigReply(absl::Span<const uint8_t> attributes);

}  // namespace kproxy::backends::ipvs
