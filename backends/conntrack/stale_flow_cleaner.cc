#include "backends/conntrack/stale_flow_cleaner.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "logging/log.h"

namespace kproxy::backends::conntrack {
namespace {

using IpSet = absl::flat_hash_set<proxier::IpAddress>;
using IpPort = std::pair<proxier::IpAddress, uint16_t>;

}  // namespace

std::vector<ConntrackEntry> FindStaleUdpFlows(const std::vector<ConntrackEntry>& entries,
                                              const proxier::ProxySnapshot& snapshot,
                                              const proxier::NodeContext& node) {
  // Sets are shared per ServicePort; the maps hold indices into `endpoint_sets`.
  std::vector<IpSet> endpoint_sets;
  absl::flat_hash_map<IpPort, size_t> by_service_ip;
  absl::flat_hash_map<uint16_t, size_t> by_node_port;
  absl::flat_hash_set<IpPort> pass_through;

  for (const auto& [name, svc] : snapshot.services) {
    if (svc == nullptr || svc->protocol != proxier::Protocol::kUDP) continue;
    const auto port = static_cast<uint16_t>(svc->port);
    for (const proxier::IpAddress& vip : svc->pass_through_vips) pass_through.insert({vip, port});

    IpSet serving;
    for (const auto& ep : snapshot.EndpointsOf(name)) {
      // Traffic policies, topology and terminating state are ignored on purpose: changing them must
      // not break existing flows, just as it does not for TCP.
      if (ep != nullptr && ep->serving) serving.insert(ep->ip);
    }
    // No serving endpoint: nothing to redirect flows to, keep them.
    if (serving.empty()) continue;
    endpoint_sets.push_back(std::move(serving));
    const size_t idx = endpoint_sets.size() - 1;
    by_service_ip[{svc->cluster_ip, port}] = idx;
    for (const auto& ip : svc->load_balancer_vips) by_service_ip[{ip, port}] = idx;
    for (const auto& ip : svc->external_ips) by_service_ip[{ip, port}] = idx;
    if (svc->node_port != 0) by_node_port[static_cast<uint16_t>(svc->node_port)] = idx;
  }

  std::vector<ConntrackEntry> stale;
  for (const ConntrackEntry& e : entries) {
    if (e.protocol != proxier::Protocol::kUDP) continue;
    bool remove = false;
    if (auto it = by_service_ip.find(IpPort{e.orig_destination, e.orig_destination_port}); it != by_service_ip.end()) {
      remove = !endpoint_sets[it->second].contains(e.reply_source);
    }
    if (!remove) {
      if (auto it = by_node_port.find(e.orig_destination_port); it != by_node_port.end()) {
        remove = !endpoint_sets[it->second].contains(e.reply_source);
      }
    }
    if (!remove && pass_through.contains(IpPort{e.orig_destination, e.orig_destination_port})) {
      remove = e.reply_source != e.orig_destination;
    }
    if (remove) stale.push_back(e);
  }
  return stale;
}

absl::StatusOr<size_t> CleanStaleUdpFlows(ConntrackClient& client, const proxier::ProxySnapshot& snapshot,
                                          const proxier::NodeContext& node) {
  absl::StatusOr<std::vector<ConntrackEntry>> entries = client.List(proxier::Protocol::kUDP);
  if (!entries.ok()) return entries.status();
  std::vector<ConntrackEntry> stale = FindStaleUdpFlows(*entries, snapshot, node);
  if (stale.empty()) return 0;
  absl::StatusOr<size_t> deleted = client.Delete(stale);
  if (deleted.ok()) {
    KLOG_V(4) << "Removed " << *deleted << " stale " << proxier::IpFamilyName(client.family())
              << " UDP conntrack entries";
  }
  return deleted;
}

proxier::ConntrackCleanupReport CleanStaleUdpFlowsAfterSync(ConntrackClient& client,
                                                            const proxier::ProxySnapshot& snapshot,
                                                            const proxier::NodeContext& node) {
  const absl::Time started = absl::Now();
  absl::StatusOr<size_t> deleted = CleanStaleUdpFlows(client, snapshot, node);
  proxier::ConntrackCleanupReport report{.family = client.family(),
                                         .duration = absl::Now() - started};
  if (!deleted.ok()) {
    KLOG_WARNING << proxier::IpFamilyName(snapshot.family) << ": stale UDP flow cleanup: " << deleted.status();
  } else {
    report.deleted = *deleted;
    if (*deleted > 0) {
      KLOG_V(2) << proxier::IpFamilyName(snapshot.family) << ": deleted " << *deleted
                << " stale UDP flows";
    }
  }
  return report;
}

}  // namespace kproxy::backends::conntrack
