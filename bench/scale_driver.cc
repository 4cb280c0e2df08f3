// scale_driver: the measurements behind bench/scale.sh. Loads a generated cluster (--objects=DIR,
// API JSON lists as bench/generate_cluster.py writes them), then in one process:
//   - times iptables plan + render of a full sync (pure, median of --reps),
//   - runs IptablesProxier's full sync through a runner that records each iptables-restore input
//     (and, with --apply, feeds it to the real iptables-restore in the current network namespace),
//   - adds one endpoint to a ClusterIP Service and syncs again (partial), --reps times,
//   - adds one ClusterIP Service and syncs again (partial),
//   - times IPVS plan + diff for the full state and for the same two changes, counting operations,
// and prints one "key=value" line per measurement. Restore inputs go to --out=DIR.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/synthetic_planner_configs.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "apiclient/object_decoder.h"
#include "backends/iptables/iptables_proxier.h"
#include "backends/iptables/iptables_restore_runner.h"
#include "backends/iptables/iptables_runner.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"
#include "proxier/ipvs/ipvs_diff.h"
#include "proxier/ipvs/ipvs_planner.h"
#include "proxier/proxy_state.h"

namespace kproxy::bench {
namespace {

namespace pi = proxier::iptables;
namespace pv = proxier::ipvs;
namespace bi = backends::iptables;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

long PeakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Resident set now (MB), from /proc/self/statm.
double RssMbNow() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

size_t Lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

void Report(absl::string_view key, double value) { std::cout << key << "=" << value << "\n"; }

// Records every restore input and how long the real tool took; without an inner runner it is a
// null kernel (restores succeed, no chains exist).
class RecordingRunner final : public bi::IptablesRunner {
 public:
  explicit RecordingRunner(std::unique_ptr<bi::IptablesRunner> inner) : inner_(std::move(inner)) {}
  proxier::IpFamily family() const override { return proxier::IpFamily::kIPv4; }
  absl::Status Restore(absl::string_view input) override {
    last_input.assign(input.data(), input.size());
    const auto start = Clock::now();
    absl::Status status = inner_ ? inner_->Restore(input) : absl::OkStatus();
    last_restore_ms = MsSince(start);
    return status;
  }
  absl::StatusOr<absl::flat_hash_set<std::string>> ListChains(bi::Table table) override {
    if (inner_) return inner_->ListChains(table);
    return absl::flat_hash_set<std::string>{};
  }
  absl::Status EnsureRule(bi::Table table, absl::string_view chain, const std::vector<std::string>& rule) override {
    return inner_ ? inner_->EnsureRule(table, chain, rule) : absl::OkStatus();
  }
  absl::Status EnsureChain(bi::Table table, absl::string_view chain) override {
    return inner_ ? inner_->EnsureChain(table, chain) : absl::OkStatus();
  }
  absl::StatusOr<bool> ChainExists(bi::Table table, absl::string_view chain) override {
    return inner_ ? inner_->ChainExists(table, chain) : absl::StatusOr<bool>(true);
  }

  std::string last_input;
  double last_restore_ms = 0;

