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
  absl::Status AddAddress(absl::string_view name, const proxier::IpAddress& ip) override;
  absl::Status DeleteAddress(absl::string_view name, const proxier::IpAddress& ip) override;
  absl::Status DeleteLink(absl::string_view name) override;

  bool HasLink(absl::string_view name) const { return links_.contains(std::string(name)); }
  int adds() const { return adds_; }
  int deletes() const { return deletes_; }

 private:
  std::map<std::string, absl::btree_set<proxier::IpAddress>> links_;
  int adds_ = 0;
  int deletes_ = 0;
};

}  // namespace kproxy::backends::ipvs::testing
