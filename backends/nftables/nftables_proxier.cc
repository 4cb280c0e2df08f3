#include "backends/nftables/nftables_proxier.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "backends/conntrack/stale_flow_cleaner.h"
#include "backends/nftables/nft_change_transaction.h"
#include "logging/log.h"
#include "proxier/nftables/nft_script_renderer.h"

namespace kproxy::backends::nftables {

namespace pn = ::kproxy::proxier::nftables;

NftablesProxier::NftablesProxier(std::vector<NftablesFamilyConfig> families,
                                 NftablesProxierOptions options)
    : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (NftablesFamilyConfig& config : families) {
    auto planner = std::make_unique<pn::NftablesSyncPlanner>(config.family, config.planner);
    families_.push_back(Family{std::move(config), std::move(planner)});
  }
}

void NftablesProxier::ForceFullSync() { force_full_.store(true); }

absl::StatusOr<NftablesProxier::FamilyResult> NftablesProxier::SyncFamily(
    Family& family, bool force_full,
    std::vector<std::pair<proxier::IpFamily, absl::Time>>& change_times) {
  FamilyResult result;
  NftablesFamilyConfig& config = family.config;
  const absl::string_view name = proxier::IpFamilyName(config.family);
  if (!config.state->IsSynced()) {
    // Writing before Services and EndpointSlices were listed would drop every Service's rules.
    result.skipped = true;
    return result;
  }
  proxier::ProxyState::Taken taken = config.state->TakeSnapshot();
  result.changed_services = taken.changed.size();
  family.pending_changed.insert(taken.changed.begin(), taken.changed.end());
  family.pending_changes = family.pending_changes || !taken.changed.empty();
  family.pending_change_times.insert(family.pending_change_times.end(), taken.change_times.begin(),
                                     taken.change_times.end());
  const absl::Time now = options_.now();
  if (RefreshNodePortAddresses(family)) family.needs_full = true;
  bool full = force_full || family.needs_full;
  if (!full && options_.full_sync_period > absl::ZeroDuration() &&
      now - family.last_full_sync >= options_.full_sync_period) {
    full = true;
  }
  result.full = full;
  if (!full && !family.pending_changes && !family.stale_chains) {
    // Nothing changed since the last transaction and nothing is left to delete.
    for (absl::Time t : family.pending_change_times) change_times.emplace_back(config.family, t);
    family.pending_change_times.clear();
    return result;
  }
  const proxier::NodeContext node =
      config.node_context ? config.node_context() : proxier::NodeContext{};
  auto fail = [&](absl::string_view what, const absl::Status& status) {
    sync_failures_.fetch_add(1);
    family.needs_full = true;  // only a full sync is sure to be right now
    family.planner->Reset();
    return absl::Status(status.code(), absl::StrCat(name, " ", what, ": ", status.message()));
  };
  bool table_exists = false;
  if (full) {
    auto contents = config.writer->Read(config.family, pn::kTableName);
    if (!contents.ok()) return fail("reading the nftables table", contents.status());
    table_exists = contents->exists;
    family.planner->Reset();
    family.sets.clear();
  }
  const absl::Time plan_start = absl::Now();
  pn::NftChange change =
      family.planner->Sync(*taken.snapshot, node, full ? nullptr : &family.pending_changed);
  result.plan = absl::Now() - plan_start;
  // Chains flushed by the previous sync are deleted by a transaction of their own, after this
  // one, as upstream: a chain that cannot be deleted yet must not fail the sync.
  std::vector<std::string> to_delete = std::move(change.chains_to_delete);
  change.chains_to_delete.clear();
  result.only_elements = change.OnlyElements();
  if (!change.empty() || table_exists) {
    const absl::Time encode_start = absl::Now();
    auto transaction = TransactionForChange(change, family.sets);
    result.diff = absl::Now() - encode_start;
    if (!transaction.ok()) return fail("nftables transaction", transaction.status());
    if (full && table_exists) {
      // The whole table is replaced atomically: what another proxy or an older run left goes.
      transaction->operations.insert(transaction->operations.begin(), NftDeleteTable{});
    }
    result.operations = transaction->operations.size();
    const absl::Time apply_start = absl::Now();
    absl::Status applied = config.writer->Apply(*transaction);
    result.apply = absl::Now() - apply_start;
    if (!applied.ok()) return fail("nftables transaction", applied);
  }
  family.stale_chains = !change.chains_to_flush.empty();
  if (!to_delete.empty() && !full) {
    NftTransaction cleanup;
    cleanup.family = config.family;
    cleanup.table = pn::kTableName;
    for (const std::string& chain : to_delete) cleanup.operations.push_back(NftDeleteChain{chain});
    if (absl::Status s = config.writer->Apply(cleanup); !s.ok()) {
      cleanup_failures_.fetch_add(1);
      KLOG_WARNING << name << ": deleting " << to_delete.size()
                   << " stale nftables chains failed (a full sync removes them): " << s.message();
    }
  }
  family.needs_full = false;
  if (full) family.last_full_sync = now;
  for (absl::Time t : family.pending_change_times) change_times.emplace_back(config.family, t);
  family.pending_change_times.clear();
  family.pending_changed.clear();
  // Conntrack keeps UDP flows pinned to endpoints that are gone, and to VIPs that just became
  // pass-through; only changed Services (or a full sync) can have such flows.
  if (config.conntrack != nullptr && (full || family.pending_changes)) {
    const absl::Time conntrack_start = absl::Now();
    result.conntrack_cleanup =
        conntrack::CleanStaleUdpFlowsAfterSync(*config.conntrack, *taken.snapshot, node);
    result.conntrack = absl::Now() - conntrack_start;
  }
  family.pending_changes = false;
  return result;
}