 private:
  std::unique_ptr<bi::IptablesRunner> inner_;
};

proxier::NodeContext NodeContextOf(const std::vector<proxier::Node>& nodes) {
  proxier::NodeContext node;
  node.family = proxier::IpFamily::kIPv4;
  node.node_name = "node-a";
  if (nodes.empty()) return node;
  const proxier::Node& n = nodes.front();
  node.node_name = n.metadata.name;
  for (const auto& a : n.addresses) {
    if (a.type != "InternalIP" && a.type != "ExternalIP") continue;
    absl::StatusOr<proxier::IpAddress> ip = proxier::IpAddress::Parse(a.address);
    if (ip.ok() && ip->family() == proxier::IpFamily::kIPv4) node.node_ips.push_back(*ip);
  }
  for (const auto& [k, v] : n.metadata.labels) node.labels[k] = v;
  if (auto it = n.metadata.labels.find("topology.kubernetes.io/zone"); it != n.metadata.labels.end()) node.zone = it->second;
  for (const auto& c : n.pod_cidrs) {
    if (c.family() == proxier::IpFamily::kIPv4) node.pod_cidrs.push_back(c);
  }
  return node;
}

proxier::IpAddress V4(uint32_t value) {
  const uint8_t b[4] = {static_cast<uint8_t>(value >> 24), static_cast<uint8_t>(value >> 16),
                        static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  return proxier::IpAddress::FromV4Bytes(b);
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

int Run(int argc, char** argv) {
  std::string objects, out = ".";
  bool apply = false;
  bi::IptablesVariant variant = bi::IptablesVariant::kAuto;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--objects=")) {
      objects = std::string(a);
    } else if (absl::ConsumePrefix(&a, "--out=")) {
      out = std::string(a);
    } else if (a == "--variant=legacy") {
      variant = bi::IptablesVariant::kLegacy;
    } else if (a == "--variant=nft") {
      variant = bi::IptablesVariant::kNft;
    } else if (a == "--apply") {
      apply = true;
    } else if (absl::ConsumePrefix(&a, "--reps=")) {
      if (!absl::SimpleAtoi(a, &reps) || reps < 1) reps = 5;
    } else {
      std::cerr << "usage: scale_driver --objects=DIR [--out=DIR] [--apply [--variant=legacy|nft]] [--reps=N]\n";
      return 2;
    }
  }
  if (objects.empty()) {
    std::cerr << "--objects=DIR is required\n";
    return 2;
  }
  std::filesystem::create_directories(out);

  // Load.
  auto start = Clock::now();
  std::vector<proxier::Service> services;
  std::vector<proxier::EndpointSlice> slices;
  std::vector<proxier::Node> nodes;
  {
    simdjson::dom::parser parser;
    for (const char* file : {"services.json", "endpointslices.json", "node.json"}) {
      simdjson::padded_string json;
      if (simdjson::padded_string::load((std::filesystem::path(objects) / file).string()).get(json)) {
        std::cerr << "cannot read " << objects << "/" << file << "\n";
        return 1;
      }
      absl::StatusOr<apiclient::DecodedObjects> decoded = apiclient::DecodeJsonDocument(parser, json);
      if (!decoded.ok()) {
        std::cerr << file << ": " << decoded.status() << "\n";
        return 1;
      }
      for (auto& s : decoded->services) services.push_back(std::move(s));
      for (auto& s : decoded->endpoint_slices) slices.push_back(std::move(s));
      for (auto& n : decoded->nodes) nodes.push_back(std::move(n));
    }
  }
  Report("rss_after_decode_mb", RssMbNow());
  proxier::ProxyState state(proxier::IpFamily::kIPv4, nodes.empty() ? "node-a" : nodes[0].metadata.name,
                            [] { return absl::Now(); }, nullptr);
  for (const auto& s : services) state.OnServiceAdd(s);
  for (const auto& s : slices) state.OnEndpointSliceAdd(s);
  state.OnServicesSynced();
  state.OnEndpointSlicesSynced();
  const proxier::NodeContext node = NodeContextOf(nodes);
  Report("rss_after_state_mb", RssMbNow());
  Report("services", static_cast<double>(services.size()));
  Report("load_ms", MsSince(start));

  // Full sync through the proxier (records the exact input; applies it with --apply).
  std::unique_ptr<bi::IptablesRunner> inner;
  if (apply) {
    absl::StatusOr<std::unique_ptr<bi::IptablesRestoreRunner>> real =
        bi::IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4, variant);
    if (!real.ok()) {
      std::cerr << real.status() << "\n";
      return 1;
    }
    std::cout << "iptables_variant=" << ((*real)->variant() == bi::IptablesVariant::kNft ? "nft" : "legacy") << "\n";
    inner = *std::move(real);
  }
  RecordingRunner runner(std::move(inner));
  bi::IptablesFamilyConfig family;
  family.state = &state;
  family.node_context = [&node] { return node; };
  family.planner = SyntheticIptablesConfig();
  family.runner = &runner;
  std::vector<bi::IptablesFamilyConfig> families;
  families.push_back(family);
  bi::IptablesProxier proxier(std::move(families));

