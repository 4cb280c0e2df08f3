#include "proxier/ipvs/ipvs_diff.h"

namespace kproxy::proxier::ipvs {
namespace {

using Kind = IpvsOperation::Kind;

// Key equality without the out-of-line memcmp of IpAddress's defaulted ==.
bool SameKey(const RealServerKey& a, const RealServerKey& b) {
  return a.port == b.port && internal::CompareAddresses(a.address, b.address) == 0;
}
bool SameKey(const VirtualServerKey& a, const VirtualServerKey& b) {
  return a.port == b.port && a.protocol == b.protocol && internal::CompareAddresses(a.address, b.address) == 0;
}

IpvsOperation ServerOp(Kind kind, const VirtualServer& server) {
  IpvsOperation op;
  op.kind = kind;
  op.server = server;
  return op;
}

IpvsOperation DestinationOp(Kind kind, const VirtualServer& server, const RealServer& destination) {
  IpvsOperation op = ServerOp(kind, server);
  op.destination = destination;
  op.destination.active_connections = 0;
  op.destination.inactive_connections = 0;
  return op;
}

IpvsOperation AddressOp(Kind kind, const IpAddress& address) {
  IpvsOperation op;
  op.kind = kind;
  op.address = address;
  return op;
}

void DiffDestinations(const IpvsService& want, const IpvsService* have, std::vector<IpvsOperation>& ops) {
  // The observed server's identity is the one the kernel knows; edits keep the desired settings.
  const VirtualServer& server = want.server;
  static const RealServerMap kNone;
  const auto& wanted = want.destinations;
  const auto& present = have != nullptr ? have->destinations : kNone;
  // Both maps are ordered by key: one merge walk instead of a lookup per destination. Removals
  // first, then additions and edits, as before.
  for (auto w = wanted.begin(), p = present.begin(); p != present.end(); ++p) {
    while (w != wanted.end() && std::less<RealServerKey>()(w->first, p->first)) ++w;
    if (w != wanted.end() && SameKey(w->first, p->first)) continue;
    const RealServer& rs = p->second;
    if (server.key.protocol != Protocol::kTCP) {
      ops.push_back(DestinationOp(Kind::kDeleteDestination, server, rs));
    } else if (rs.weight != 0) {
      RealServer drained = rs;
      drained.weight = 0;
      ops.push_back(DestinationOp(Kind::kEditDestination, server, drained));
    } else if (rs.active_connections + rs.inactive_connections == 0) {
      ops.push_back(DestinationOp(Kind::kDeleteDestination, server, rs));
    }
    // else: still draining; a later diff deletes it.
  }
  for (auto w = wanted.begin(), p = present.begin(); w != wanted.end(); ++w) {
    while (p != present.end() && std::less<RealServerKey>()(p->first, w->first)) ++p;
    const RealServer& rs = w->second;
    if (p == present.end() || !SameKey(p->first, w->first)) {
      ops.push_back(DestinationOp(Kind::kAddDestination, server, rs));
    } else if (p->second.weight != rs.weight) {
      ops.push_back(DestinationOp(Kind::kEditDestination, server, rs));
    }
  }
}

}  // namespace

bool ServerNeedsEdit(const VirtualServer& desired, const VirtualServer& observed) {
  return desired.scheduler != observed.scheduler ||
         (desired.flags & ~kFlagHashed) != (observed.flags & ~kFlagHashed) ||
         desired.timeout_seconds != observed.timeout_seconds;
}

std::vector<IpvsOperation> DiffIpvs(const DesiredIpvsState& desired, const ObservedIpvsState& observed) {
  std::vector<IpvsOperation> ops;
  for (const IpAddress& ip : desired.bound_addresses) {
    if (!observed.bound_addresses.contains(ip)) ops.push_back(AddressOp(Kind::kBindAddress, ip));
  }
  // Ordered maps on both sides: merge walks instead of a lookup per service.
  for (auto w = desired.services.begin(), h = observed.services.begin(); w != desired.services.end(); ++w) {
    while (h != observed.services.end() && std::less<VirtualServerKey>()(h->first, w->first)) ++h;
    const IpvsService& want = w->second;
    const IpvsService* have =
        h != observed.services.end() && SameKey(h->first, w->first) ? &h->second : nullptr;
    if (have == nullptr) {
      ops.push_back(ServerOp(Kind::kAddService, want.server));
    } else if (ServerNeedsEdit(want.server, have->server)) {
      ops.push_back(ServerOp(Kind::kEditService, want.server));
    }
    DiffDestinations(want, have, ops);
  }
  for (auto h = observed.services.begin(), w = desired.services.begin(); h != observed.services.end(); ++h) {
    while (w != desired.services.end() && std::less<VirtualServerKey>()(w->first, h->first)) ++w;
    if (w == desired.services.end() || !SameKey(w->first, h->first)) {
      ops.push_back(ServerOp(Kind::kDeleteService, h->second.server));
    }
  }
  for (const IpAddress& ip : observed.bound_addresses) {
    if (!desired.bound_addresses.contains(ip)) ops.push_back(AddressOp(Kind::kUnbindAddress, ip));
  }
  return ops;
}

}  // namespace kproxy::proxier::ipvs
