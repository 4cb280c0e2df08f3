// IPVS mode at scale: PlanIpvs + DiffIpvs at 10k Services x 10 endpoints, for the first sync
// (empty kernel) and after one endpoint change (kernel = previous desired state).
#include "bench/synthetic_cluster.h"
#include "bench/synthetic_planner_configs.h"
#include "benchmark/benchmark.h"
#include "proxier/ipvs/ipvs_diff.h"
#include "proxier/ipvs/ipvs_planner.h"

namespace kproxy::bench {
namespace {

namespace pv = proxier::ipvs;

void BM_IpvsFullPlanDiff(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  auto snapshot = proxy_state->TakeSnapshot().snapshot;
  const proxier::NodeContext node = SyntheticNodeContext();
  const pv::ObservedIpvsState empty;
  size_t ops = 0;
  for (auto _ : state) {
    pv::DesiredIpvsState desired = pv::PlanIpvs(*snapshot, node, SyntheticIpvsConfig());
    ops = pv::DiffIpvs(desired, empty).size();
  }
  state.counters["operations"] = static_cast<double>(ops);
}
BENCHMARK(BM_IpvsFullPlanDiff)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_IpvsPlanDiffAfterOneEndpointChange(benchmark::State& state) {
  SyntheticCluster cluster = MakeSyntheticCluster(static_cast<int>(state.range(0)), 10);
  auto proxy_state = LoadedProxyState(cluster);
  const proxier::NodeContext node = SyntheticNodeContext();
  pv::ObservedIpvsState observed = AsObserved(pv::PlanIpvs(*proxy_state->TakeSnapshot().snapshot, node, SyntheticIpvsConfig()));
  size_t i = 0;
  size_t ops = 0;
  for (auto _ : state) {
    state.PauseTiming();
    // A ClusterIP-only Service keeps the count exact (NodePort Services have a VS per node IP).
    size_t index = (i++ * 7919) % cluster.slices.size();
    proxier::EndpointSlice updated = WithOneEndpointReplaced(cluster, index);
    state.ResumeTiming();
    proxy_state->OnEndpointSliceUpdate(cluster.slices[index], updated);
    auto taken = proxy_state->TakeSnapshot();
    pv::DesiredIpvsState desired = pv::PlanIpvs(*taken.snapshot, node, SyntheticIpvsConfig());
    std::vector<pv::IpvsOperation> operations = pv::DiffIpvs(desired, observed);
    ops = operations.size();
    state.PauseTiming();
    cluster.slices[index] = std::move(updated);
    observed = AsObserved(desired);
    taken = {};
    state.ResumeTiming();
  }
  state.counters["operations_last"] = static_cast<double>(ops);
}
BENCHMARK(BM_IpvsPlanDiffAfterOneEndpointChange)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kproxy::bench
