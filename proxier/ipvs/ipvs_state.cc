#include "proxier/ipvs/ipvs_state.h"

#include "absl/strings/str_cat.h"

namespace kproxy::proxier::ipvs {

std::string VirtualServerKey::ToString() const {
  return absl::StrCat(address.JoinPort(port), "/", ProtocolName(protocol));
}

const char* IpsetTypeName(IpsetType type) {
  switch (type) {
    case IpsetType::kHashIp: return "hash:ip";
    case IpsetType::kHashIpPort: return "hash:ip,port";
    case IpsetType::kHashIpPortIp: return "hash:ip,port,ip";
    case IpsetType::kHashIpPortNet: return "hash:ip,port,net";
    case IpsetType::kBitmapPort: return "bitmap:port";
  }
  return "?";
}

const char* IpvsOperationKindName(IpvsOperation::Kind kind) {
  using K = IpvsOperation::Kind;
  switch (kind) {
    case K::kAddService: return "add-service";
    case K::kEditService: return "edit-service";
    case K::kDeleteService: return "delete-service";
    case K::kAddDestination: return "add-destination";
    case K::kEditDestination: return "edit-destination";
    case K::kDeleteDestination: return "delete-destination";
    case K::kBindAddress: return "bind-address";
    case K::kUnbindAddress: return "unbind-address";
  }
  return "?";
}

std::string IpvsOperation::ToString() const {
  using K = IpvsOperation::Kind;
  std::string out = IpvsOperationKindName(kind);
  switch (kind) {
    case K::kAddService:
    case K::kEditService:
      absl::StrAppend(&out, " ", server.key.ToString(), " ", server.scheduler);
      if (server.flags & kFlagPersistent) absl::StrAppend(&out, " persistent ", server.timeout_seconds);
      if (server.flags & kFlagSourceHash) absl::StrAppend(&out, " source-hash");
      break;
    case K::kDeleteService:
      absl::StrAppend(&out, " ", server.key.ToString());
      break;
    case K::kAddDestination:
    case K::kEditDestination:
      absl::StrAppend(&out, " ", server.key.ToString(), " -> ", destination.key.ToString(), " weight ",
                      destination.weight);
      break;
    case K::kDeleteDestination:
      absl::StrAppend(&out, " ", server.key.ToString(), " -> ", destination.key.ToString());
      break;
    case K::kBindAddress:
    case K::kUnbindAddress:
      absl::StrAppend(&out, " ", address.ToString());
      break;
  }
  return out;
}

}  // namespace kproxy::proxier::ipvs
