#include "backends/conntrack/testing/fake_conntrack_client.h"

#include <algorithm>

namespace kproxy::backends::conntrack::testing {
namespace {

bool SameOrigTuple(const ConntrackEntry& a, const ConntrackEntry& b) {
  return a.protocol == b.protocol && a.orig_source == b.orig_source && a.orig_destination == b.orig_destination &&
         a.orig_source_port == b.orig_source_port && a.orig_destination_port == b.orig_destination_port;
}

}  // namespace

absl::StatusOr<std::vector<ConntrackEntry>> FakeConntrackClient::List(proxier::Protocol protocol) {
  absl::MutexLock lock(&mu_);
  ++list_calls_;
  if (fail_next_list_) {
    absl::Status s = *fail_next_list_;
    fail_next_list_.reset();
    return s;
  }
  std::vector<ConntrackEntry> out;
  for (const ConntrackEntry& e : entries_) {
    if (e.protocol == protocol && e.orig_source.family() == family_) out.push_back(e);
  }
  return out;
}

absl::StatusOr<size_t> FakeConntrackClient::Delete(const std::vector<ConntrackEntry>& entries) {
  absl::MutexLock lock(&mu_);
  ++delete_calls_;
  size_t n = 0;
  for (const ConntrackEntry& want : entries) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const ConntrackEntry& e) { return SameOrigTuple(e, want); });
    if (it == entries_.end()) continue;  // ENOENT is fine
    deleted_.push_back(*it);
    entries_.erase(it);
    ++n;
  }
  return n;
}

void FakeConntrackClient::Add(ConntrackEntry entry) {
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}
std::vector<ConntrackEntry> FakeConntrackClient::Entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}
std::vector<ConntrackEntry> FakeConntrackClient::Deleted() const {
  absl::MutexLock lock(&mu_);
  return deleted_;
}
int FakeConntrackClient::list_calls() const {
  absl::MutexLock lock(&mu_);
  return list_calls_;
}
int FakeConntrackClient::delete_calls() const {
  absl::MutexLock lock(&mu_);
  return delete_calls_;
}
void FakeConntrackClient::FailNextList(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_next_list_ = std::move(status);
}

}  // namespace kproxy::backends::conntrack::testing
