#include "proxier/nftables/nftables_sync_planner.h"

#include <map>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/nftables/nft_ruleset_diff.h"
#include "proxier/nftables/nftables_planner.h"
#include "test/unit/proxier/nftables/testing_cluster.h"

namespace kproxy::proxier::nftables {
namespace {

using testing::AddIngress;
using testing::AddPort;
using testing::Ip;
using testing::LocalEndpoint;
using testing::MakeEndpoint;
using testing::MakeService;
using testing::MakeServicePortName;
using testing::RichCluster;
using testing::TerminatingEndpoint;
using testing::TestCluster;
using testing::TestNode;
using testing::UpstreamTestOptions;

// A kernel table as far as a change can tell: applying a change checks what nf_tables would refuse
// (adding what exists, deleting or refilling what does not, deleting a chain with rules).
struct SimulatedTable {
  std::map<std::string, NftChain> chains;
  std::map<std::string, NftSet> sets;
  std::map<std::string, std::map<std::string, NftElement>> elements;

  static std::string Key(const NftElement& e) { return absl::StrJoin(e.key, " . "); }

  static SimulatedTable Of(const NftRuleset& ruleset) {
    SimulatedTable table;
    for (const NftChain& chain : ruleset.chains) table.chains[chain.name] = chain;
    for (const std::string& name : ruleset.stale_chains)
      table.chains[name] = NftChain{name, "", {}, {}};
    for (const NftSet& set : ruleset.sets) table.sets[set.name] = set;
    for (const auto& [set, list] : ruleset.elements) {
      for (const NftElement& e : list) table.elements[set][Key(e)] = e;
    }
    return table;
  }

  // Returns "" or what the kernel would refuse.
  std::string Apply(const NftChange& change) {
    for (const NftChain& c : change.chains_to_refill) {
      if (!chains.contains(c.name)) return "refill of missing chain " + c.name;
      chains[c.name].rules.clear();
    }
    for (const std::string& name : change.chains_to_flush) {
      if (!chains.contains(name)) return "flush of missing chain " + name;
      chains[name].rules.clear();
    }
    for (const std::string& name : change.sets_to_delete) {
      if (!sets.erase(name)) return "delete of missing set " + name;
      elements.erase(name);
      for (const auto& [chain_name, chain] : chains) {
        for (const NftRule& rule : chain.rules) {
          if (rule.statement.find("@" + name + " ") != std::string::npos ||
              rule.statement.ends_with("@" + name)) {
            return "delete of set " + name + " still used by " + chain_name;
          }
        }
      }
    }
    for (const NftSet& set : change.sets_to_add) {
      if (sets.contains(set.name)) return "add of existing set " + set.name;
      sets[set.name] = set;
    }
    for (const NftChain& chain : change.chains_to_add) {
      if (chains.contains(chain.name)) return "add of existing chain " + chain.name;
      chains[chain.name] = NftChain{chain.name, chain.comment, chain.base, {}};
    }
    for (const auto& [set, list] : change.elements_to_delete) {
      for (const NftElement& e : list) {
        if (!elements[set].erase(Key(e))) return "delete of missing element " + set + " " + Key(e);
      }
    }
    for (const std::string& set : change.sets_to_flush) {
      if (!sets.contains(set)) return "flush of missing set " + set;
      elements.erase(set);
    }
    for (const auto& [set, list] : change.elements_to_add) {
      if (!sets.contains(set)) return "element of missing set " + set;
      for (const NftElement& e : list) {
        if (!elements[set].emplace(Key(e), e).second) return "add of existing element " + Key(e);
      }
    }
    for (const auto* list : {&change.chains_to_refill, &change.chains_to_add}) {
      for (const NftChain& chain : *list) chains[chain.name].rules = chain.rules;
    }
    for (const std::string& name : change.chains_to_delete) {
      auto it = chains.find(name);
      if (it == chains.end()) return "delete of missing chain " + name;
      if (!it->second.rules.empty()) return "delete of non-empty chain " + name;
      chains.erase(it);
    }
    for (auto it = elements.begin(); it != elements.end();) {
      it = it->second.empty() ? elements.erase(it) : std::next(it);
    }
    return "";
  }

