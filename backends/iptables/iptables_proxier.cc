#include "backends/iptables/iptables_proxier.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "backends/conntrack/stale_flow_cleaner.h"
#include "logging/log.h"
#include "proxier/iptables/chain_names.h"
#include "proxier/kube_chains.h"
#include "proxier/iptables/restore_renderer.h"

namespace kproxy::backends::iptables {

namespace pi = ::kproxy::proxier::iptables;

std::vector<std::string> JumpRule::Args() const {
  std::vector<std::string> args = extra_args;
  if (comment[0] != '\0') {
    args.insert(args.end(), {"-m", "comment", "--comment", comment});
  }
  args.insert(args.end(), {"-j", destination});
  return args;
}

const std::vector<JumpRule>& JumpRules() {
  static const std::vector<JumpRule>* const kRules = [] {
    const std::vector<std::string> kNew = {"-m", "conntrack", "--ctstate", "NEW"};
    return new std::vector<JumpRule>{
        {Table::kFilter, proxier::kExternalServicesChain, "INPUT", "kubernetes externally-visible service portals", kNew},
        {Table::kFilter, proxier::kExternalServicesChain, "FORWARD", "kubernetes externally-visible service portals", kNew},
        {Table::kFilter, proxier::kNodePortsChain, "INPUT", "kubernetes health check service ports", {}},
        {Table::kFilter, proxier::kServicesChain, "FORWARD", "kubernetes service portals", kNew},
        {Table::kFilter, proxier::kServicesChain, "OUTPUT", "kubernetes service portals", kNew},
        {Table::kFilter, proxier::kForwardChain, "FORWARD", "kubernetes forwarding rules", {}},
        {Table::kFilter, proxier::kProxyFirewallChain, "INPUT", "kubernetes load balancer firewall", kNew},
        {Table::kFilter, proxier::kProxyFirewallChain, "OUTPUT", "kubernetes load balancer firewall", kNew},
        {Table::kFilter, proxier::kProxyFirewallChain, "FORWARD", "kubernetes load balancer firewall", kNew},
        {Table::kNat, proxier::kServicesChain, "OUTPUT", "kubernetes service portals", {}},
        {Table::kNat, proxier::kServicesChain, "PREROUTING", "kubernetes service portals", {}},
        {Table::kNat, proxier::kPostroutingChain, "POSTROUTING", "kubernetes postrouting rules", {}},
        // Duplicates of kubelet's jumps (kubelet_network_linux.go), created but never cleaned up.
        {Table::kFilter, proxier::kKubeletFirewallChain, "INPUT", "", {}},
        {Table::kFilter, proxier::kKubeletFirewallChain, "OUTPUT", "", {}},
    };
  }();
  return *kRules;
}

IptablesProxier::IptablesProxier(std::vector<IptablesFamilyConfig> families, IptablesProxierOptions options)
    : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (IptablesFamilyConfig& config : families) {
    pi::IptablesPlanner planner(config.planner);
    families_.push_back(Family{std::move(config), std::move(planner)});
  }
}

void IptablesProxier::ForceFullSync() { force_full_.store(true); }

