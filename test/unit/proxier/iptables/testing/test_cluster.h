// TestCluster: builds ProxySnapshots for planner tests from Services (through the real
// ServicePortsOf) and per-port endpoint lists, and normalises restore input for comparisons.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "proxier/node_context.h"
#include "proxier/node_port_addresses.h"
#include "proxier/proxy_snapshot.h"
#include "proxier/service_change_tracker.h"
#include "test/unit/proxier/testing/builders.h"

namespace kproxy::proxier::iptables::testing {

inline constexpr char kTestNodeName[] = "test-node";
inline constexpr char kTestNodeIp[] = "192.168.0.2";

class TestCluster {
 public:
  explicit TestCluster(IpFamily family = IpFamily::kIPv4) : family_(family) {}

  // Adds (or replaces) the Service's ports; endpoints stay (they come from EndpointSlices).
  void AddService(const Service& service) {
    EraseService(service.metadata.namespace_name, service.metadata.name, /*with_endpoints=*/false);
    for (auto& [name, port] : ServicePortsOf(service, family_)) services_[name] = port;
  }
  void RemoveService(absl::string_view ns, absl::string_view name) {
    EraseService(ns, name, /*with_endpoints=*/true);
  }
  void EraseService(absl::string_view ns, absl::string_view name, bool with_endpoints) {
    // Keys sort by Service first, so its ports are contiguous from the smallest key.
    ServicePortName first{ServiceName{std::string(ns), std::string(name)}, "", Protocol::kTCP};
    for (auto it = services_.lower_bound(first);
         it != services_.end() && it->first.service == first.service;) {
      if (with_endpoints) endpoints_.erase(it->first);
      it = services_.erase(it);
    }
  }
  // Sets the endpoints of one ServicePort (sorted by ip:port, as the snapshot keeps them).
  void SetEndpoints(const ServicePortName& name, EndpointList endpoints) {
    std::sort(endpoints.begin(), endpoints.end(),
              [](const auto& a, const auto& b) { return a->IpPort() < b->IpPort(); });
    if (endpoints.empty()) {
      endpoints_.erase(name);
    } else {
      endpoints_[name] = std::move(endpoints);
    }
  }
  ProxySnapshot Snapshot() const {
    ProxySnapshot snapshot;
    snapshot.family = family_;
    snapshot.services = services_;
    snapshot.endpoints = endpoints_;
    return snapshot;
  }

 private:
  IpFamily family_;
  ServicePortMap services_;
  EndpointsMap endpoints_;
};

inline NodeContext TestNode(IpFamily family = IpFamily::kIPv4) {
  NodeContext node;
  node.node_name = kTestNodeName;
  node.family = family;
  node.node_ips.push_back(
      proxier::testing::Ip(family == IpFamily::kIPv4 ? kTestNodeIp : "fd00:192:168::2"));
  // Its interfaces: the node IP and loopback.
  node.local_addresses = {node.node_ips.front(),
                          proxier::testing::Ip(family == IpFamily::kIPv4 ? "127.0.0.1" : "::1")};
  return node;
}

// --nodeport-addresses `values` as the daemon builds them for TestNode(family).
inline NodePortAddresses TestNodePortAddresses(const std::vector<std::string>& values,
                                               IpFamily family = IpFamily::kIPv4) {
  return *NodePortAddresses::Create(family, values, TestNode(family).node_ips);
}

// A local (same node) endpoint.
inline std::shared_ptr<const Endpoint> LocalEndpoint(absl::string_view ip, int32_t port) {
  return proxier::testing::MakeEndpoint(ip, port, [](Endpoint& e) {
    e.is_local = true;
    e.node_name = kTestNodeName;
  });
}

// Restore input as table -> chain -> rules, plus declared chains per table. Rules keep their order
// within a chain; chains and tables are order-free (as upstream's own golden comparison).
struct NormalizedRestore {
  std::map<std::string, std::vector<std::string>> declared;  // table -> sorted chain names
  std::map<std::string, std::map<std::string, std::vector<std::string>>> rules;
  std::map<std::string, std::vector<std::string>> deleted;   // table -> sorted -X chains
  friend bool operator==(const NormalizedRestore&, const NormalizedRestore&) = default;
};

inline NormalizedRestore Normalize(absl::string_view input) {
  NormalizedRestore out;
  std::string table;
  for (absl::string_view raw : absl::StrSplit(input, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line == "COMMIT") continue;
    if (line[0] == '*') {
      table = std::string(line.substr(1));
      continue;
    }
    if (line[0] == ':') {
      out.declared[table].push_back(std::string(line.substr(1, line.find(' ') - 1)));
      continue;
    }
    std::vector<std::string> words = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    if (words[0] == "-X") {
      out.deleted[table].push_back(words[1]);
    } else {
      out.rules[table][words[1]].push_back(std::string(line));
    }
  }
  for (auto& [t, chains] : out.declared) std::sort(chains.begin(), chains.end());
  for (auto& [t, chains] : out.deleted) std::sort(chains.begin(), chains.end());
  return out;
}

inline std::string Describe(const NormalizedRestore& n) {
  std::string out;
  for (const auto& [table, chains] : n.declared) {
    out += "*" + table + "\n";
    for (const auto& c : chains) out += ":" + c + "\n";
    auto it = n.rules.find(table);
    if (it != n.rules.end()) {
      for (const auto& [chain, rules] : it->second) {
        for (const auto& r : rules) out += r + "\n";
      }
    }
    auto d = n.deleted.find(table);
    if (d != n.deleted.end()) {
      for (const auto& c : d->second) out += "-X " + c + "\n";
    }
  }
  return out;
}

}  // namespace kproxy::proxier::iptables::testing
