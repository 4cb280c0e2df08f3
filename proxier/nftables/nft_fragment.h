// NftFragment: what the table-wide part, or one ServicePort, contributes to the kube-proxy table;
// the unit the planners build and the sync planner keeps between syncs. Internal to
// proxier/nftables.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "proxier/nftables/nft_ruleset.h"
#include "proxier/nftables/nftables_planner.h"
#include "proxier/node_context.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier::nftables {

struct NftFragment {
  std::vector<NftChain> chains;  // sorted by name; the fragment owns them
  std::vector<NftSet> sets;      // sorted by name; the fragment owns them
  // Elements, of its own sets or of table-wide ones, in planning order; a key may repeat (the
  // first one counts).
  std::vector<std::pair<std::string, NftElement>> elements;
  friend bool operator==(const NftFragment&, const NftFragment&) = default;
};

// Plans fragments for one family, node and options. Pure.
class NftFragmentPlanner {
 public:
  NftFragmentPlanner(IpFamily family, const NodeContext& node,
                     const NftablesPlannerOptions& options);
  ~NftFragmentPlanner();

  NftFragment TableWide() const;
  NftFragment ForServicePort(const ServicePort& service, const EndpointList& endpoints) const;

 private:
  class Impl;
  Impl* impl_;
};

// An element's key as nft text ("10.96.0.10 . tcp . 80"): its identity in its set.
std::string ElementKeyText(const NftElement& element);

// Whether a rule statement refers to set or map `name` ("@name" followed by a space or the end).
bool StatementRefersToSet(absl::string_view statement, absl::string_view name);

// The table assembled from fragments (table-wide first, then ServicePorts in order): chains and
// sets sorted by name, each element key kept once (the first).
NftRuleset AssembleRuleset(IpFamily family, const std::vector<const NftFragment*>& fragments);

}  // namespace kproxy::proxier::nftables
