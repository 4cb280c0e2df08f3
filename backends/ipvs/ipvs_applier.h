// IpvsApplier: executes a DiffIpvs() operation list against an IpvsClient and a LinkManager; it
// decides nothing.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "backends/ipvs/ipvs_client.h"
#include "backends/ipvs/link_manager.h"
#include "proxier/ipvs/ipvs_state.h"

namespace kproxy::backends::ipvs {

struct ApplyResult {
  int applied = 0;
  int failed = 0;
  absl::Status first_error;  // names the operation's object
};

class IpvsApplier {
 public:
  IpvsApplier(IpvsClient* ipvs, LinkManager* links, std::string device)
      : ipvs_(ipvs), links_(links), device_(std::move(device)) {}

  // Runs every operation in order, consecutive IPVS table writes as one IpvsClient::WriteBatch. An
  // add that finds the object present is redone as an edit; a delete that finds it gone already
  // has the wanted effect. Other failures are counted and the rest still runs (one bad object must
  // not block unrelated Services).
  ApplyResult Apply(const std::vector<proxier::ipvs::IpvsOperation>& operations);

 private:
  // A bind or unbind of an address on the dummy device.
  absl::Status ApplyOne(const proxier::ipvs::IpvsOperation& op);
  void WriteTable(absl::Span<const proxier::ipvs::IpvsOperation> writes, ApplyResult& result);
  static void Count(const absl::Status& status, ApplyResult& result);
  IpvsClient* ipvs_;
  LinkManager* links_;
  std::string device_;
};

}  // namespace kproxy::backends::ipvs
