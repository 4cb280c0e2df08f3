#include "cmd/kube-proxy/dry_run_summary.h"

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/proxy_state.h"

namespace kproxy::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using proxier::IpAddress;

proxier::Service LbService(const std::string& name, const std::string& cluster_ip, const std::string& lb_ip,
                           std::optional<std::string> annotation, std::optional<std::string> ip_mode = std::nullopt) {
  proxier::Service s;
  s.metadata.namespace_name = "default";
  s.metadata.name = name;
  s.type = proxier::ServiceType::kLoadBalancer;
  s.cluster_ips = {*IpAddress::Parse(cluster_ip)};
  s.ports = {{"http", proxier::Protocol::kTCP, 80, 30080}};
  proxier::LoadBalancerIngress ing;
  ing.ip = *IpAddress::Parse(lb_ip);
  ing.ip_mode = ip_mode;
  s.load_balancer_ingress = {ing};
  if (annotation) s.metadata.annotations["kubernetes.io/elb.pass-through"] = *annotation;
  return s;
}

proxier::EndpointSlice Slice(const std::string& service, const std::string& ip, const std::string& node) {
  proxier::EndpointSlice e;
  e.metadata.namespace_name = "default";
  e.metadata.name = service + "-abc";
  e.service_name = service;
  proxier::EndpointSliceEndpoint ep;
  ep.addresses = {*IpAddress::Parse(ip)};
  ep.conditions.ready = true;
  ep.node_name = node;
  e.endpoints = {ep};
  e.ports = {{std::string("http"), proxier::Protocol::kTCP, 8080}};
  return e;
}

std::string Render(const std::vector<proxier::Service>& services, const std::vector<proxier::EndpointSlice>& slices,
                   const std::string& mode = "iptables") {
  proxier::ProxyState state(proxier::IpFamily::kIPv4, "node-a", [] { return absl::Now(); }, nullptr);
  for (const auto& s : services) state.OnServiceAdd(s);
  for (const auto& e : slices) state.OnEndpointSliceAdd(e);
  state.OnServicesSynced();
  state.OnEndpointSlicesSynced();
  auto taken = state.TakeSnapshot();
  DryRunInput in;
  in.node_name = "node-a";
  in.node_found = true;
  in.mode = mode;
  proxier::NodeContext node;
  node.node_name = "node-a";
  node.node_ips = {*IpAddress::Parse("192.0.2.10")};
  in.families.push_back({taken.snapshot.get(), node});
  return RenderDryRunSummary(in);
}

TEST(DryRunSummaryTest, ShowsPassThroughDecisionWithReason) {
  std::string out = Render({LbService("web", "10.96.0.10", "203.0.113.10", "true")},
                           {Slice("web", "10.244.1.5", "node-a")});
  EXPECT_THAT(out, HasSubstr("Service default/web:http TCP/80 [LoadBalancer, IPv4]"));
  EXPECT_THAT(out, HasSubstr("cluster IP:     10.96.0.10:80"));
  EXPECT_THAT(out, HasSubstr("node port:      30080"));
  EXPECT_THAT(out, HasSubstr("LB IPs left to the balancer:    203.0.113.10"));
  EXPECT_THAT(out, HasSubstr("pass-through:   YES (annotation kubernetes.io/elb.pass-through=\"true\")"));
  EXPECT_THAT(out, HasSubstr("cluster endpoints:   10.244.1.5:8080 (local)"));
  EXPECT_THAT(out, HasSubstr("1 port(s) with pass-through"));
}

TEST(DryRunSummaryTest, PlainLoadBalancerIsShortCutOnTheNode) {
  std::string out = Render({LbService("plain", "10.96.0.11", "203.0.113.11", std::nullopt)}, {});
  EXPECT_THAT(out, HasSubstr("LB IPs with local rules:        203.0.113.11"));
  EXPECT_THAT(out, HasSubstr("pass-through:   no (no kubernetes.io/elb.pass-through annotation)"));
  EXPECT_THAT(out, HasSubstr("no usable endpoint: traffic is rejected"));
  EXPECT_THAT(out, HasSubstr("0 port(s) with pass-through"));
}

TEST(DryRunSummaryTest, IpModeProxyAndBadAnnotationAreExplained) {
  std::string proxy = Render({LbService("proxied", "10.96.0.12", "203.0.113.12", std::nullopt, "Proxy")}, {});
  EXPECT_THAT(proxy, HasSubstr("ipMode: Proxy"));
  std::string bad = Render({LbService("odd", "10.96.0.13", "203.0.113.13", "yes-please")}, {});
  EXPECT_THAT(bad, HasSubstr("WARNING"));
  EXPECT_THAT(bad, HasSubstr("yes-please"));
  EXPECT_THAT(bad, Not(HasSubstr("pass-through:   YES")));
}

TEST(DryRunSummaryTest, SameInputSameBytes) {
  auto services = std::vector<proxier::Service>{LbService("a", "10.96.0.20", "203.0.113.20", "true"),
                                                LbService("b", "10.96.0.21", "203.0.113.21", std::nullopt)};
  EXPECT_EQ(Render(services, {}), Render(services, {}));
}

// IPVS binds an LB address for all its ports, so the oldest Service on a shared ELB decides; the
// summary shows what really happens to the others, and the conflict.
TEST(DryRunSummaryTest, IpvsModeShowsTheElbsEnforcedPassThroughAndTheConflict) {
  proxier::Service old_plain = LbService("old", "10.96.0.20", "203.0.113.20", std::nullopt);
  old_plain.metadata.creation_timestamp = absl::FromUnixSeconds(100);
  proxier::Service new_pt = LbService("new", "10.96.0.21", "203.0.113.20", "true");
  new_pt.metadata.creation_timestamp = absl::FromUnixSeconds(200);

  const std::string ipvs = Render({old_plain, new_pt}, {}, "ipvs");
  const size_t at = ipvs.find("Service default/new:http");
  ASSERT_NE(at, std::string::npos);
  const std::string section = ipvs.substr(at);
  EXPECT_THAT(section, HasSubstr("LB IPs with local rules:        203.0.113.20"));
  EXPECT_THAT(section, HasSubstr("pass-through:   no (enforced for the shared ELB in IPVS mode, overriding this "
                                 "Service's own setting): LB IPs 203.0.113.20 are bound on the node"));
  EXPECT_THAT(section, HasSubstr("CONFLICT: Service default/new: ELB ingress IP 203.0.113.20 is shared with default/old"));
  EXPECT_THAT(section, Not(HasSubstr("pass-through:   YES")));
  EXPECT_THAT(ipvs, HasSubstr("0 port(s) with pass-through"));

  // iptables mode has no such constraint: each Service keeps its own setting.
  const std::string iptables = Render({old_plain, new_pt}, {}, "iptables");
  EXPECT_THAT(iptables, HasSubstr("pass-through:   YES (annotation kubernetes.io/elb.pass-through=\"true\")"));
  EXPECT_THAT(iptables, Not(HasSubstr("CONFLICT")));
}

}  // namespace
}  // namespace kproxy::daemon
