// IptablesPlan: the complete desired filter and nat tables of one IP family, kept as per-ServicePort
// fragments plus the top-level chains assembled from them, so a later plan can reuse unchanged
// fragments and a renderer can write only chains whose content changed.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "proxier/node_context.h"
#include "proxier/service_port.h"

namespace kproxy::proxier::iptables {

// One chain: its name and its rules as iptables-restore lines ("-A NAME ...\n"), in order.
struct PlannedChain {
  std::string name;
  std::string rules;
  friend bool operator==(const PlannedChain&, const PlannedChain&) = default;
};

// Everything one ServicePort contributes: its own nat chains (SVC/SVL/EXT/FW/SEP) and its lines in
// the shared top-level chains.
struct ServicePortFragment {
  std::vector<PlannedChain> nat_chains;
  std::string nat_services;              // nat KUBE-SERVICES
  std::string nat_nodeports;             // nat KUBE-NODEPORTS
  std::string filter_services;           // filter KUBE-SERVICES (no endpoints)
  std::string filter_external_services;  // filter KUBE-EXTERNAL-SERVICES
  std::string filter_nodeports;          // filter KUBE-NODEPORTS (health-check node port)
  std::string filter_proxy_firewall;     // filter KUBE-PROXY-FIREWALL
  // "ip:port" -> KUBE-SEP name, sorted by endpoint: reused when the fragment is rebuilt, so an
  // endpoint is hashed once in its lifetime.
  std::vector<std::pair<std::string, std::string>> endpoint_chain_names;
  std::string port_proto_hash;  // shared by the SVC/SVL/EXT/FW names
};

using FragmentMap = absl::btree_map<ServicePortName, std::shared_ptr<const ServicePortFragment>>;

struct IptablesPlan {
  IpFamily family = IpFamily::kIPv4;
  bool large_cluster_mode = false;
  NodeContext node;  // the node context planned for; a different one invalidates every fragment
  FragmentMap fragments;
  // Top-level chains, in the order they are written.
  std::vector<PlannedChain> filter_chains;
  std::vector<PlannedChain> nat_chains;

  // Number of chains (top-level and per-ServicePort) of the nat table.
  size_t NatChainCount() const;
};

}  // namespace kproxy::proxier::iptables
