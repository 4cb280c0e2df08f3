#include "cmd/kube-proxy/pass_through_reporter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;

proxier::Service Lb(std::optional<std::string> annotation, std::optional<std::string> ip_mode = std::nullopt) {
  proxier::Service s;
  s.metadata.namespace_name = "default";
  s.metadata.name = "web";
  s.type = proxier::ServiceType::kLoadBalancer;
  proxier::LoadBalancerIngress ing;
  ing.ip = *proxier::IpAddress::Parse("203.0.113.10");
  ing.ip_mode = ip_mode;
  s.load_balancer_ingress = {ing};
  if (annotation) s.metadata.annotations["kubernetes.io/elb.pass-through"] = *annotation;
  return s;
}

TEST(PassThroughReporterTest, LogsOncePerChange) {
  PassThroughReporter r;
  auto first = r.Observe(Lb("true"));
  ASSERT_TRUE(first.info.has_value());
  EXPECT_THAT(*first.info, HasSubstr("Service default/web: pass-through (annotation kubernetes.io/elb.pass-through=\"true\")"));
  EXPECT_FALSE(r.Observe(Lb("true")).info.has_value());  // unchanged: silent
  auto off = r.Observe(Lb(std::nullopt));
  ASSERT_TRUE(off.info.has_value());
  EXPECT_THAT(*off.info, HasSubstr("no pass-through"));
}

TEST(PassThroughReporterTest, PlainServicesAreNotLogged) {
  PassThroughReporter r;
  EXPECT_FALSE(r.Observe(Lb(std::nullopt)).info.has_value());
}

TEST(PassThroughReporterTest, BadAnnotationWarnsOnce) {
  PassThroughReporter r;
  auto first = r.Observe(Lb("yes"));
  ASSERT_TRUE(first.warning.has_value());
  EXPECT_THAT(*first.warning, HasSubstr("\"yes\""));
  EXPECT_FALSE(r.Observe(Lb("yes")).warning.has_value());
  EXPECT_TRUE(r.Observe(Lb("nope")).warning.has_value());  // a different bad value warns again
}

TEST(PassThroughReporterTest, IpModeProxyCountsAsPassThrough) {
  PassThroughReporter r;
  auto rep = r.Observe(Lb(std::nullopt, "Proxy"));
  ASSERT_TRUE(rep.info.has_value());
  EXPECT_THAT(*rep.info, HasSubstr("ipMode Proxy for 203.0.113.10"));
  r.Forget(Lb(std::nullopt, "Proxy"));
}

}  // namespace
}  // namespace kproxy::daemon