  start = Clock::now();
  absl::StatusOr<proxier::SyncReport> report = proxier.Sync();
  const double full_sync_ms = MsSince(start);
  if (!report.ok() || !report->full) {
    std::cerr << "full sync failed: " << (report.ok() ? absl::InternalError("not full") : report.status()) << "\n";
    return 1;
  }
  WriteFile(std::filesystem::path(out) / "full.restore", runner.last_input);
  Report("rss_after_full_sync_mb", RssMbNow());
  Report("peak_rss_after_full_sync_mb", static_cast<double>(PeakRssKb()) / 1024.0);
  Report("full_sync_ms", full_sync_ms);
  Report("full_sync_restore_ms", runner.last_restore_ms);
  Report("full_restore_bytes", static_cast<double>(runner.last_input.size()));
  Report("full_restore_lines", static_cast<double>(Lines(runner.last_input)));

  // Pure plan + render of a full sync (no kernel), median of reps.
  std::shared_ptr<const proxier::ProxySnapshot> snapshot = state.TakeSnapshot().snapshot;
  {
    proxier::ChangedServices all;
    for (const auto& [name, port] : snapshot->services) all.insert(name.service);
    pi::IptablesPlanner planner(SyntheticIptablesConfig());
    std::vector<double> plan_ms, render_ms;
    for (int r = 0; r < reps; ++r) {
      auto t = Clock::now();
      auto plan = planner.Plan(*snapshot, node, all, nullptr);
      plan_ms.push_back(MsSince(t));
      t = Clock::now();
      pi::RestorePieces rendered = pi::RenderRestorePieces(*plan, pi::RenderOptions{});  // as a sync does
      render_ms.push_back(MsSince(t));
    }
    Report("full_plan_ms", Median(plan_ms));
    Report("full_render_ms", Median(render_ms));
  }

  // IPVS: plan + diff against an empty kernel.
  pv::DesiredIpvsState desired;
  {
    std::vector<double> ms;
    size_t ops = 0;
    for (int r = 0; r < reps; ++r) {
      auto t = Clock::now();
      desired = pv::PlanIpvs(*snapshot, node, SyntheticIpvsConfig());
      ops = pv::DiffIpvs(desired, pv::ObservedIpvsState{}).size();
      ms.push_back(MsSince(t));
    }
    Report("ipvs_full_plan_diff_ms", Median(ms));
    Report("ipvs_full_ops", static_cast<double>(ops));
  }
  pv::ObservedIpvsState observed = AsObserved(desired);
  snapshot.reset();  // released, as the proxiers release theirs after each sync

