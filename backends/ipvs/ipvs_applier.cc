#include "backends/ipvs/ipvs_applier.h"

#include <optional>

#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs {

using proxier::ipvs::IpvsOperation;
using Kind = IpvsOperation::Kind;

absl::Status IpvsApplier::ApplyOne(const IpvsOperation& op) {
  switch (op.kind) {
    case Kind::kBindAddress: {
      absl::Status s = links_->AddAddress(device_, op.address);
      return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
    }
    case Kind::kUnbindAddress: {
      absl::Status s = links_->DeleteAddress(device_, op.address);
      return absl::IsNotFound(s) ? absl::OkStatus() : s;
    }
    default: return absl::InternalError(absl::StrCat("not an address operation: ", op.ToString()));
  }
}

namespace {

// The single write that finishes what `op` meant when the kernel answered `status`: an add that
// found the object present becomes an edit (it may carry other settings, e.g. left by an
// interrupted sync); nullopt when `status` already is the outcome.
std::optional<IpvsOperation> FollowUp(const IpvsOperation& op, const absl::Status& status) {
  if (!absl::IsAlreadyExists(status)) return std::nullopt;
  if (op.kind != Kind::kAddService && op.kind != Kind::kAddDestination) return std::nullopt;
  IpvsOperation edit = op;
  edit.kind = op.kind == Kind::kAddService ? Kind::kEditService : Kind::kEditDestination;
  return edit;
}

// A delete that finds the object gone has the wanted effect.
absl::Status Outcome(const IpvsOperation& op, absl::Status status) {
  if (absl::IsNotFound(status) && (op.kind == Kind::kDeleteService || op.kind == Kind::kDeleteDestination)) {
    return absl::OkStatus();
  }
  return status;
}

}  // namespace

void IpvsApplier::WriteTable(absl::Span<const IpvsOperation> writes, ApplyResult& result) {
  std::vector<absl::Status> statuses = ipvs_->WriteBatch(writes);
  std::vector<IpvsOperation> follow_ups;
  std::vector<size_t> followed;  // index into `writes` of each follow-up
  for (size_t i = 0; i < writes.size(); ++i) {
    if (std::optional<IpvsOperation> edit = FollowUp(writes[i], statuses[i])) {
      follow_ups.push_back(*std::move(edit));
      followed.push_back(i);
    }
  }
  if (!follow_ups.empty()) {
    std::vector<absl::Status> edited = ipvs_->WriteBatch(follow_ups);
    for (size_t k = 0; k < follow_ups.size(); ++k) statuses[followed[k]] = edited[k];
  }
  for (size_t i = 0; i < writes.size(); ++i) Count(Outcome(writes[i], statuses[i]), result);
}

void IpvsApplier::Count(const absl::Status& status, ApplyResult& result) {
  if (status.ok()) {
    ++result.applied;
  } else {
    ++result.failed;
    if (result.first_error.ok()) result.first_error = status;
  }
}

ApplyResult IpvsApplier::Apply(const std::vector<IpvsOperation>& operations) {
  ApplyResult result;
  // Address binds and unbinds stay where the diff put them (bind before the first virtual server
  // on the address, unbind after the last is gone); the table writes between them go as batches.
  size_t i = 0;
  while (i < operations.size()) {
    if (!IsIpvsTableWrite(operations[i].kind)) {
      Count(ApplyOne(operations[i]), result);
      ++i;
      continue;
    }
    size_t end = i;
    while (end < operations.size() && IsIpvsTableWrite(operations[end].kind)) ++end;
    WriteTable(absl::MakeConstSpan(operations).subspan(i, end - i), result);
    i = end;
  }
  return result;
}

}  // namespace kproxy::backends::ipvs
