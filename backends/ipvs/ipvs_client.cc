#include "backends/ipvs/ipvs_client.h"

#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs {

using proxier::ipvs::IpvsOperation;
using Kind = IpvsOperation::Kind;

bool IsIpvsTableWrite(Kind kind) { return kind != Kind::kBindAddress && kind != Kind::kUnbindAddress; }

std::vector<absl::Status> IpvsClient::WriteBatch(absl::Span<const IpvsOperation> writes) {
  std::vector<absl::Status> statuses;
  statuses.reserve(writes.size());
  for (const IpvsOperation& op : writes) {
    switch (op.kind) {
      case Kind::kAddService: statuses.push_back(AddService(op.server)); break;
      case Kind::kEditService: statuses.push_back(EditService(op.server)); break;
      case Kind::kDeleteService: statuses.push_back(DeleteService(op.server.key)); break;
      case Kind::kAddDestination: statuses.push_back(AddDestination(op.server, op.destination)); break;
      case Kind::kEditDestination: statuses.push_back(EditDestination(op.server, op.destination)); break;
      case Kind::kDeleteDestination: statuses.push_back(DeleteDestination(op.server, op.destination)); break;
      case Kind::kBindAddress:
      case Kind::kUnbindAddress:
        statuses.push_back(absl::InvalidArgumentError(
            absl::StrCat("not an IPVS table write: ", op.ToString())));
        break;
    }
  }
  return statuses;
}

}  // namespace kproxy::backends::ipvs