  // One endpoint added to a single-port ClusterIP Service, reps times (different Services).
  std::vector<size_t> candidates;
  for (size_t i = 0; i < services.size(); ++i) {
    const auto& s = services[i];
    if (s.type == proxier::ServiceType::kClusterIP && s.ports.size() == 1 &&
        s.session_affinity == proxier::SessionAffinity::kNone) {
      candidates.push_back(i);
    }
  }
  absl::flat_hash_map<std::string, size_t> slice_of;  // "ns/service" -> slice index
  for (size_t i = 0; i < slices.size(); ++i) {
    slice_of[absl::StrCat(slices[i].metadata.namespace_name, "/", slices[i].service_name)] = i;
  }
  std::vector<double> ep_sync_ms, ep_restore_ms, ep_bytes, ep_lines, ep_ipvs_ms, ep_ipvs_ops;
  uint32_t next_ip = (10u << 24 | 250u << 16) + 1;
  for (int r = 0; r < reps && !candidates.empty(); ++r) {
    const proxier::Service& svc = services[candidates[(static_cast<size_t>(r) * 7919) % candidates.size()]];
    auto it = slice_of.find(absl::StrCat(svc.metadata.namespace_name, "/", svc.metadata.name));
    if (it == slice_of.end()) continue;
    proxier::EndpointSlice& old_slice = slices[it->second];
    proxier::EndpointSlice updated = old_slice;
    proxier::EndpointSliceEndpoint ep = updated.endpoints.front();
    ep.addresses = {V4(next_ip++)};
    ep.node_name = "node-050";
    updated.endpoints.push_back(ep);
    auto t = Clock::now();
    state.OnEndpointSliceUpdate(old_slice, updated);
    runner.last_input.clear();
    runner.last_restore_ms = 0;
    report = proxier.Sync();
    ep_sync_ms.push_back(MsSince(t));
    if (!report.ok() || report->full) {
      std::cerr << "endpoint-change sync failed or was full\n";
      return 1;
    }
    ep_restore_ms.push_back(runner.last_restore_ms);
    ep_bytes.push_back(static_cast<double>(runner.last_input.size()));
    ep_lines.push_back(static_cast<double>(Lines(runner.last_input)));
    if (r == 0) WriteFile(std::filesystem::path(out) / "endpoint_change.restore", runner.last_input);
    old_slice = std::move(updated);

    snapshot = state.TakeSnapshot().snapshot;  // nothing pending: the state the sync planned
    t = Clock::now();
    desired = pv::PlanIpvs(*snapshot, node, SyntheticIpvsConfig());
    std::vector<pv::IpvsOperation> ops = pv::DiffIpvs(desired, observed);
    ep_ipvs_ms.push_back(MsSince(t));
    ep_ipvs_ops.push_back(static_cast<double>(ops.size()));
    if (r == 0) {
      for (const auto& op : ops) std::cerr << "ipvs endpoint change: " << op.ToString() << "\n";
    }
    observed = AsObserved(desired);
    snapshot.reset();
  }
  Report("endpoint_change_sync_ms", Median(ep_sync_ms));
  Report("endpoint_change_restore_ms", Median(ep_restore_ms));
  Report("endpoint_change_bytes", Median(ep_bytes));
  Report("endpoint_change_lines", Median(ep_lines));
  Report("ipvs_endpoint_change_plan_diff_ms", Median(ep_ipvs_ms));
  Report("ipvs_endpoint_change_ops", Median(ep_ipvs_ops));

  // One ClusterIP Service (one port, 10 endpoints) added.
  {
    proxier::Service svc = services[candidates.empty() ? 0 : candidates.front()];
    svc.metadata.name = "svc-added";
    svc.metadata.uid = "uid-svc-added";
    svc.cluster_ips = {V4((10u << 24 | 99u << 16) + 1)};
    proxier::EndpointSlice slice = slices[slice_of[absl::StrCat(svc.metadata.namespace_name, "/",
                                                                services[candidates.empty() ? 0 : candidates.front()].metadata.name)]];
    slice.metadata.name = "svc-added-abcde";
    slice.service_name = "svc-added";
    for (auto& ep : slice.endpoints) ep.addresses = {V4(next_ip++)};
    auto t = Clock::now();
    state.OnServiceAdd(svc);
    state.OnEndpointSliceAdd(slice);
    runner.last_input.clear();
    runner.last_restore_ms = 0;
    report = proxier.Sync();
    const double ms = MsSince(t);
    if (!report.ok() || report->full) {
      std::cerr << "service-add sync failed or was full\n";
      return 1;
    }
    WriteFile(std::filesystem::path(out) / "service_add.restore", runner.last_input);
    Report("service_add_sync_ms", ms);
    Report("service_add_restore_ms", runner.last_restore_ms);
    Report("service_add_bytes", static_cast<double>(runner.last_input.size()));
    Report("service_add_lines", static_cast<double>(Lines(runner.last_input)));

    snapshot = state.TakeSnapshot().snapshot;
    t = Clock::now();
    desired = pv::PlanIpvs(*snapshot, node, SyntheticIpvsConfig());
    std::vector<pv::IpvsOperation> ops = pv::DiffIpvs(desired, observed);
    Report("ipvs_service_add_plan_diff_ms", MsSince(t));
    Report("ipvs_service_add_ops", static_cast<double>(ops.size()));
    snapshot.reset();
  }

  Report("peak_rss_mb", static_cast<double>(PeakRssKb()) / 1024.0);
  return 0;
}

}  // namespace
}  // namespace kproxy::bench

int main(int argc, char** argv) { return kproxy::bench::Run(argc, argv); }
