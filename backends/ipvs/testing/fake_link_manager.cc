#include "backends/ipvs/testing/fake_link_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs::testing {

absl::Status FakeLinkManager::EnsureDummyLink(absl::string_view name) {
  links_[std::string(name)];
  return absl::OkStatus();
}

absl::StatusOr<absl::btree_set<proxier::IpAddress>> FakeLinkManager::ListAddresses(absl::string_view name,
                                                                                   proxier::IpFamily family) {
  auto it = links_.find(std::string(name));
  if (it == links_.end()) return absl::NotFoundError(absl::StrCat("link ", name, ": no such device"));
  absl::btree_set<proxier::IpAddress> out;
  for (const auto& ip : it->second) {
    if (ip.family() == family) out.insert(ip);
  }
  return out;
}

absl::StatusOr<absl::btree_set<proxier::IpAddress>> FakeLinkManager::ListLocalAddresses(
    absl::string_view except_link, proxier::IpFamily family) {
  ++list_local_calls_;
  if (!fail_next_list_local_.ok()) return std::exchange(fail_next_list_local_, absl::OkStatus());
  absl::btree_set<proxier::IpAddress> out;
  for (const auto& [name, addresses] : links_) {
    if (name == except_link) continue;
    for (const auto& ip : addresses) {
      if (ip.family() == family) out.insert(ip);
    }
  }
  return out;
}

absl::Status FakeLinkManager::AddAddress(absl::string_view name, const proxier::IpAddress& ip) {
  ++adds_;
  auto it = links_.find(std::string(name));
  if (it == links_.end()) return absl::NotFoundError(absl::StrCat("link ", name, ": no such device"));
  if (!it->second.insert(ip).second) {
    return absl::AlreadyExistsError(absl::StrCat("add address ", ip.ToString(), " on ", name, ": exists"));
  }
  return absl::OkStatus();
}

absl::Status FakeLinkManager::DeleteAddress(absl::string_view name, const proxier::IpAddress& ip) {
  ++deletes_;
  auto it = links_.find(std::string(name));
  if (it == links_.end() || it->second.erase(ip) == 0) {
    return absl::NotFoundError(absl::StrCat("delete address ", ip.ToString(), " on ", name, ": not present"));
  }
  return absl::OkStatus();
}

absl::Status FakeLinkManager::DeleteLink(absl::string_view name) {
  if (links_.erase(std::string(name)) == 0) return absl::NotFoundError(absl::StrCat("link ", name));
  return absl::OkStatus();
}

}  // namespace kproxy::backends::ipvs::testing
