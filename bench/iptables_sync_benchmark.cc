// iptables mode at scale: plan + render of a full sync at 1k/10k/30k Services x 10 endpoints, and
// of the partial sync after one endpoint change (planner reusing the previous plan's fragments).
#include <memory>

#include "bench/synthetic_cluster.h"
#include "bench/synthetic_planner_configs.h"
#include "benchmark/benchmark.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"

namespace kproxy::bench {
namespace {

namespace pi = proxier::iptables;

proxier::ChangedServices AllServices(const proxier::ProxySnapshot& snapshot) {
  proxier::ChangedServices all;
  for (const auto& [name, port] : snapshot.services) all.insert(name.service);
  return all;
}

void BM_IptablesFullPlanRender(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  auto taken = proxy_state->TakeSnapshot();
  const proxier::NodeContext node = SyntheticNodeContext();
  pi::IptablesPlanner planner(SyntheticIptablesConfig());
  size_t bytes = 0;
  for (auto _ : state) {
    auto plan = planner.Plan(*taken.snapshot, node, taken.changed, nullptr);
    // What a sync hands to iptables-restore: pieces of the plan, never joined.
    pi::RestorePieces rendered = pi::RenderRestorePieces(*plan, pi::RenderOptions{});
    bytes = rendered.size();
    benchmark::DoNotOptimize(rendered.pieces.data());
  }
  state.counters["restore_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_IptablesFullPlanRender)->Arg(1000)->Arg(10000)->Arg(30000)->Unit(benchmark::kMillisecond);

// Plan only, full: separates planning from rendering.
void BM_IptablesFullPlanOnly(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  auto taken = proxy_state->TakeSnapshot();
  const proxier::NodeContext node = SyntheticNodeContext();
  pi::IptablesPlanner planner(SyntheticIptablesConfig());
  for (auto _ : state) {
    auto plan = planner.Plan(*taken.snapshot, node, taken.changed, nullptr);
    benchmark::DoNotOptimize(plan.get());
  }
}
BENCHMARK(BM_IptablesFullPlanOnly)->Arg(10000)->Unit(benchmark::kMillisecond);

// One endpoint of one Service replaced: snapshot + plan (reusing fragments) + partial render.
void BM_IptablesPartialAfterOneEndpointChange(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  const proxier::NodeContext node = SyntheticNodeContext();
  pi::IptablesPlanner planner(SyntheticIptablesConfig());
  std::shared_ptr<const pi::IptablesPlan> applied;
  {
    auto taken = proxy_state->TakeSnapshot();
    applied = planner.Plan(*taken.snapshot, node, AllServices(*taken.snapshot), nullptr);
  }
  size_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const size_t index = (i++ * 7919) % cluster.slices.size();
    proxier::EndpointSlice updated = WithOneEndpointReplaced(cluster, index);
    state.ResumeTiming();
    proxy_state->OnEndpointSliceUpdate(cluster.slices[index], updated);
    auto taken = proxy_state->TakeSnapshot();
    auto plan = planner.Plan(*taken.snapshot, node, taken.changed, applied.get());
    pi::RenderOptions options;
    options.full = false;
    options.applied = applied.get();
    pi::RestorePieces rendered = pi::RenderRestorePieces(*plan, options);
    bytes = rendered.size();
    state.PauseTiming();
    cluster.slices[index] = std::move(updated);
    applied = std::move(plan);
    taken = {};
    state.ResumeTiming();
  }
  state.counters["restore_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_IptablesPartialAfterOneEndpointChange)
    ->Arg(1000)->Arg(10000)->Arg(30000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kproxy::bench
