#include "backends/nftables/nftables_proxier.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "backends/conntrack/stale_flow_cleaner.h"
#include "backends/nftables/nft_change_transaction.h"
#include "logging/log.h"
#include "proxier/nftables/nft_ruleset_diff.h"
#include "proxier/nftables/nft_script_renderer.h"

namespace kproxy::backends::nftables {

namespace pn = ::kproxy::proxier::nftables;

namespace {

pn::NftFamily PlannerFamily(proxier::IpFamily family) {
  return family == proxier::IpFamily::kIPv6 ? pn::NftFamily::kIp6 : pn::NftFamily::kIp;
}

// A rule no planner emits: kernel chains whose rules we do not know always differ from desired.
constexpr char kUnknownRules[] = "# rules read from the kernel";

}  // namespace

pn::NftRuleset KernelRuleset(pn::NftFamily family, const NftTableContents& contents) {
  pn::NftRuleset ruleset;
  ruleset.family = family;
  if (!contents.exists) return ruleset;
  for (const std::string& name : contents.chains) {
    pn::NftChain chain;
    chain.name = name;
    chain.rules.push_back(pn::NftRule{kUnknownRules, ""});
    ruleset.chains.push_back(std::move(chain));
  }
  for (const std::string& name : contents.sets) {
    pn::NftSet set;
    set.name = name;
    set.comment = kUnknownRules;
    ruleset.sets.push_back(std::move(set));
  }
  return ruleset;  // an existing but empty table: the diff adds it again, which keeps it
}

NftablesProxier::NftablesProxier(std::vector<NftablesFamilyConfig> families,
                                 NftablesProxierOptions options)
    : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (NftablesFamilyConfig& config : families) families_.push_back(Family{std::move(config)});
}

void NftablesProxier::ForceFullSync() { force_full_.store(true); }

absl::StatusOr<NftablesProxier::FamilyResult> NftablesProxier::SyncFamily(
    Family& family, bool force_full, std::vector<absl::Time>& change_times) {
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
  family.pending_changes = family.pending_changes || !taken.changed.empty();
  family.pending_change_times.insert(family.pending_change_times.end(), taken.change_times.begin(),
                                     taken.change_times.end());
  const absl::Time now = options_.now();
  bool full = force_full || !family.applied.has_value();
  if (!full && options_.full_sync_period > absl::ZeroDuration() &&
      now - family.last_full_sync >= options_.full_sync_period) {
    full = true;
  }
  result.full = full;
  if (!full && !family.pending_changes) {
    // Nothing changed since the ruleset applied last (node changes force a full sync): the plan
    // would be the same, and planning a large cluster is the costly part of a sync.
    change_times.insert(change_times.end(), family.pending_change_times.begin(),
                        family.pending_change_times.end());
    family.pending_change_times.clear();
    return result;
  }
  const pn::NftFamily nft_family = PlannerFamily(config.family);
  const proxier::NodeContext node =
      config.node_context ? config.node_context() : proxier::NodeContext{};
  const absl::Time plan_start = absl::Now();
  pn::NftRuleset desired = pn::PlanNftables(*taken.snapshot, node, config.planner);
  result.plan = absl::Now() - plan_start;

  auto fail = [&](absl::string_view what, const absl::Status& status) {
    family.applied.reset();  // only a full sync is sure to be right now
    return absl::Status(status.code(), absl::StrCat(name, " ", what, ": ", status.message()));
  };
  pn::NftRuleset previous;
  if (full) {
    auto contents = config.writer->Read(config.family, pn::kTableName);
    if (!contents.ok()) {
      sync_failures_.fetch_add(1);
      return fail("reading the nftables table", contents.status());
    }
    previous = KernelRuleset(nft_family, *contents);
  } else {
    previous = *family.applied;
  }
  const absl::Time diff_start = absl::Now();
  pn::NftChange change = pn::DiffNftRulesets(previous, desired);
  result.diff = absl::Now() - diff_start;
  // Chains no longer wanted are flushed by the sync's transaction and deleted by a later one of
  // their own (right after it, and retried on later syncs), as upstream: a chain that cannot be
  // deleted yet must not fail the sync.
  std::vector<std::string> to_delete = std::move(change.chains_to_delete);
  change.chains_to_delete.clear();
  to_delete.insert(to_delete.end(), change.chains_to_flush.begin(), change.chains_to_flush.end());
  result.only_elements = change.OnlyElements();
  if (!change.empty()) {
    auto transaction = TransactionForChange(change, desired);
    if (!transaction.ok()) {
      sync_failures_.fetch_add(1);
      return fail("nftables transaction", transaction.status());
    }
    result.operations = transaction->operations.size();
    const absl::Time apply_start = absl::Now();
    absl::Status applied_status = config.writer->Apply(*transaction);
    result.apply = absl::Now() - apply_start;
    if (absl::Status s = applied_status; !s.ok()) {
      sync_failures_.fetch_add(1);
      return fail("nftables transaction", s);
    }
  }
  pn::NftRuleset applied = pn::AppliedRuleset(std::move(desired), change);
  applied.stale_chains.clear();
  if (!to_delete.empty()) {
    NftTransaction cleanup;
    cleanup.family = config.family;
    cleanup.table = pn::kTableName;
    for (const std::string& chain : to_delete) cleanup.operations.push_back(NftDeleteChain{chain});
    if (absl::Status s = config.writer->Apply(cleanup); !s.ok()) {
      cleanup_failures_.fetch_add(1);
      KLOG_WARNING << name << ": deleting " << to_delete.size()
                   << " stale nftables chains failed (retried next sync): " << s.message();
      applied.stale_chains.insert(applied.stale_chains.end(), to_delete.begin(), to_delete.end());
    }
  }
  family.applied = std::move(applied);
  if (full) family.last_full_sync = now;
  change_times.insert(change_times.end(), family.pending_change_times.begin(),
                      family.pending_change_times.end());
  family.pending_change_times.clear();
  // Conntrack keeps UDP flows pinned to endpoints that are gone, and to VIPs that just became
  // pass-through; only changed Services (or a full sync) can have such flows.
  if (config.conntrack != nullptr && (full || family.pending_changes)) {
    const absl::Time conntrack_start = absl::Now();
    conntrack::CleanStaleUdpFlowsAfterSync(*config.conntrack, *taken.snapshot, node);
    result.conntrack = absl::Now() - conntrack_start;
  }
  family.pending_changes = false;
  return result;
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
    details.push_back(absl::StrFormat(
        "%s: %s, %d nftables operations%s (plan %s, diff %s, commit %s, conntrack %s)", name,
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
    family.pending_changes = family.pending_changes || !taken.changed.empty();
    family.pending_change_times.insert(family.pending_change_times.end(),
                                       taken.change_times.begin(), taken.change_times.end());
    const proxier::NodeContext node =
        config.node_context ? config.node_context() : proxier::NodeContext{};
    absl::StrAppend(&out, "# ", proxier::IpFamilyName(config.family), "\n",
                    pn::RenderNftScript(pn::PlanNftables(*taken.snapshot, node, config.planner)));
  }
  return out;
}

}  // namespace kproxy::backends::nftables
