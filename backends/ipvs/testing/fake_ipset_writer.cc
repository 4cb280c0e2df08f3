#include "backends/ipvs/testing/fake_ipset_writer.h"

#include "absl/strings/match.h"

namespace kproxy::backends::ipvs::testing {

absl::Status FakeIpsetWriter::Sync(const std::vector<IpsetSpec>& sets) {
  for (const IpsetSpec& want : sets) {
    auto [it, created] = sets_.try_emplace(want.name, want);
    if (created) {
      added_ += static_cast<int>(want.entries.size());
      continue;
    }
    for (const auto& e : it->second.entries) deleted_ += want.entries.contains(e) ? 0 : 1;
    for (const auto& e : want.entries) added_ += it->second.entries.contains(e) ? 0 : 1;
    it->second.entries = want.entries;
  }
  return absl::OkStatus();
}

absl::Status FakeIpsetWriter::DestroySets(absl::string_view prefix) {
  for (auto it = sets_.begin(); it != sets_.end();) {
    it = absl::StartsWith(it->first, prefix) ? sets_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

bool FakeIpsetWriter::Contains(absl::string_view set, absl::string_view entry) const {
  auto it = sets_.find(std::string(set));
  return it != sets_.end() && it->second.entries.contains(std::string(entry));
}

}  // namespace kproxy::backends::ipvs::testing
