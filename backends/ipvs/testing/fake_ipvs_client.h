// FakeIpvsClient: an in-memory IPVS table with the kernel's error semantics (EEXIST/ENOENT/ESRCH
// as AlreadyExists/NotFound) that counts every write, for unit tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "backends/ipvs/ipvs_client.h"

namespace kproxy::backends::ipvs::testing {

class FakeIpvsClient final : public IpvsClient {
 public:
  absl::StatusOr<std::vector<IpvsService>> ListServices() override;
  absl::Status AddService(const VirtualServer& server) override;
  absl::Status EditService(const VirtualServer& server) override;
  absl::Status DeleteService(const VirtualServerKey& key) override;
  absl::Status AddDestination(const VirtualServer& server, const RealServer& destination) override;
  absl::Status EditDestination(const VirtualServer& server, const RealServer& destination) override;
  absl::Status DeleteDestination(const VirtualServer& server, const RealServer& destination) override;
  // As the kernel: a 0 timeout leaves the current one.
  absl::Status SetTimeouts(const proxier::ipvs::IpvsTimeouts& timeouts) override;
  absl::StatusOr<proxier::ipvs::IpvsTimeouts> GetTimeouts() override;

  // Test controls: set live connection counts (what ipvsadm -Ln shows as ActiveConn/InActConn).
  void SetConnections(const VirtualServerKey& server, const proxier::ipvs::RealServerKey& dest, uint32_t active,
                      uint32_t inactive);
  // Every write method called, by name ("AddService", ...), successful or not.
  const std::map<std::string, int>& calls() const { return calls_; }
  int writes() const;
  void ResetCalls() {
    calls_.clear();
    batch_sizes_.clear();
  }
  // Runs the writes one by one, as the kernel does, recording the batch's size.
  std::vector<absl::Status> WriteBatch(absl::Span<const proxier::ipvs::IpvsOperation> writes) override {
    batch_sizes_.push_back(writes.size());
    return IpvsClient::WriteBatch(writes);
  }
  // The size of every WriteBatch() call, in order.
  const std::vector<size_t>& batch_sizes() const { return batch_sizes_; }
  // Fault injection: every call of `method` ("ListServices", "AddDestination", ...) fails with
  // `status` (e.g. EPERM as PermissionDenied) until ClearFailures(); the table is not touched.
  void FailCalls(const std::string& method, absl::Status status) { failures_[method] = std::move(status); }
  void ClearFailures() { failures_.clear(); }
  const absl::btree_map<VirtualServerKey, IpvsService>& table() const { return table_; }

 private:
  absl::btree_map<VirtualServerKey, IpvsService> table_;
  std::map<std::string, int> calls_;
  std::vector<size_t> batch_sizes_;
  std::map<std::string, absl::Status> failures_;
  // The kernel's defaults (ipvsadm -L --timeout on a fresh node).
  proxier::ipvs::IpvsTimeouts timeouts_{900, 120, 300};
};

}  // namespace kproxy::backends::ipvs::testing