  std::string Describe() const {
    std::string out;
    for (const auto& [name, chain] : chains) {
      absl::StrAppend(&out, "chain ", name, "\n");
      for (const NftRule& r : chain.rules) absl::StrAppend(&out, "  ", r.statement, "\n");
    }
    for (const auto& [name, set] : sets) absl::StrAppend(&out, "set ", name, "\n");
    for (const auto& [set, map] : elements) {
      for (const auto& [key, e] : map) {
        absl::StrAppend(&out, "element ", set, " ", key, " : ", absl::StrJoin(e.value, " . "),
                        " # ", e.comment, "\n");
      }
    }
    return out;
  }
};

// The change with every list sorted, as text: two changes that do the same compare equal.
std::string Normalized(NftChange change) {
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(change.sets_to_add.begin(), change.sets_to_add.end(), by_name);
  std::sort(change.chains_to_add.begin(), change.chains_to_add.end(), by_name);
  std::sort(change.chains_to_refill.begin(), change.chains_to_refill.end(), by_name);
  for (auto* names : {&change.chains_to_flush, &change.chains_to_delete, &change.sets_to_delete,
                      &change.sets_to_flush}) {
    std::sort(names->begin(), names->end());
  }
  for (auto* elements : {&change.elements_to_add, &change.elements_to_delete}) {
    for (auto& [set, list] : *elements) {
      std::sort(list.begin(), list.end(), [](const NftElement& a, const NftElement& b) {
        return SimulatedTable::Key(a) < SimulatedTable::Key(b);
      });
    }
  }
  return RenderNftChange(change);
}

// Drives a NftablesSyncPlanner through a cluster's changes and checks, after every Sync, that the
// change applies to the previous table and leaves exactly PlanNftables' table.
class SyncHarness {
 public:
  explicit SyncHarness(NftablesPlannerOptions options = UpstreamTestOptions())
      : options_(options), planner_(IpFamily::kIPv4, options) {}

  NftChange Sync(const TestCluster& cluster, const ChangedServices* changed,
                 const NodeContext& node = TestNode()) {
    const NftRuleset before = planner_.Ruleset();
    const NftChange change = planner_.Sync(cluster.Snapshot(), node, changed);
    // The same change as the whole-table diff.
    NftRuleset previous = before;
    if (first_) previous = NftRuleset{};
    first_ = false;
    EXPECT_EQ(Normalized(change), Normalized(DiffNftRulesets(
                                      previous, PlanNftables(cluster.Snapshot(), node, options_))));
    const std::string refused = table_.Apply(change);
    EXPECT_EQ(refused, "");
    NftRuleset desired = PlanNftables(cluster.Snapshot(), node, options_);
    EXPECT_EQ(planner_.Ruleset().chains, desired.chains);
    EXPECT_EQ(planner_.Ruleset().elements, desired.elements);
    desired.stale_chains = planner_.Ruleset().stale_chains;
    const SimulatedTable expected = SimulatedTable::Of(desired);
    EXPECT_EQ(table_.Describe(), expected.Describe());
    return change;
  }

