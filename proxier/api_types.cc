#include "proxier/api_types.h"

namespace kproxy::proxier {

absl::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTCP: return "TCP";
    case Protocol::kUDP: return "UDP";
    case Protocol::kSCTP: return "SCTP";
  }
  return "TCP";
}

absl::string_view ProtocolLowerName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTCP: return "tcp";
    case Protocol::kUDP: return "udp";
    case Protocol::kSCTP: return "sctp";
  }
  return "tcp";
}

}  // namespace kproxy::proxier