bool NftablesProxier::RefreshNodePortAddresses(Family& family) {
  NftablesFamilyConfig& config = family.config;
  const proxier::NodePortAddresses& npa = config.node_port_addresses;
  const absl::string_view name = proxier::IpFamilyName(config.family);
  pn::NftablesPlannerOptions options = config.planner;
  options.node_ports_on_all_addresses = npa.MatchAll();
  options.node_port_addresses.clear();
  if (!npa.MatchAll()) {
    std::vector<proxier::IpAddress> local;
    if (config.local_addresses) {
      absl::StatusOr<std::vector<proxier::IpAddress>> read = config.local_addresses();
      if (read.ok()) {
        local = *std::move(read);
      } else {
        KLOG_ERROR << "Listing the node's " << name << " addresses failed; NodePorts of that family "
                   << "get no address this sync: " << read.status();
      }
    }
    for (const proxier::IpAddress& ip : npa.Select(local)) {
      if (!ip.IsLoopback()) options.node_port_addresses.push_back(ip);  // no localhost NodePorts
    }
  }
  const bool changed = options.node_ports_on_all_addresses != config.planner.node_ports_on_all_addresses ||
                       options.node_port_addresses != config.planner.node_port_addresses;
  if (!changed && family.node_ports_logged) return false;
  if (!options.node_ports_on_all_addresses && options.node_port_addresses.empty()) {
    KLOG_WARNING << npa.DescribeSelection(options.node_port_addresses);
  } else if (!options.node_ports_on_all_addresses) {
    KLOG_INFO << npa.DescribeSelection(options.node_port_addresses);
  }
  family.node_ports_logged = true;
  if (!changed) return false;
  config.planner = std::move(options);
  family.planner = std::make_unique<pn::NftablesSyncPlanner>(config.family, config.planner);
  return true;
}

absl::StatusOr<proxier::SyncReport> NftablesProxier::Sync() {
  absl::MutexLock lock(&mu_);
  const bool force_full = force_full_.exchange(false);
  proxier::SyncReport report;
  absl::Status first_error;
  std::vector<std::string> details;
  for (Family& family : families_) {
    absl::StatusOr<FamilyResult> result = SyncFamily(family, force_full, report.change_times);
    const absl::string_view name = proxier::IpFamilyName(family.config.family);
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
    report.families.push_back(family.config.family);
    if (result->conntrack_cleanup.has_value()) {
      report.conntrack_cleanups.push_back(*result->conntrack_cleanup);
    }
    details.push_back(absl::StrFormat(
        "%s: %s, %d nftables operations%s (plan %s, encode %s, commit %s, conntrack %s)", name,
        result->full ? "full" : "partial", result->operations,
        result->operations > 0 && result->only_elements ? " (elements only)" : "",
        absl::FormatDuration(result->plan), absl::FormatDuration(result->diff),
        absl::FormatDuration(result->apply), absl::FormatDuration(result->conntrack)));
  }
  if (!first_error.ok()) return first_error;
  report.detail = absl::StrJoin(details, "; ");
  return report;
}

absl::StatusOr<std::string> NftablesProxier::DryRun() {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (Family& family : families_) {
    NftablesFamilyConfig& config = family.config;
    proxier::ProxyState::Taken taken = config.state->TakeSnapshot();
    family.pending_changed.insert(taken.changed.begin(), taken.changed.end());
    family.pending_changes = family.pending_changes || !taken.changed.empty();
    family.pending_change_times.insert(family.pending_change_times.end(),
                                       taken.change_times.begin(), taken.change_times.end());
    RefreshNodePortAddresses(family);
    const proxier::NodeContext node =
        config.node_context ? config.node_context() : proxier::NodeContext{};
    absl::StrAppend(&out, "# ", proxier::IpFamilyName(config.family), "\n",
                    pn::RenderNftScript(pn::PlanNftables(*taken.snapshot, node, config.planner)));
  }
  return out;
}

}  // namespace kproxy::backends::nftables
