// FakeConntrackClient: an in-memory conntrack table for unit tests — List returns what was added,
// Delete removes by original tuple with ENOENT-is-fine semantics and records what it removed.
#pragma once

#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "backends/conntrack/conntrack_client.h"

namespace kproxy::backends::conntrack::testing {

class FakeConntrackClient final : public ConntrackClient {
 public:
  explicit FakeConntrackClient(proxier::IpFamily family = proxier::IpFamily::kIPv4) : family_(family) {}

  proxier::IpFamily family() const override { return family_; }
  absl::StatusOr<std::vector<ConntrackEntry>> List(proxier::Protocol protocol) override;
  absl::StatusOr<size_t> Delete(const std::vector<ConntrackEntry>& entries) override;

  void Add(ConntrackEntry entry);
  std::vector<ConntrackEntry> Entries() const;
  // Every entry Delete removed, in order.
  std::vector<ConntrackEntry> Deleted() const;
  int list_calls() const;
  int delete_calls() const;
  void FailNextList(absl::Status status);

 private:
  const proxier::IpFamily family_;
  mutable absl::Mutex mu_;
  std::vector<ConntrackEntry> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<ConntrackEntry> deleted_ ABSL_GUARDED_BY(mu_);
  int list_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int delete_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> fail_next_list_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kproxy::backends::conntrack::testing
