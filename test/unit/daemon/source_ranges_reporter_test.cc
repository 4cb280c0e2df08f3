#include "cmd/kube-proxy/source_ranges_reporter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

proxier::Service Lb(std::vector<std::string> invalid, std::vector<std::string> valid = {},
                    std::vector<std::string> ingress = {"198.51.100.51"}) {
  proxier::Service s;
  s.metadata.namespace_name = "default";
  s.metadata.name = "lbbad";
  s.type = proxier::ServiceType::kLoadBalancer;
  for (const std::string& ip : ingress) {
    proxier::LoadBalancerIngress ing;
    ing.ip = *proxier::IpAddress::Parse(ip);
    s.load_balancer_ingress.push_back(ing);
  }
  for (const std::string& cidr : valid) s.load_balancer_source_ranges.push_back(*proxier::Cidr::Parse(cidr));
  s.invalid_source_ranges = std::move(invalid);
  return s;
}

TEST(SourceRangesReporterTest, OnlyInvalidRangesAreReportedOnceAsFailClosed) {
  SourceRangesReporter reporter;
  std::optional<std::string> warning = reporter.Observe(Lb({"not-a-cidr", "10.0.0.0/33"}));
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(*warning, HasSubstr("Service default/lbbad"));
  EXPECT_THAT(*warning, HasSubstr("\"not-a-cidr\", \"10.0.0.0/33\""));
  EXPECT_THAT(*warning, HasSubstr("no valid IPv4 range is left"));
  EXPECT_THAT(*warning, HasSubstr("admit no source (fail closed)"));
  EXPECT_FALSE(reporter.Observe(Lb({"not-a-cidr", "10.0.0.0/33"})).has_value()) << "reported once";
  EXPECT_TRUE(reporter.Observe(Lb({"still-bad"})).has_value()) << "a different bad value is reported";
  EXPECT_FALSE(reporter.Observe(Lb({})).has_value());
  EXPECT_TRUE(reporter.Observe(Lb({"still-bad"})).has_value()) << "fixed, then broken again";
  reporter.Forget(Lb({}));
  EXPECT_TRUE(reporter.Observe(Lb({"still-bad"})).has_value()) << "deleted and created again";
}

TEST(SourceRangesReporterTest, MixedRangesSayTheValidOnesApplyAndWhichFamilyIsClosed) {
  SourceRangesReporter reporter;
  std::optional<std::string> v4 = reporter.Observe(Lb({"nope"}, {"203.0.113.0/24"}));
  ASSERT_TRUE(v4.has_value());
  EXPECT_THAT(*v4, HasSubstr("the valid ranges apply: 203.0.113.0/24"));
  EXPECT_THAT(*v4, Not(HasSubstr("fail closed")));
  SourceRangesReporter dual;
  std::optional<std::string> v6 = dual.Observe(Lb({"nope"}, {"203.0.113.0/24"}, {"198.51.100.51", "2001:db8::51"}));
  ASSERT_TRUE(v6.has_value());
  EXPECT_THAT(*v6, HasSubstr("no valid IPv6 range is left"));
  EXPECT_THAT(*v6, Not(HasSubstr("IPv4 range")));
}

TEST(SourceRangesReporterTest, ValidRangesAloneAreNotReported) {
  SourceRangesReporter reporter;
  EXPECT_FALSE(reporter.Observe(Lb({}, {"203.0.113.0/24"})).has_value());
}

}  // namespace
}  // namespace kproxy::daemon
