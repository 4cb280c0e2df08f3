// Endpoint: one backend address:port of a ServicePort, with its conditions and topology
// (upstream's BaseEndpointInfo).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxier/ip_address.h"

namespace kproxy::proxier {

struct TopologyHints {
  std::vector<std::string> zones;  // hints.forZones
  std::vector<std::string> nodes;  // hints.forNodes
};

struct Endpoint {
  IpAddress ip;
  int32_t port = 0;
  bool is_local = false;  // nodeName equals this node
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  std::string node_name;
  std::string zone;
  // Topology hints, sorted; null when the endpoint has none (almost all: a pointer instead of two
  // vectors saves ~6 MB at 10k Services x 10 endpoints).
  std::shared_ptr<const TopologyHints> hints;

  const std::vector<std::string>& zone_hints() const { return hints ? hints->zones : NoHints(); }
  const std::vector<std::string>& node_hints() const { return hints ? hints->nodes : NoHints(); }
  bool has_zone_hints() const { return !zone_hints().empty(); }
  bool has_node_hints() const { return !node_hints().empty(); }
  // Sets the hints (sorted, unique); both empty leaves none.
  void SetHints(std::vector<std::string> zones, std::vector<std::string> nodes);

  // "10.0.0.1:80" / "[fd00::1]:80", the form used in SEP hashes and DNAT targets.
  std::string IpPort() const { return ip.JoinPort(port); }

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.ip == b.ip && a.port == b.port && a.is_local == b.is_local && a.ready == b.ready &&
           a.serving == b.serving && a.terminating == b.terminating && a.node_name == b.node_name &&
           a.zone == b.zone && a.zone_hints() == b.zone_hints() && a.node_hints() == b.node_hints();
  }

 private:
  static const std::vector<std::string>& NoHints() {
    static const std::vector<std::string> kNone;
    return kNone;
  }
};

inline void Endpoint::SetHints(std::vector<std::string> zones, std::vector<std::string> nodes) {
  if (zones.empty() && nodes.empty()) {
    hints = nullptr;
    return;
  }
  hints = std::make_shared<const TopologyHints>(TopologyHints{std::move(zones), std::move(nodes)});
}

}  // namespace kproxy::proxier
