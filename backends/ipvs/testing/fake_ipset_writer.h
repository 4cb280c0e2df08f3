// FakeIpsetWriter: in-memory ipsets that count entry additions and deletions, for unit tests.
#pragma once

#include <map>
#include <string>

#include "backends/ipvs/ipset_writer.h"

namespace kproxy::backends::ipvs::testing {

class FakeIpsetWriter final : public IpsetWriter {
 public:
  absl::Status Sync(const std::vector<IpsetSpec>& sets) override;
  absl::Status DestroySets(absl::string_view prefix) override;

  const std::map<std::string, IpsetSpec>& sets() const { return sets_; }
  bool Contains(absl::string_view set, absl::string_view entry) const;
  int added() const { return added_; }
  int deleted() const { return deleted_; }

 private:
  std::map<std::string, IpsetSpec> sets_;
  int added_ = 0;
  int deleted_ = 0;
};

}  // namespace kproxy::backends::ipvs::testing
