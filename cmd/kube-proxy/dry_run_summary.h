// DryRunSummary: the human-readable account --dry-run prints of what the proxy understood: every
// Service port with its addresses, the endpoints it would use (cluster-wide and node-local), and
// its pass-through decision with the reason.
#pragma once

#include <string>
#include <vector>

#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::daemon {

struct DryRunFamily {
  const proxier::ProxySnapshot* snapshot = nullptr;  // not owned
  proxier::NodeContext node;
};

struct DryRunInput {
  std::string node_name;
  bool node_found = false;
  std::string mode;  // "iptables" / "ipvs"
  std::vector<DryRunFamily> families;  // primary family first
  std::vector<std::string> problems;   // rejected objects, files that did not load
};

// Deterministic text: same input, same bytes.
std::string RenderDryRunSummary(const DryRunInput& input);

}  // namespace kproxy::daemon
