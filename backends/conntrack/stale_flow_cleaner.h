// Stale UDP flow cleanup after a sync (upstream's conntrack.CleanStaleEntries), plus pass-through:
// flows to an ELB address that were DNAT'd on the node are removed so they go to the load balancer.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "backends/conntrack/conntrack_client.h"
#include "proxier/node_context.h"
#include "proxier/proxier.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::backends::conntrack {

// The entries of `entries` to delete, in input order, pure:
//  - UDP entries to ClusterIP:port, each load-balancer VIP:port or external IP:port of a UDP
//    ServicePort with at least one serving endpoint, or to its node port on any address, whose reply
//    source is not the IP of one of those serving endpoints (matched by IP, as upstream does);
//  - UDP entries to a pass-through VIP:port of a UDP ServicePort whose reply source differs from the
//    original destination (they were DNAT'd here before the VIP became pass-through).
// Non-UDP entries are never selected.
std::vector<ConntrackEntry> FindStaleUdpFlows(const std::vector<ConntrackEntry>& entries,
                                              const proxier::ProxySnapshot& snapshot,
                                              const proxier::NodeContext& node);

// Lists UDP entries of the client's family, deletes FindStaleUdpFlows of them; returns how many were
// deleted. A listing or deletion error is returned (callers log it; the next sync retries).
absl::StatusOr<size_t> CleanStaleUdpFlows(ConntrackClient& client, const proxier::ProxySnapshot& snapshot,
                                          const proxier::NodeContext& node);

// CleanStaleUdpFlows for a proxier's sync: an error is logged as a warning (the sync itself
// succeeded; the next one retries), deletions at -v 2. Returns how long it took and what it
// deleted, for the sync's report.
proxier::ConntrackCleanupReport CleanStaleUdpFlowsAfterSync(ConntrackClient& client,
                                                            const proxier::ProxySnapshot& snapshot,
                                                            const proxier::NodeContext& node);

}  // namespace kproxy::backends::conntrack
