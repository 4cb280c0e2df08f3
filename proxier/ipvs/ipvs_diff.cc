#include "proxier/ipvs/ipvs_diff.h"

namespace kproxy::proxier::ipvs {
namespace {

using Kind = IpvsOperation::Kind;

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
  if (have != nullptr) {
    for (const auto& [key, rs] : have->destinations) {
      if (want.destinations.contains(key)) continue;
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
  }
  for (const auto& [key, rs] : want.destinations) {
    const RealServer* current = nullptr;
    if (have != nullptr) {
      auto it = have->destinations.find(key);
      if (it != have->destinations.end()) current = &it->second;
    }
    if (current == nullptr) {
      ops.push_back(DestinationOp(Kind::kAddDestination, server, rs));
    } else if (current->weight != rs.weight) {
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
  for (const auto& [key, want] : desired.services) {
    auto it = observed.services.find(key);
    const IpvsService* have = it == observed.services.end() ? nullptr : &it->second;
    if (have == nullptr) {
      ops.push_back(ServerOp(Kind::kAddService, want.server));
    } else if (ServerNeedsEdit(want.server, have->server)) {
      ops.push_back(ServerOp(Kind::kEditService, want.server));
    }
    DiffDestinations(want, have, ops);
  }
  for (const auto& [key, have] : observed.services) {
    if (!desired.services.contains(key)) ops.push_back(ServerOp(Kind::kDeleteService, have.server));
  }
  for (const IpAddress& ip : observed.bound_addresses) {
    if (!desired.bound_addresses.contains(ip)) ops.push_back(AddressOp(Kind::kUnbindAddress, ip));
  }
  return ops;
}

}  // namespace kproxy::proxier::ipvs
