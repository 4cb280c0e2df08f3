// Endpoint: one backend address:port of a ServicePort, with its conditions and topology
// (upstream's BaseEndpointInfo).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proxier/ip_address.h"

namespace kproxy::proxier {

struct Endpoint {
  IpAddress ip;
  int32_t port = 0;
  bool is_local = false;  // nodeName equals this node
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  std::string node_name;
  std::string zone;
  // Sorted; absent hints are an empty vector with has_*_hints false.
  bool has_zone_hints = false;
  std::vector<std::string> zone_hints;
  bool has_node_hints = false;
  std::vector<std::string> node_hints;

  // "10.0.0.1:80" / "[fd00::1]:80", the form used in SEP hashes and DNAT targets.
  std::string IpPort() const { return ip.JoinPort(port); }

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

}  // namespace kproxy::proxier
