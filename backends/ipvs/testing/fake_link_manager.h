// FakeLinkManager: in-memory links and addresses with rtnetlink's error semantics, counting writes.
#pragma once

#include <map>
#include <string>

#include "backends/ipvs/link_manager.h"

namespace kproxy::backends::ipvs::testing {

class FakeLinkManager final : public LinkManager {
 public:
  absl::Status EnsureDummyLink(absl::string_view name) override;
  absl::StatusOr<absl::btree_set<proxier::IpAddress>> ListAddresses(absl::string_view name,
                                                                     proxier::IpFamily family) override;
  absl::StatusOr<absl::btree_set<proxier::IpAddress>> ListLocalAddresses(absl::string_view except_link,
                                                                          proxier::IpFamily family) override;
  absl::Status AddAddress(absl::string_view name, const proxier::IpAddress& ip) override;
  absl::Status DeleteAddress(absl::string_view name, const proxier::IpAddress& ip) override;
  absl::Status DeleteLink(absl::string_view name) override;

  bool HasLink(absl::string_view name) const { return links_.contains(std::string(name)); }
  // Test setup: the link `name` (created if missing) holds exactly `addresses`; counts no write.
  void SetAddresses(absl::string_view name, absl::btree_set<proxier::IpAddress> addresses) {
    links_[std::string(name)] = std::move(addresses);
  }
  // The next ListLocalAddresses fails with `status`.
  void FailNextListLocal(absl::Status status) { fail_next_list_local_ = std::move(status); }
  int list_local_calls() const { return list_local_calls_; }
  int adds() const { return adds_; }
  int deletes() const { return deletes_; }

 private:
  std::map<std::string, absl::btree_set<proxier::IpAddress>> links_;
  absl::Status fail_next_list_local_;
  int list_local_calls_ = 0;
  int adds_ = 0;
  int deletes_ = 0;
};

}  // namespace kproxy::backends::ipvs::testing
