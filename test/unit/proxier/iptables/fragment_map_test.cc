// FragmentMap: an ordered map whose copies share chunks; a copy must behave like an independent
// std::map through inserts (including chunk splits) and erases, and never change the original.
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proxier/iptables/iptables_plan.h"

namespace kproxy::proxier::iptables {
namespace {

ServicePortName Name(int i) { return ServicePortName{{absl::StrCat("ns", i % 7), absl::StrCat("svc", i)}, "p", Protocol::kTCP}; }

using Reference = std::map<ServicePortName, std::shared_ptr<const ServicePortFragment>>;

void ExpectSame(const FragmentMap& map, const Reference& reference) {
  ASSERT_EQ(map.size(), reference.size());
  auto it = map.begin();
  for (const auto& [name, fragment] : reference) {
    ASSERT_TRUE(it != map.end());
    EXPECT_EQ(it->first, name);
    EXPECT_EQ(it->second, fragment);
    EXPECT_EQ(map.find(name)->second, fragment);
    EXPECT_EQ(map.at(name), fragment);
    ++it;
  }
  EXPECT_TRUE(it == map.end());
}

TEST(FragmentMapTest, CopiesStayIndependentThroughInsertsSplitsAndErases) {
  std::mt19937 rng(7);
  FragmentMap map;
  Reference reference;
  // Built in order, as a plan from scratch does.
  for (int i = 0; i < 500; ++i) {
    const ServicePortName name = Name(i * 2);
    reference.emplace(name, std::make_shared<ServicePortFragment>());
  }
  for (const auto& [name, fragment] : reference) map.emplace_hint(map.end(), name, fragment);
  ExpectSame(map, reference);

  FragmentMap copy = map;
  Reference copy_reference = reference;
  for (int round = 0; round < 3000; ++round) {
    const ServicePortName name = Name(static_cast<int>(rng() % 1200));
    if (rng() % 3 == 0) {
      EXPECT_EQ(copy.erase(name), copy_reference.erase(name));
    } else {
      auto fragment = std::make_shared<ServicePortFragment>();
      copy.insert_or_assign(name, fragment);
      copy_reference.insert_or_assign(name, fragment);
    }
  }
  ExpectSame(copy, copy_reference);
  ExpectSame(map, reference);
  EXPECT_TRUE(map.find(Name(1)) == map.end());
  EXPECT_TRUE(map.lower_bound(Name(0)) == map.begin());
}

}  // namespace
}  // namespace kproxy::proxier::iptables
