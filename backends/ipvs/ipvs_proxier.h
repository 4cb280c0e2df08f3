// IpvsProxier: IPVS mode — per IP family, snapshot -> PlanIpvs -> read the kernel -> DiffIpvs ->
// ipsets, companion iptables rules, IPVS operations and kube-ipvs0 addresses.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/container/btree_set.h"
#include "backends/conntrack/conntrack_client.h"
#include "backends/iptables/iptables_runner.h"
#include "backends/ipvs/ipset_writer.h"
#include "backends/ipvs/ipvs_client.h"
#include "backends/ipvs/link_manager.h"
#include "proxier/ipvs/ipvs_planner.h"
#include "proxier/node_context.h"
#include "proxier/pass_through_policy.h"
#include "proxier/proxier.h"
#include "proxier/proxy_state.h"

namespace kproxy::backends::ipvs {

// The kernel writers IPVS mode uses. In dry-run mode any of them may be null (nothing is read).
struct IpvsKernel {
  std::unique_ptr<IpvsClient> ipvs;
  std::unique_ptr<LinkManager> links;
  std::unique_ptr<IpsetWriter> ipsets;
};

// The real writers: NetlinkIpvsClient, NetlinkLinkManager, IpsetRestoreWriter. Unavailable when the
// kernel has no IPVS.
absl::StatusOr<IpvsKernel> CreateNetlinkIpvsKernel();

// Picks the NodePort addresses of a family from the node's local addresses (every address not on
// kube-ipvs0, read at each sync): --nodeport-addresses applied. The daemon supplies it.
using NodePortAddressResolver = std::function<absl::StatusOr<std::vector<proxier::IpAddress>>(
    const proxier::NodeContext& node, const absl::btree_set<proxier::IpAddress>& local_addresses)>;

// One IP family the proxier programs.
struct IpvsFamily {
  proxier::ProxyState* state = nullptr;  // not owned; snapshots come from here
  proxier::NodeContext node;             // node IPs of this family
  iptables::IptablesRunner* iptables = nullptr;  // not owned; the companion rules of this family
  // Set: each sync reads the local addresses (LinkManager::ListLocalAddresses) and the NodePort
  // virtual servers go where this says; external IPs / LB VIPs that are local are not bound.
  // Unset: node.node_ips serve for both and no interface is read.
  NodePortAddressResolver node_port_addresses;
  // Optional, not owned: stale UDP flows of this family are deleted after syncs that changed
  // Services (upstream's conntrack.CleanStaleEntries).
  conntrack::ConntrackClient* conntrack = nullptr;
};

struct IpvsProxierOptions {
  proxier::ipvs::IpvsPlannerConfig planner;
  bool strict_arp = false;                  // --ipvs-strict-arp
  std::vector<proxier::Cidr> exclude_cidrs;  // --ipvs-exclude-cidrs: virtual servers there are left alone
  bool apply_sysctls = true;                // false in unit tests
  proxier::ipvs::IpvsTimeouts timeouts;     // --ipvs-tcp-timeout etc.; all 0: left as they are
  bool dry_run = false;                     // Create() touches nothing; only DryRun() may be called
  // Called (from Sync) when a family's list of pass-through conflicts changed, with the new list
  // (possibly empty). The daemon turns it into a metric and Events.
  std::function<void(proxier::IpFamily, const std::vector<proxier::PassThroughConflict>&)> on_conflicts;
};

class IpvsProxier final : public proxier::Proxier {
 public:
  // Sets the IPVS sysctls and makes sure kube-ipvs0 exists (unless dry_run).
  static absl::StatusOr<std::unique_ptr<IpvsProxier>> Create(std::vector<IpvsFamily> families, IpvsKernel kernel,
                                                             IpvsProxierOptions options);

  absl::StatusOr<proxier::SyncReport> Sync() override;
  absl::StatusOr<std::string> DryRun() override;
  void ForceFullSync() override;

  // The node's addresses changed (Node object update).
  void SetNodeContext(const proxier::NodeContext& node);
  // The current conflicts of every family, for the daemon's status.
  std::vector<proxier::PassThroughConflict> Conflicts() const;

 private:
  struct FamilyState {
    IpvsFamily config;
    std::vector<proxier::PassThroughConflict> conflicts;
    bool conflicts_reported = false;
  };
  IpvsProxier(std::vector<IpvsFamily> families, IpvsKernel kernel, IpvsProxierOptions options);
  absl::StatusOr<proxier::ipvs::ObservedIpvsState> Observe(proxier::IpFamily family,
                                                           const std::vector<IpvsService>& all);
  // The family's node addresses for this sync: read from the kernel when the family has a
  // resolver and the kernel can be read, else node.node_ips.
  absl::StatusOr<proxier::ipvs::IpvsHostAddresses> HostAddresses(const IpvsFamily& family);
  // Deletes the family's stale UDP flows (logged, never a sync failure: the next sync retries).
  proxier::ConntrackCleanupReport CleanStaleFlows(const IpvsFamily& family,
                                                  const proxier::ProxySnapshot& snapshot,
                                                  proxier::ipvs::DesiredIpvsState& desired);
  void ReportConflicts(FamilyState& family, const std::vector<proxier::PassThroughConflict>& conflicts);

  mutable absl::Mutex mu_;
  std::vector<FamilyState> families_ ABSL_GUARDED_BY(mu_);
  IpvsKernel kernel_;
  IpvsProxierOptions options_;
  bool full_sync_needed_ ABSL_GUARDED_BY(mu_) = true;
};

}  // namespace kproxy::backends::ipvs
