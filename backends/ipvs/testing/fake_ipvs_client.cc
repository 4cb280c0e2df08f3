#include "backends/ipvs/testing/fake_ipvs_client.h"

#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs::testing {

absl::StatusOr<std::vector<IpvsService>> FakeIpvsClient::ListServices() {
  if (auto f = failures_.find("ListServices"); f != failures_.end()) return f->second;
  std::vector<IpvsService> out;
  for (const auto& [key, svc] : table_) {
    IpvsService copy = svc;
    copy.server.flags |= proxier::ipvs::kFlagHashed;  // the kernel reports every service hashed
    out.push_back(std::move(copy));
  }
  return out;
}

absl::Status FakeIpvsClient::AddService(const VirtualServer& server) {
  ++calls_["AddService"];
  if (auto f = failures_.find("AddService"); f != failures_.end()) return f->second;
  if (table_.contains(server.key)) {
    return absl::AlreadyExistsError(absl::StrCat("IPVS_CMD_NEW_SERVICE ", server.key.ToString(), ": EEXIST"));
  }
  table_[server.key].server = server;
  return absl::OkStatus();
}

absl::Status FakeIpvsClient::EditService(const VirtualServer& server) {
  ++calls_["EditService"];
  if (auto f = failures_.find("EditService"); f != failures_.end()) return f->second;
  auto it = table_.find(server.key);
  if (it == table_.end()) {
    return absl::NotFoundError(absl::StrCat("IPVS_CMD_SET_SERVICE ", server.key.ToString(), ": ESRCH"));
  }
  it->second.server = server;
  return absl::OkStatus();
}

absl::Status FakeIpvsClient::DeleteService(const VirtualServerKey& key) {
  ++calls_["DeleteService"];
  if (auto f = failures_.find("DeleteService"); f != failures_.end()) return f->second;
  if (table_.erase(key) == 0) {
    return absl::NotFoundError(absl::StrCat("IPVS_CMD_DEL_SERVICE ", key.ToString(), ": ESRCH"));
  }
  return absl::OkStatus();
}

absl::Status FakeIpvsClient::AddDestination(const VirtualServer& server, const RealServer& destination) {
  ++calls_["AddDestination"];
  if (auto f = failures_.find("AddDestination"); f != failures_.end()) return f->second;
  const std::string what = absl::StrCat("IPVS_CMD_NEW_DEST ", server.key.ToString(), " -> ", destination.key.ToString());
  auto it = table_.find(server.key);
  if (it == table_.end()) return absl::NotFoundError(absl::StrCat(what, ": ESRCH"));
  if (it->second.destinations.contains(destination.key)) return absl::AlreadyExistsError(absl::StrCat(what, ": EEXIST"));
  RealServer rs = destination;
  rs.active_connections = rs.inactive_connections = 0;
  it->second.destinations[rs.key] = rs;
  return absl::OkStatus();
}

absl::Status FakeIpvsClient::EditDestination(const VirtualServer& server, const RealServer& destination) {
  ++calls_["EditDestination"];
  if (auto f = failures_.find("EditDestination"); f != failures_.end()) return f->second;
  const std::string what = absl::StrCat("IPVS_CMD_SET_DEST ", server.key.ToString(), " -> ", destination.key.ToString());
  auto it = table_.find(server.key);
  if (it == table_.end()) return absl::NotFoundError(absl::StrCat(what, ": ESRCH"));
  auto d = it->second.destinations.find(destination.key);
  if (d == it->second.destinations.end()) return absl::NotFoundError(absl::StrCat(what, ": ENOENT"));
  d->second.weight = destination.weight;
  return absl::OkStatus();
}

absl::Status FakeIpvsClient::DeleteDestination(const VirtualServer& server, const RealServer& destination) {
  ++calls_["DeleteDestination"];
  if (auto f = failures_.find("DeleteDestination"); f != failures_.end()) return f->second;
  const std::string what = absl::StrCat("IPVS_CMD_DEL_DEST ", server.key.ToString(), " -> ", destination.key.ToString());
  auto it = table_.find(server.key);
  if (it == table_.end()) return absl::NotFoundError(absl::StrCat(what, ": ESRCH"));
  if (it->second.destinations.erase(destination.key) == 0) return absl::NotFoundError(absl::StrCat(what, ": ENOENT"));
  return absl::OkStatus();
}

void FakeIpvsClient::SetConnections(const VirtualServerKey& server, const proxier::ipvs::RealServerKey& dest,
                                    uint32_t active, uint32_t inactive) {
  auto it = table_.find(server);
  if (it == table_.end()) return;
  auto d = it->second.destinations.find(dest);
  if (d == it->second.destinations.end()) return;
  d->second.active_connections = active;
  d->second.inactive_connections = inactive;
}

int FakeIpvsClient::writes() const {
  int n = 0;
  for (const auto& [name, count] : calls_) n += count;
  return n;
}

absl::Status FakeIpvsClient::SetTimeouts(const proxier::ipvs::IpvsTimeouts& timeouts) {
  ++calls_["SetTimeouts"];
  if (auto f = failures_.find("SetTimeouts"); f != failures_.end()) return f->second;
  if (timeouts.tcp_seconds != 0) timeouts_.tcp_seconds = timeouts.tcp_seconds;
  if (timeouts.tcp_fin_seconds != 0) timeouts_.tcp_fin_seconds = timeouts.tcp_fin_seconds;
  if (timeouts.udp_seconds != 0) timeouts_.udp_seconds = timeouts.udp_seconds;
  return absl::OkStatus();
}

absl::StatusOr<proxier::ipvs::IpvsTimeouts> FakeIpvsClient::GetTimeouts() { return timeouts_; }

}  // namespace kproxy::backends::ipvs::testing
