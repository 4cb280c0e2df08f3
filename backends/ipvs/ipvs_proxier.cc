#include "backends/ipvs/ipvs_proxier.h"

#include <sys/utsname.h>

#include "absl/strings/str_cat.h"
#include "backends/conntrack/stale_flow_cleaner.h"
#include "backends/ipvs/ipset_restore_writer.h"
#include "backends/ipvs/ipvs_applier.h"
#include "backends/ipvs/ipvs_sysctls.h"
#include "backends/ipvs/netlink_ipvs_client.h"
#include "backends/ipvs/netlink_link_manager.h"
#include "logging/log.h"
#include "proxier/ipvs/ipvs_diff.h"

namespace kproxy::backends::ipvs {
namespace {

using proxier::IpFamily;
using proxier::ipvs::DesiredIpvsState;
using proxier::ipvs::ObservedIpvsState;

iptables::Table TableOf(absl::string_view name) {
  return name == "nat" ? iptables::Table::kNat : iptables::Table::kFilter;
}

bool Excluded(const std::vector<proxier::Cidr>& cidrs, const proxier::IpAddress& ip) {
  for (const auto& c : cidrs) {
    if (c.Contains(ip)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<IpvsKernel> CreateNetlinkIpvsKernel() {
  IpvsKernel kernel;
  auto ipvs = NetlinkIpvsClient::Create();
  if (!ipvs.ok()) return ipvs.status();
  auto links = NetlinkLinkManager::Create();
  if (!links.ok()) return links.status();
  kernel.ipvs = std::move(*ipvs);
  kernel.links = std::move(*links);
  kernel.ipsets = std::make_unique<IpsetRestoreWriter>();
  return kernel;
}

IpvsProxier::IpvsProxier(std::vector<IpvsFamily> families, IpvsKernel kernel, IpvsProxierOptions options)
    : kernel_(std::move(kernel)), options_(std::move(options)) {
  for (auto& f : families) families_.push_back(FamilyState{std::move(f), {}, false});
}

absl::StatusOr<std::unique_ptr<IpvsProxier>> IpvsProxier::Create(std::vector<IpvsFamily> families, IpvsKernel kernel,
                                                                 IpvsProxierOptions options) {
  for (const auto& f : families) {
    if (f.state == nullptr) return absl::InvalidArgumentError("IpvsProxier: family without ProxyState");
  }
  if (!options.dry_run) {
    if (!kernel.ipvs || !kernel.links || !kernel.ipsets) {
      return absl::InvalidArgumentError("IpvsProxier: kernel writers missing");
    }
    if (options.apply_sysctls) {
      utsname u{};
      uname(&u);
      if (absl::Status s = ApplySysctls(IpvsSysctls(u.release, options.strict_arp)); !s.ok()) return s;
    }
    if (absl::Status s = kernel.links->EnsureDummyLink(proxier::ipvs::kDummyDevice); !s.ok()) return s;
    if (options.timeouts.any()) {
      // As upstream: a node that refuses them still proxies, with the kernel's timeouts.
      if (absl::Status s = kernel.ipvs->SetTimeouts(options.timeouts); !s.ok()) {
        KLOG_ERROR << "Failed to configure IPVS timeouts: " << s.message();
      }
    }
  }
  return std::unique_ptr<IpvsProxier>(new IpvsProxier(std::move(families), std::move(kernel), std::move(options)));
}

void IpvsProxier::ForceFullSync() {
  absl::MutexLock lock(&mu_);
  full_sync_needed_ = true;
}

void IpvsProxier::SetNodeContext(const proxier::NodeContext& node) {
  absl::MutexLock lock(&mu_);
  for (auto& f : families_) {
    if (f.config.node.family == node.family) f.config.node = node;
  }
}

std::vector<proxier::PassThroughConflict> IpvsProxier::Conflicts() const {
  absl::MutexLock lock(&mu_);
  std::vector<proxier::PassThroughConflict> out;
  for (const auto& f : families_) out.insert(out.end(), f.conflicts.begin(), f.conflicts.end());
  return out;
}

void IpvsProxier::ReportConflicts(FamilyState& family, const std::vector<proxier::PassThroughConflict>& conflicts) {
  if (family.conflicts_reported && family.conflicts == conflicts) return;
  for (const auto& c : conflicts) {
    bool known = false;
    for (const auto& old : family.conflicts) known = known || old == c;
    if (!known) KLOG_WARNING << c.message;
  }
  family.conflicts = conflicts;
  family.conflicts_reported = true;
  if (options_.on_conflicts) options_.on_conflicts(family.config.node.family, conflicts);
}

absl::StatusOr<proxier::ipvs::IpvsHostAddresses> IpvsProxier::HostAddresses(const IpvsFamily& family) {
  proxier::ipvs::IpvsHostAddresses host;
  if (!family.node_port_addresses || kernel_.links == nullptr) {
    host.node_port_addresses = family.node.node_ips;
    host.local_addresses = family.node.node_ips;
    return host;
  }
  // Read at every sync, as upstream: addresses come and go (DHCP, VIPs of other software).
  auto local = kernel_.links->ListLocalAddresses(proxier::ipvs::kDummyDevice, family.node.family);
  if (!local.ok()) {
    return absl::Status(local.status().code(),
                        absl::StrCat("listing the node's local addresses: ", local.status().message()));
  }
  auto node_ports = family.node_port_addresses(family.node, *local);
  if (!node_ports.ok()) return node_ports.status();
  host.node_port_addresses = *std::move(node_ports);
  host.local_addresses.assign(local->begin(), local->end());
  return host;
}

proxier::ConntrackCleanupReport IpvsProxier::CleanStaleFlows(const IpvsFamily& family,
                                                             const proxier::ProxySnapshot& snapshot,
                                                             DesiredIpvsState& desired) {
  // Only the UDP ServicePorts matter to the cleaner; they come from the plan, so a VIP whose ELB
  // group enforces binding is not mistaken for pass-through (its flows are valid), and one that
  // became pass-through has its DNAT'd flows removed.
  proxier::ProxySnapshot udp;
  udp.family = snapshot.family;
  udp.services = std::move(desired.udp_service_ports);
  for (const auto& [name, port] : udp.services) {
    if (auto it = snapshot.endpoints.find(name); it != snapshot.endpoints.end()) udp.endpoints.emplace(name, it->second);
  }
  return conntrack::CleanStaleUdpFlowsAfterSync(*family.conntrack, udp, family.node);
}

absl::StatusOr<ObservedIpvsState> IpvsProxier::Observe(IpFamily family, const std::vector<IpvsService>& all) {
  ObservedIpvsState observed;
  for (const IpvsService& svc : all) {
    if (svc.server.key.address.family() != family) continue;
    if (Excluded(options_.exclude_cidrs, svc.server.key.address)) continue;
    observed.services[svc.server.key] = svc;
  }
  if (kernel_.links) {
    auto addrs = kernel_.links->ListAddresses(proxier::ipvs::kDummyDevice, family);
    if (addrs.ok()) {
      observed.bound_addresses = std::move(*addrs);
    } else if (!absl::IsNotFound(addrs.status())) {
      return addrs.status();
    }
  }
  return observed;
}

absl::StatusOr<proxier::SyncReport> IpvsProxier::Sync() {
  absl::MutexLock lock(&mu_);
  if (options_.dry_run) return absl::FailedPreconditionError("IpvsProxier created for dry-run cannot Sync()");
  const bool full = full_sync_needed_;
  proxier::SyncReport report;
  report.full = full;
  int ops_total = 0;
  int ipset_sets = 0;
  absl::Status first_error;
  auto fail = [&](absl::Status s) {
    if (first_error.ok()) first_error = std::move(s);
  };

  // kube-ipvs0 may have been deleted behind our back.
  if (absl::Status s = kernel_.links->EnsureDummyLink(proxier::ipvs::kDummyDevice); !s.ok()) fail(s);
  auto all = kernel_.ipvs->ListServices();
  if (!all.ok()) {
    full_sync_needed_ = true;
    return all.status();
  }

  for (FamilyState& family : families_) {
    proxier::ProxyState::Taken taken = family.config.state->TakeSnapshot();
    report.changed_services += taken.changed.size();
    if (taken.snapshot == nullptr) continue;
    auto host = HostAddresses(family.config);
    if (!host.ok()) {
      // Planning without them would delete every NodePort virtual server; keep the kernel as it is.
      fail(host.status());
      continue;
    }
    DesiredIpvsState desired =
        proxier::ipvs::PlanIpvs(*taken.snapshot, family.config.node, options_.planner, *host);
    ReportConflicts(family, desired.conflicts);
    if (!report.pass_through_services.has_value()) report.pass_through_services.emplace();
    for (const proxier::ServiceName& service : desired.pass_through_services) {
      report.pass_through_services->insert(service.ToString());
    }
    report.families.push_back(family.config.node.family);
    for (absl::Time t : taken.change_times)
      report.change_times.emplace_back(family.config.node.family, t);
    report.no_local_endpoints[family.config.node.family]["internal"] +=
        desired.no_local_internal_endpoints;
    report.no_local_endpoints[family.config.node.family]["external"] +=
        desired.no_local_external_endpoints;

    // The ipsets first: the iptables rules name them, and KUBE-IPVS-FILTER must know new VIPs
    // before they are bound.
    if (absl::Status s = kernel_.ipsets->Sync(desired.ipsets); !s.ok()) fail(s);
    ipset_sets += static_cast<int>(desired.ipsets.size());
    if (family.config.iptables != nullptr) {
      if (absl::Status s = family.config.iptables->Restore(desired.iptables_restore); !s.ok()) fail(s);
      if (full) {
        for (const auto& jump : proxier::ipvs::IpvsJumpRules()) {
          if (absl::Status s = family.config.iptables->EnsureRule(TableOf(jump.table), jump.chain, jump.rule); !s.ok()) {
            fail(s);
          }
        }
      }
    }

    auto observed = Observe(family.config.node.family, *all);
    if (!observed.ok()) {
      fail(observed.status());
      continue;
    }
    std::vector<proxier::ipvs::IpvsOperation> ops = proxier::ipvs::DiffIpvs(desired, *observed);
    ops_total += static_cast<int>(ops.size());
    for (const auto& op : ops) KLOG_V(3) << "IPVS " << op.ToString();
    ApplyResult applied = IpvsApplier(kernel_.ipvs.get(), kernel_.links.get(), proxier::ipvs::kDummyDevice).Apply(ops);
    if (!applied.first_error.ok()) {
      fail(absl::Status(applied.first_error.code(),
                        absl::StrCat(applied.failed, " of ", ops.size(), " IPVS operations failed, first: ",
                                     applied.first_error.message())));
    }
    // Conntrack keeps UDP flows pinned to endpoints that are gone, and to VIPs that just became
    // pass-through; only changed Services (or a full sync) can have such flows.
    if (family.config.conntrack != nullptr && (full || !taken.changed.empty())) {
      report.conntrack_cleanups.push_back(CleanStaleFlows(family.config, *taken.snapshot, desired));
    }
  }

  if (!first_error.ok()) {
    full_sync_needed_ = true;
    return first_error;
  }
  full_sync_needed_ = false;
  report.detail = absl::StrCat(ops_total, " IPVS operations, ", ipset_sets, " ipsets synced");
  return report;
}

absl::StatusOr<std::string> IpvsProxier::DryRun() {
  absl::MutexLock lock(&mu_);
  std::vector<IpvsService> all;
  if (kernel_.ipvs && !options_.dry_run) {
    auto listed = kernel_.ipvs->ListServices();
    if (listed.ok()) all = std::move(*listed);
  }
  std::string out;
  for (FamilyState& family : families_) {
    proxier::ProxyState::Taken taken = family.config.state->TakeSnapshot();
    if (taken.snapshot == nullptr) continue;
    const IpFamily fam = family.config.node.family;
    const std::string name(proxier::IpFamilyName(fam));
    // A dry-run proxier reads nothing: the node's IPs stand for its local addresses.
    auto host = HostAddresses(family.config);
    if (!host.ok()) return host.status();
    DesiredIpvsState desired =
        proxier::ipvs::PlanIpvs(*taken.snapshot, family.config.node, options_.planner, *host);
    ObservedIpvsState observed;
    if (!options_.dry_run) {
      auto o = Observe(fam, all);
      if (o.ok()) observed = std::move(*o);
    }
    absl::StrAppend(&out, "# ", name, " IPVS operations\n");
    for (const auto& op : proxier::ipvs::DiffIpvs(desired, observed)) absl::StrAppend(&out, op.ToString(), "\n");
    absl::StrAppend(&out, "# ", name, " addresses on ", proxier::ipvs::kDummyDevice, "\n");
    for (const auto& ip : desired.bound_addresses) absl::StrAppend(&out, ip.ToString(), "\n");
    absl::StrAppend(&out, "# ", name, " ipsets (ipset restore input for empty sets)\n");
    absl::StrAppend(&out, RenderIpsetRestore(desired.ipsets, {}));
    absl::StrAppend(&out, "# ", name, " iptables-restore input\n", desired.iptables_restore);
    for (const auto& c : desired.conflicts) absl::StrAppend(&out, "# pass-through conflict: ", c.message, "\n");
  }
  return out;
}

}  // namespace kproxy::backends::ipvs
