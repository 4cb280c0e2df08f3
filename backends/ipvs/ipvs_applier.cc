#include "backends/ipvs/ipvs_applier.h"

namespace kproxy::backends::ipvs {

using proxier::ipvs::IpvsOperation;
using Kind = IpvsOperation::Kind;

absl::Status IpvsApplier::ApplyOne(const IpvsOperation& op) {
  switch (op.kind) {
    case Kind::kAddService: {
      absl::Status s = ipvs_->AddService(op.server);
      // Present with other settings (e.g. created by an earlier, interrupted sync): edit it.
      return absl::IsAlreadyExists(s) ? ipvs_->EditService(op.server) : s;
    }
    case Kind::kEditService: return ipvs_->EditService(op.server);
    case Kind::kDeleteService: {
      absl::Status s = ipvs_->DeleteService(op.server.key);
      return absl::IsNotFound(s) ? absl::OkStatus() : s;
    }
    case Kind::kAddDestination: {
      absl::Status s = ipvs_->AddDestination(op.server, op.destination);
      return absl::IsAlreadyExists(s) ? ipvs_->EditDestination(op.server, op.destination) : s;
    }
    case Kind::kEditDestination: return ipvs_->EditDestination(op.server, op.destination);
    case Kind::kDeleteDestination: {
      absl::Status s = ipvs_->DeleteDestination(op.server, op.destination);
      return absl::IsNotFound(s) ? absl::OkStatus() : s;
    }
    case Kind::kBindAddress: {
      absl::Status s = links_->AddAddress(device_, op.address);
      return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
    }
    case Kind::kUnbindAddress: {
      absl::Status s = links_->DeleteAddress(device_, op.address);
      return absl::IsNotFound(s) ? absl::OkStatus() : s;
    }
  }
  return absl::InternalError("unknown IPVS operation");
}

ApplyResult IpvsApplier::Apply(const std::vector<IpvsOperation>& operations) {
  ApplyResult result;
  for (const IpvsOperation& op : operations) {
    absl::Status s = ApplyOne(op);
    if (s.ok()) {
      ++result.applied;
    } else {
      ++result.failed;
      if (result.first_error.ok()) result.first_error = s;
    }
  }
  return result;
}

}  // namespace kproxy::backends::ipvs
