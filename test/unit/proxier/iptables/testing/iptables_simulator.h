// IptablesSimulator: a test-only model of the filter and nat tables that kproxy writes. It applies
// iptables-restore --noflush input with the kernel's rules (headers flush, -X needs an unreferenced
// chain, jumps need declared chains) and traces a packet through kproxy's chains, following every
// branch of random/recent matches, to say where the packet goes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proxier/api_types.h"
#include "proxier/ip_address.h"

namespace kproxy::proxier::iptables::testing {

struct Packet {
  std::string source;
  std::string destination;
  int port = 0;
  Protocol protocol = Protocol::kTCP;
  std::string in_interface;  // for -i matches (detect-local by interface)
};

enum class Verdict { kNotIntercepted, kDnat, kDrop, kReject };

struct TraceResult {
  Verdict verdict = Verdict::kNotIntercepted;
  std::vector<std::string> endpoints;  // "ip:port", sorted, every reachable DNAT target
  bool masquerade = false;             // some DNAT path set the masquerade mark
  std::string error;                   // a rule the simulator cannot interpret; ToString shows it
  std::string ToString() const;
};

class IptablesSimulator {
 public:
  // `local_addresses`: the node's own addresses (addrtype LOCAL); loopback is always local.
  IptablesSimulator(std::vector<std::string> local_addresses, int masquerade_bit = 14);

  // iptables-restore --noflush semantics; on error the tables are left as they were.
  absl::Status Apply(absl::string_view restore_input);

  TraceResult Trace(const Packet& packet) const;

  // table -> chain -> rule lines (without "-A CHAIN"), for comparing whole states.
  using Tables = std::map<std::string, std::map<std::string, std::vector<std::string>>>;
  const Tables& tables() const { return tables_; }

 private:
  struct Walk;
  bool IsLocal(const IpAddress& ip) const;
  TraceResult TraceImpl(const Packet& packet) const;
  absl::StatusOr<bool> Matches(const std::vector<std::string>& tokens, size_t& i, Walk& walk,
                               bool& maybe) const;
  void WalkChain(const std::string& table, const std::string& chain, Walk walk, int depth,
                 std::vector<Walk>& finished) const;

  std::vector<IpAddress> local_addresses_;
  uint32_t masquerade_mark_;
  Tables tables_;
  mutable std::string trace_error_;  // first unparsable rule met by the current Trace
};

}  // namespace kproxy::proxier::iptables::testing