absl::Status IptablesProxier::EnsureJumps(IptablesRunner& runner) {
  for (Table table : {Table::kMangle, Table::kNat, Table::kFilter}) {
    if (absl::Status s = runner.EnsureChain(table, proxier::kProxyCanaryChain); !s.ok()) return s;
  }
  for (const JumpRule& jump : JumpRules()) {
    if (absl::Status s = runner.EnsureChain(jump.table, jump.destination); !s.ok()) return s;
    if (absl::Status s = runner.EnsureRule(jump.table, jump.source, jump.Args()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool IptablesProxier::CanaryMissing(IptablesRunner& runner) {
  for (Table table : {Table::kMangle, Table::kNat, Table::kFilter}) {
    absl::StatusOr<bool> exists = runner.ChainExists(table, proxier::kProxyCanaryChain);
    if (!exists.ok()) {
      KLOG_WARNING << "checking " << proxier::kProxyCanaryChain << " in " << TableName(table) << ": "
                   << exists.status() << "; syncing in full";
      return true;
    }
    if (!*exists) {
      KLOG_INFO << proxier::kProxyCanaryChain << " is gone from table " << TableName(table)
                << " (tables flushed?); syncing in full";
      return true;
    }
  }
  return false;
}

namespace {

size_t CountLines(absl::string_view rules) { return static_cast<size_t>(std::count(rules.begin(), rules.end(), '\n')); }

// Rules of `service`'s own nat chains (SVC/SVL/EXT/FW/SEP) in `plan`.
size_t FragmentNatRules(const pi::IptablesPlan& plan, const proxier::ServiceName& service) {
  size_t n = 0;
  proxier::ServicePortName first;
  first.service = service;
  first.protocol = static_cast<proxier::Protocol>(0);
  for (auto it = plan.fragments.lower_bound(first); it != plan.fragments.end() && it->first.service == service; ++it) {
    for (const pi::ChainView c : it->second->nat_chains) n += CountLines(c.rules);
  }
  return n;
}

}  // namespace

void IptablesProxier::CountRules(Family& family, const pi::IptablesPlan& plan, const pi::IptablesPlan* previous,
                                 const proxier::ChangedServices& changed, absl::Span<const absl::string_view> restore_input,
                                 FamilyResult& result) {
  if (previous == nullptr) {
    family.fragment_nat_rules = 0;
    for (const auto& [name, fragment] : plan.fragments) {
      for (const pi::ChainView c : fragment->nat_chains) family.fragment_nat_rules += CountLines(c.rules);
    }
  } else {
    for (const proxier::ServiceName& service : changed) {
      const size_t before = FragmentNatRules(*previous, service);
      family.fragment_nat_rules -= std::min(before, family.fragment_nat_rules);
      family.fragment_nat_rules += FragmentNatRules(plan, service);
    }
  }
  // The top-level chains (one line per ServicePort at most) are counted each time.
  for (const pi::PlannedChain& c : plan.filter_chains) result.filter_rules += CountLines(c.rules);
  for (const pi::PlannedChain& c : plan.nat_chains) result.nat_rules += CountLines(c.rules);
  result.nat_rules += family.fragment_nat_rules;
  result.no_local_internal_endpoints = plan.no_local_internal_endpoints;
  result.no_local_external_endpoints = plan.no_local_external_endpoints;
  // The restore input is "*filter ... COMMIT\n*nat ... COMMIT\n"; rules are its "-A" lines. Pieces
  // hold whole lines.
  size_t* table = nullptr;
  for (absl::string_view piece : restore_input) {
    for (absl::string_view line : absl::StrSplit(piece, '\n')) {
      if (line == "*filter") {
        table = &result.filter_rules_written;
      } else if (line == "*nat") {
        table = &result.nat_rules_written;
      } else if (table != nullptr && absl::StartsWith(line, "-A ")) {
        ++*table;
      }
    }
  }
}

absl::StatusOr<IptablesProxier::FamilyResult> IptablesProxier::SyncFamily(
    Family& family, bool force_full,
    std::vector<std::pair<proxier::IpFamily, absl::Time>>& change_times) {
  FamilyResult result;
  IptablesFamilyConfig& config = family.config;
  if (!config.state->IsSynced()) {
    // Writing before Services and EndpointSlices were listed would drop every Service's rules.
    result.skipped = true;
    return result;
  }
  proxier::ProxyState::Taken taken = config.state->TakeSnapshot();
  family.pending_changed.insert(taken.changed.begin(), taken.changed.end());
  family.pending_change_times.insert(family.pending_change_times.end(), taken.change_times.begin(),
                                     taken.change_times.end());
  const proxier::ChangedServices changed = std::move(family.pending_changed);
  family.pending_changed.clear();
  for (absl::Time t : family.pending_change_times)
    change_times.emplace_back(config.runner->family(), t);
  family.pending_change_times.clear();
  result.changed_services = changed.size();

  bool full = force_full || family.needs_full || family.applied == nullptr;
  IptablesRunner& runner = *config.runner;
  const absl::Time now = options_.now();
  if (!full && options_.full_sync_period > absl::ZeroDuration() &&
      now - family.last_full_sync >= options_.full_sync_period) {
    full = true;
  }
  if (!full && now - family.last_canary_check >= options_.canary_check_interval) {
    family.last_canary_check = now;
    if (CanaryMissing(runner)) full = true;
  }
  if (full) family.last_canary_check = now;  // the full sync (re)creates the canaries
  result.full = full;

  const proxier::NodeContext node = CurrentNode(family);
  auto plan = family.planner.Plan(*taken.snapshot, node, changed, family.last_planned.get());
  family.last_planned = plan;

  auto fail = [&](absl::string_view what, const absl::Status& status) {
    family.needs_full = true;  // the changes are consumed: only a full sync is sure to be right
    return absl::Status(status.code(), absl::StrCat(proxier::IpFamilyName(runner.family()), " ", what, ": ",
                                                    status.message()));
  };

  pi::RenderOptions options;
  options.full = full;
  options.applied = family.applied.get();
  absl::flat_hash_set<std::string> existing_nat;
  absl::flat_hash_set<std::string> existing_filter;
  if (full) {
    if (absl::Status s = EnsureJumps(runner); !s.ok()) return fail("ensuring jump rules", s);
    for (auto [table, existing, option] :
         {std::tuple{Table::kNat, &existing_nat, &options.existing_nat_chains},
          std::tuple{Table::kFilter, &existing_filter, &options.existing_filter_chains}}) {
      absl::StatusOr<absl::flat_hash_set<std::string>> chains = runner.ListChains(table);
      if (chains.ok()) {
        *existing = *std::move(chains);
        *option = existing;
      } else {
        KLOG_WARNING << proxier::IpFamilyName(runner.family()) << ": listing " << TableName(table)
                     << " chains failed, stale chains are not deleted this time: " << chains.status();
      }
    }
  }
  pi::RestorePieces rendered = pi::RenderRestorePieces(*plan, options);
  result.chains_written = rendered.chains_written;
  result.chains_deleted = rendered.chains_deleted;
  result.bytes = rendered.size();
  if (result.bytes > 0) {
    if (absl::Status s = runner.RestoreFromPieces(rendered.pieces); !s.ok()) {
      const int i = runner.family() == proxier::IpFamily::kIPv6 ? 1 : 0;
      restore_failures_[i].fetch_add(1);
      if (!full) partial_restore_failures_[i].fetch_add(1);
      return fail("iptables-restore", s);
    }
  }
  CountRules(family, *plan, full ? nullptr : family.applied.get(), changed, rendered.pieces, result);
  for (const auto& [name, port] : taken.snapshot->services) {
    if (port != nullptr && !port->pass_through_vips.empty())
      result.pass_through_services.push_back(name.service.ToString());
  }
  family.applied = plan;
  family.needs_full = false;
  if (full) family.last_full_sync = now;

  // Conntrack keeps UDP flows pinned to endpoints that are gone, and to VIPs that just became
  // pass-through; only changed Services (or a full sync) can have such flows.
  if (config.conntrack != nullptr && (full || !changed.empty())) {
    result.conntrack_cleanup =
        conntrack::CleanStaleUdpFlowsAfterSync(*config.conntrack, *taken.snapshot, node);
  }
  return result;
}

proxier::NodeContext IptablesProxier::CurrentNode(Family& family) {
  const IptablesFamilyConfig& config = family.config;
  proxier::NodeContext node = config.node_context ? config.node_context() : proxier::NodeContext{};
  const proxier::NodePortAddresses& npa = config.planner.node_port_addresses;
  if (npa.MatchAll()) return node;
  const absl::string_view name = proxier::IpFamilyName(npa.family());
  node.local_addresses.clear();
  if (config.local_addresses) {
    absl::StatusOr<std::vector<proxier::IpAddress>> local = config.local_addresses();
    if (local.ok()) {
      for (const proxier::IpAddress& ip : *local) {
        if (ip.family() == npa.family()) node.local_addresses.push_back(ip);
      }
    } else {
      KLOG_ERROR << "Listing the node's " << name << " addresses failed; NodePorts of that family get no "
                 << "address this sync: " << local.status();
    }
  }
  std::vector<proxier::IpAddress> selected = npa.Select(node.local_addresses);
  if (family.logged_node_port_ips != selected) {
    if (selected.empty()) {
      KLOG_WARNING << npa.DescribeSelection(selected);
    } else {
      KLOG_INFO << npa.DescribeSelection(selected);
    }
    family.logged_node_port_ips = std::move(selected);
  }
  return node;
}

absl::StatusOr<proxier::SyncReport> IptablesProxier::Sync() {
  absl::MutexLock lock(&mu_);
  const bool force_full = force_full_.exchange(false);
  proxier::SyncReport report;
  absl::Status first_error;
  std::vector<std::string> details;
  for (Family& family : families_) {
    absl::StatusOr<FamilyResult> result = SyncFamily(family, force_full, report.change_times);
    const absl::string_view name = proxier::IpFamilyName(family.config.runner->family());
    if (!result.ok()) {
      KLOG_ERROR << "sync failed: " << result.status();
      if (first_error.ok()) first_error = result.status();
      details.push_back(absl::StrCat(name, ": failed"));
      continue;
    }
    if (result->skipped) {
      details.push_back(absl::StrCat(name, ": waiting for Services and EndpointSlices"));
      continue;
    }
    report.full = report.full || result->full;
    report.changed_services += result->changed_services;
    const proxier::IpFamily ip_family = family.config.runner->family();
    report.families.push_back(ip_family);
    report.iptables_rules_total[ip_family]["filter"] += result->filter_rules;
    report.iptables_rules_total[ip_family]["nat"] += result->nat_rules;
    report.iptables_rules_written[ip_family]["filter"] += result->filter_rules_written;
    report.iptables_rules_written[ip_family]["nat"] += result->nat_rules_written;
    if (result->conntrack_cleanup.has_value())
      report.conntrack_cleanups.push_back(*result->conntrack_cleanup);
    if (!report.pass_through_services.has_value()) report.pass_through_services.emplace();
    report.pass_through_services->insert(result->pass_through_services.begin(),
                                         result->pass_through_services.end());
    report.no_local_endpoints[ip_family]["internal"] += result->no_local_internal_endpoints;
    report.no_local_endpoints[ip_family]["external"] += result->no_local_external_endpoints;
    details.push_back(absl::StrFormat("%s: %s, wrote %d chains, deleted %d, %.1f KiB", name,
                                      result->full ? "full" : "partial", result->chains_written,
                                      result->chains_deleted, result->bytes / 1024.0));
  }
  if (!first_error.ok()) return first_error;
  report.detail = absl::StrJoin(details, "; ");
  return report;
}

absl::StatusOr<std::string> IptablesProxier::DryRun() {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (Family& family : families_) {
    IptablesFamilyConfig& config = family.config;
    proxier::ProxyState::Taken taken = config.state->TakeSnapshot();
    family.pending_changed.insert(taken.changed.begin(), taken.changed.end());
    family.pending_change_times.insert(family.pending_change_times.end(), taken.change_times.begin(),
                                       taken.change_times.end());
    const proxier::NodeContext node = CurrentNode(family);
    auto plan = family.planner.Plan(*taken.snapshot, node, family.pending_changed, family.last_planned.get());
    family.last_planned = plan;
    // Appended piece by piece: the joined input would be a second copy of a 40 MB text at 10k.
    const pi::RestorePieces pieces = pi::RenderRestorePieces(*plan, pi::RenderOptions{});
    out.reserve(out.size() + pieces.size() + 16);
    absl::StrAppend(&out, "# ", proxier::IpFamilyName(config.runner->family()), "\n");
    for (absl::string_view piece : pieces.pieces) out.append(piece.data(), piece.size());
  }
  return out;
}

}  // namespace kproxy::backends::iptables
