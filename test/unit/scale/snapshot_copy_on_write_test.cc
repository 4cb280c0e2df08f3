// ProxyState snapshots are copy-on-write: a held snapshot never changes, and a released one is
// updated in place, so a sync after one change does not copy 10k Services' maps.
#include <memory>
#include <string>
#include <vector>

#include "bench/synthetic_cluster.h"
#include "gtest/gtest.h"
#include "proxier/proxy_state.h"

namespace kproxy::bench {
namespace {

TEST(SnapshotCopyOnWriteTest, HeldSnapshotKeepsItsEndpointsAfterLaterChanges) {
  SyntheticCluster cluster = MakeSyntheticCluster(50, 3);
  auto state = LoadedProxyState(cluster);
  auto held = state->TakeSnapshot().snapshot;
  const proxier::ServicePortName name{{cluster.services[7].metadata.namespace_name, cluster.services[7].metadata.name},
                                      cluster.services[7].ports[0].name, cluster.services[7].ports[0].protocol};
  auto ips = [&](const proxier::ProxySnapshot& snapshot) {
    std::vector<std::string> out;
    for (const auto& ep : snapshot.EndpointsOf(name)) out.push_back(ep->IpPort());
    return out;
  };
  const std::vector<std::string> before = ips(*held);
  ASSERT_EQ(before.size(), 3u);
  proxier::EndpointSlice updated = WithOneEndpointReplaced(cluster, 7);
  state->OnEndpointSliceUpdate(cluster.slices[7], updated);
  auto next = state->TakeSnapshot();

  EXPECT_NE(next.snapshot.get(), held.get());
  EXPECT_EQ(ips(*held), before);
  EXPECT_NE(ips(*next.snapshot), before);
  EXPECT_EQ(next.changed.size(), 1u);
}

TEST(SnapshotCopyOnWriteTest, ReleasedSnapshotIsUpdatedInPlace) {
  SyntheticCluster cluster = MakeSyntheticCluster(50, 3);
  auto state = LoadedProxyState(cluster);
  auto first = state->TakeSnapshot();
  const proxier::ProxySnapshot* address = first.snapshot.get();
  const size_t ports = first.snapshot->services.size();
  first = {};

  AddSyntheticService(cluster, 50, 3);
  state->OnServiceAdd(cluster.services.back());
  state->OnEndpointSliceAdd(cluster.slices.back());
  auto second = state->TakeSnapshot();

  EXPECT_EQ(second.snapshot.get(), address);
  EXPECT_EQ(second.snapshot->services.size(), ports + cluster.services.back().ports.size());
  EXPECT_EQ(second.changed.size(), 1u);
}

TEST(SnapshotCopyOnWriteTest, NoPendingChangesReturnsTheSameSnapshot) {
  SyntheticCluster cluster = MakeSyntheticCluster(5, 2);
  auto state = LoadedProxyState(cluster);
  auto first = state->TakeSnapshot();
  auto second = state->TakeSnapshot();
  EXPECT_EQ(first.snapshot.get(), second.snapshot.get());
  EXPECT_TRUE(second.changed.empty());
  EXPECT_EQ(second.snapshot->services.size(), first.snapshot->services.size());
}

}  // namespace
}  // namespace kproxy::bench