 private:
  NftablesPlannerOptions options_;
  NftablesSyncPlanner planner_;
  SimulatedTable table_;
  bool first_ = true;
};

MATCHER_P(ElementsAreKeyed, key, "") {
  for (const NftElement& element : arg) {
    if (absl::StrJoin(element.key, " . ") == key) return true;
  }
  return false;
}

ChangedServices Changed(std::initializer_list<std::pair<const char*, const char*>> names) {
  ChangedServices changed;
  for (const auto& [ns, name] : names) changed.insert(ServiceName{ns, name});
  return changed;
}

TEST(NftablesSyncPlannerTest, FirstSyncCreatesTheWholeTable) {
  SyncHarness harness;
  const NftChange change = harness.Sync(RichCluster(), nullptr);
  EXPECT_TRUE(change.create_table);
}

TEST(NftablesSyncPlannerTest, EndpointChurnOfOneServiceIsElementsOnly) {
  SyncHarness harness;
  TestCluster cluster = RichCluster();
  harness.Sync(cluster, nullptr);
  const auto ns4 = MakeServicePortName("ns4", "svc4", "p80");
  const ChangedServices changed = Changed({{"ns4", "svc4"}});

  cluster.SetEndpoints(ns4, {MakeEndpoint("10.180.0.4", 80), LocalEndpoint("10.180.0.5", 80),
                             MakeEndpoint("10.180.0.6", 80)});
  NftChange change = harness.Sync(cluster, &changed);
  EXPECT_TRUE(change.OnlyElements()) << RenderNftChange(change);
  EXPECT_FALSE(change.empty());

  cluster.SetEndpoints(ns4, {TerminatingEndpoint("10.180.0.4", 80), LocalEndpoint("10.180.0.5", 80),
                             MakeEndpoint("10.180.0.6", 80)});
  change = harness.Sync(cluster, &changed);
  EXPECT_TRUE(change.OnlyElements()) << RenderNftChange(change);

  cluster.SetEndpoints(ns4, {});
  change = harness.Sync(cluster, &changed);
  EXPECT_TRUE(change.OnlyElements()) << RenderNftChange(change);

  // Nothing changed: nothing to send.
  EXPECT_TRUE(harness.Sync(cluster, &changed).empty());
  EXPECT_TRUE(harness.Sync(cluster, nullptr).empty());
}

TEST(NftablesSyncPlannerTest, SharedHairpinElementStaysWhileAnotherServiceUsesIt) {
  SyncHarness harness;
  TestCluster cluster = RichCluster();
  // ns3 and ns5 share the endpoint 10.180.0.3:80 (one hairpin element).
  harness.Sync(cluster, nullptr);
  cluster.SetEndpoints(MakeServicePortName("ns3", "svc3", "p80"), {});
  const ChangedServices changed = Changed({{"ns3", "svc3"}});
  const NftChange change = harness.Sync(cluster, &changed);
  EXPECT_FALSE(change.elements_to_delete.contains("hairpin-connections"));
}

TEST(NftablesSyncPlannerTest, AddressClaimedByTwoServicesGoesToTheFirstByName) {
  SyncHarness harness;
  TestCluster cluster;
  auto add = [&](const char* ns) {
    cluster.AddService(MakeService(ns, "svc", [&](Service& s) {
      s.cluster_ips = {Ip(std::string(ns) == "a" ? "172.30.0.1" : "172.30.0.2")};
      s.external_ips = {Ip("192.0.2.50")};
      AddPort(s, "p", Protocol::kTCP, 80);
    }));
    cluster.SetEndpoints(MakeServicePortName(ns, "svc", "p"), {MakeEndpoint("10.180.0.1", 80)});
  };
  harness.Sync(cluster, nullptr);
  add("b");
  ChangedServices changed = Changed({{"b", "svc"}});
  harness.Sync(cluster, &changed);
  add("a");
  changed = Changed({{"a", "svc"}});
  const NftChange change = harness.Sync(cluster, &changed);
  ASSERT_TRUE(change.elements_to_add.contains("service-ips"));
  EXPECT_THAT(change.elements_to_delete.at("service-ips"),
              ElementsAreKeyed("192.0.2.50 . tcp . 80"));
  cluster.RemoveService("a", "svc");
  harness.Sync(cluster, &changed);
}

TEST(NftablesSyncPlannerTest, ServicesComeAndGoThroughPartialSyncs) {
  SyncHarness harness;
  TestCluster cluster = RichCluster();
  harness.Sync(cluster, nullptr);
  cluster.RemoveService("ns3", "svc3");
  ChangedServices changed = Changed({{"ns3", "svc3"}});
  NftChange change = harness.Sync(cluster, &changed);
  EXPECT_EQ(change.chains_to_flush.size(), 2u);
  // Back before its chains were deleted: they are refilled, not re-added.
  cluster = RichCluster();
  change = harness.Sync(cluster, &changed);
  EXPECT_TRUE(change.chains_to_add.empty());
  EXPECT_EQ(change.chains_to_refill.size(), 2u);
  cluster.RemoveService("ns5", "svc5");
  changed = Changed({{"ns5", "svc5"}});
  harness.Sync(cluster, &changed);
  const ChangedServices none;
  change = harness.Sync(cluster, &none);  // the flushed chains are deleted now
  EXPECT_EQ(change.chains_to_delete.size(), 4u);
}

TEST(NftablesSyncPlannerTest, NodeChangeReplansEverything) {
  SyncHarness harness;
  TestCluster cluster = RichCluster();
  harness.Sync(cluster, nullptr);
  NodeContext node = TestNode();
  node.node_ips = {Ip("192.168.0.3")};  // the firewall's allow-from-node check changes
  const ChangedServices none;
  harness.Sync(cluster, &none, node);
}

TEST(NftablesSyncPlannerTest, RandomChangesKeepTheTableEqualToAFullPlan) {
  SyncHarness harness;
  TestCluster cluster = RichCluster();
  harness.Sync(cluster, nullptr);
  std::mt19937 random(13);
  for (int step = 0; step < 60; ++step) {
    SCOPED_TRACE(step);
    const int i = random() % 12;
    const std::string ns = absl::StrCat("rnd", i);
    ChangedServices changed = Changed({});
    changed.insert(ServiceName{ns, "svc"});
    const auto name = MakeServicePortName(ns, "svc", "p");
    switch (random() % 5) {
      case 0:
        cluster.AddService(MakeService(ns, "svc", [&](Service& s) {
          s.type = (random() % 2) ? ServiceType::kLoadBalancer : ServiceType::kClusterIP;
          s.cluster_ips = {Ip(absl::StrCat("172.30.1.", i + 1))};
          AddPort(s, "p", Protocol::kTCP, 80, s.type == ServiceType::kLoadBalancer ? 31000 + i : 0);
          if (s.type == ServiceType::kLoadBalancer)
            AddIngress(s, absl::StrCat("198.51.100.", i + 1));
          if (random() % 2) s.external_traffic_policy = TrafficPolicy::kLocal;
          // Two Services claiming one external address and port: the first by name wins.
          if (random() % 3 == 0) s.external_ips = {Ip("192.0.2.50")};
          if (random() % 2) {
            s.session_affinity = SessionAffinity::kClientIP;
            s.session_affinity_timeout_seconds = 60 + random() % 2;
          }
        }));
        break;
      case 1:
        cluster.RemoveService(ns, "svc");
        break;
      default: {
        EndpointList endpoints;
        const int count = random() % 4;
        for (int e = 0; e < count; ++e) {
          // Endpoints shared between the random Services on purpose (hairpin keys).
          const std::string ip = absl::StrCat("10.181.0.", random() % 6 + 1);
          switch (random() % 3) {
            case 0:
              endpoints.push_back(MakeEndpoint(ip, 80));
              break;
            case 1:
              endpoints.push_back(LocalEndpoint(ip, 80));
              break;
            default:
              endpoints.push_back(TerminatingEndpoint(ip, 80, random() % 2));
              break;
          }
        }
        std::sort(endpoints.begin(), endpoints.end(),
                  [](const auto& a, const auto& b) { return a->IpPort() < b->IpPort(); });
        endpoints.erase(
            std::unique(endpoints.begin(), endpoints.end(),
                        [](const auto& a, const auto& b) { return a->IpPort() == b->IpPort(); }),
            endpoints.end());
        cluster.SetEndpoints(name, endpoints);
      }
    }
    harness.Sync(cluster, (random() % 8 == 0) ? nullptr : &changed);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace kproxy::proxier::nftables
