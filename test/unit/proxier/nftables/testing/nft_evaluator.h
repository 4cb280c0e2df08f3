// NftEvaluator: a test-only interpreter of an NftRuleset for the statement grammar of
// nft_ruleset.h, following one new connection's first packet through the netfilter hooks
// (base chains by hook and priority, jump/goto/return, verdict maps, data sets, numgen endpoint
// maps, the masquerade mark), so packet-flow tables survive rule reordering. It fails loudly on
// a statement outside the grammar.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "proxier/ip_address.h"
#include "proxier/nftables/nft_ruleset.h"

namespace kproxy::proxier::nftables::testing {

struct FlowPacket {
  std::string source;       // address
  std::string destination;  // address
  int port = 0;
  std::string protocol = "tcp";
  std::string input_interface = "eth0";  // iifname of an arriving packet
};

// What happened to the packet for one choice of endpoint.
struct FlowOutcome {
  std::string verdict;  // "ACCEPT", "DROP" or "REJECT"
  std::string dnat;     // "10.180.0.1:80", empty when not DNAT'd
  bool masquerade = false;
};

struct DynamicMaps;

class NftEvaluator {
 public:
  // `local_addresses`: the node's own addresses (sources of node-originated packets, and
  // destinations delivered to the input hook). 127.0.0.1 and ::1 are always local.
  NftEvaluator(const NftRuleset& ruleset, std::vector<std::string> local_addresses);
  ~NftEvaluator();

  // One outcome per endpoint the random choice can pick (one outcome when no choice is made). A
  // packet whose source is a local address takes the output path, others the prerouting path.
  // Dynamic maps (session affinity) start empty; Trace reads them and writes nothing, except
  // for the outcome `record_choice` when it is given (see Connect).
  std::vector<FlowOutcome> Trace(const FlowPacket& packet, int record_choice = -1) const;

  // Opens one connection whose random choice is `choice` (0-based; the last one when there are
  // fewer) and keeps what it wrote into dynamic maps. Returns its DNAT target ("" if none).
  std::string Connect(const FlowPacket& packet, int choice);
  // Empties the dynamic maps, as the diff's flush of an affinity map does.
  void FlushDynamicMaps();

  // Upstream's flow-table notation: "10.180.0.1:80" / "10.180.0.1:80, 10.180.0.2:80" (sorted),
  // "DROP", "REJECT", or "" (accepted, not DNAT'd); masquerade true only if every outcome is.
  struct Summary {
    std::string output;
    bool masquerade = false;
    std::string error;  // a grammar error or outcomes that disagree on anything but the endpoint
  };
  Summary Summarize(const FlowPacket& packet) const;

 private:
  const NftRuleset& ruleset_;
  std::vector<std::string> local_addresses_;
  std::unique_ptr<DynamicMaps> dynamic_;
};

}  // namespace kproxy::proxier::nftables::testing
