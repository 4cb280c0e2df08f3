// The maps of virtual and real servers order their keys with a specialised std::less; it must be
// exactly the keys' own operator< (iteration order and the diff's merge walks rely on it).
#include <functional>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proxier/ipvs/ipvs_state.h"

namespace kproxy::proxier::ipvs {
namespace {

std::vector<IpAddress> SampleAddresses() {
  std::vector<IpAddress> out;
  for (const char* text : {"0.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.1.1", "9.255.255.255", "255.255.255.255",
                           "::", "::1", "fd00::1", "fd00::1:0", "fe80::1", "2001:db8::ffff"}) {
    out.push_back(*IpAddress::Parse(text));
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 40; ++i) {
    out.push_back(*IpAddress::Parse(absl::StrCat(rng() % 4, ".", rng() % 3, ".", rng() % 256, ".", rng() % 2)));
    out.push_back(*IpAddress::Parse(absl::StrCat("fd00:", rng() % 3, "::", rng() % 5, ":", rng() % 2)));
  }
  return out;
}

TEST(IpvsKeyOrderTest, SpecialisedLessIsTheKeysOwnOrder) {
  const std::vector<IpAddress> addresses = SampleAddresses();
  size_t less_seen = 0;
  for (const IpAddress& a : addresses) {
    for (const IpAddress& b : addresses) {
      for (uint16_t pa : {0, 80, 443}) {
        for (uint16_t pb : {80, 8080}) {
          const RealServerKey ra{a, pa};
          const RealServerKey rb{b, pb};
          ASSERT_EQ(std::less<RealServerKey>()(ra, rb), ra < rb) << ra.ToString() << " " << rb.ToString();
          const VirtualServerKey va{a, pa == 0 ? Protocol::kUDP : Protocol::kTCP, pa};
          const VirtualServerKey vb{b, Protocol::kTCP, pb};
          ASSERT_EQ(std::less<VirtualServerKey>()(va, vb), va < vb) << va.ToString() << " " << vb.ToString();
          less_seen += ra < rb ? 1 : 0;
        }
      }
    }
  }
  EXPECT_GT(less_seen, 0u);
}

}  // namespace
}  // namespace kproxy::proxier::ipvs
