// Proxier core at scale: endpoint selection over every ServicePort, and ProxyState snapshots
// (the initial one, and the one after a single EndpointSlice change, which should cost O(change)).
#include <memory>

#include "bench/synthetic_cluster.h"
#include "benchmark/benchmark.h"
#include "proxier/endpoint_selector.h"
#include "proxier/proxy_state.h"

namespace kproxy::bench {
namespace {

void BM_CategorizeEndpointsAllServicePorts(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  auto snapshot = proxy_state->TakeSnapshot().snapshot;
  const proxier::NodeContext node = SyntheticNodeContext();
  size_t reachable = 0;
  for (auto _ : state) {
    for (const auto& [name, port] : snapshot->services) {
      proxier::CategorizedEndpoints c = proxier::CategorizeEndpoints(snapshot->EndpointsOf(name), *port, node);
      reachable += c.all_reachable_endpoints.size();
    }
  }
  benchmark::DoNotOptimize(reachable);
  state.counters["service_ports"] = static_cast<double>(snapshot->services.size());
}
BENCHMARK(BM_CategorizeEndpointsAllServicePorts)->Arg(10000)->Unit(benchmark::kMillisecond);

// Feeding every object and taking the first snapshot (what the first sync after startup pays).
void BM_InitialSnapshot(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  for (auto _ : state) {
    auto proxy_state = LoadedProxyState(cluster);
    auto taken = proxy_state->TakeSnapshot();
    benchmark::DoNotOptimize(taken.snapshot->services.size());
    state.PauseTiming();
    proxy_state.reset();
    taken = {};
    state.ResumeTiming();
  }
}
BENCHMARK(BM_InitialSnapshot)->Arg(10000)->Unit(benchmark::kMillisecond);

// One EndpointSlice update, then TakeSnapshot, with the previous snapshot released (as the
// proxiers do after each sync).
void BM_SnapshotAfterOneSliceChange(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  proxy_state->TakeSnapshot();
  size_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const size_t index = (i++ * 7919) % cluster.slices.size();
    proxier::EndpointSlice updated = WithOneEndpointReplaced(cluster, index);
    state.ResumeTiming();
    proxy_state->OnEndpointSliceUpdate(cluster.slices[index], updated);
    auto taken = proxy_state->TakeSnapshot();
    benchmark::DoNotOptimize(taken.changed.size());
    state.PauseTiming();
    cluster.slices[index] = std::move(updated);
    taken = {};
    state.ResumeTiming();
  }
}
BENCHMARK(BM_SnapshotAfterOneSliceChange)->Arg(10000)->Arg(30000)->Unit(benchmark::kMicrosecond);

// The same while somebody still holds the previous snapshot (copy-on-write has to copy).
void BM_SnapshotAfterOneSliceChangePreviousHeld(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  auto held = proxy_state->TakeSnapshot().snapshot;
  size_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const size_t index = (i++ * 7919) % cluster.slices.size();
    proxier::EndpointSlice updated = WithOneEndpointReplaced(cluster, index);
    state.ResumeTiming();
    proxy_state->OnEndpointSliceUpdate(cluster.slices[index], updated);
    auto taken = proxy_state->TakeSnapshot();
    benchmark::DoNotOptimize(taken.changed.size());
    state.PauseTiming();
    cluster.slices[index] = std::move(updated);
    held = std::move(taken.snapshot);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_SnapshotAfterOneSliceChangePreviousHeld)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kproxy::bench
