#include "cmd/kube-proxy/service_health_tracker.h"

#include "gtest/gtest.h"

namespace kproxy::daemon {
namespace {

using proxier::IpAddress;

proxier::Service LocalLb(int hc_port) {
  proxier::Service s;
  s.metadata.namespace_name = "default";
  s.metadata.name = "web";
  s.type = proxier::ServiceType::kLoadBalancer;
  s.external_traffic_policy = proxier::TrafficPolicy::kLocal;
  s.health_check_node_port = hc_port;
  return s;
}

proxier::EndpointSliceEndpoint Ep(const std::string& ip, const std::string& node, std::optional<bool> ready) {
  proxier::EndpointSliceEndpoint e;
  e.addresses = {*IpAddress::Parse(ip)};
  e.node_name = node;
  e.conditions.ready = ready;
  return e;
}

proxier::EndpointSlice Slice(const std::string& name, std::vector<proxier::EndpointSliceEndpoint> eps) {
  proxier::EndpointSlice s;
  s.metadata.namespace_name = "default";
  s.metadata.name = name;
  s.service_name = "web";
  s.endpoints = std::move(eps);
  return s;
}

const proxier::ServiceName kWeb{"default", "web"};

TEST(ServiceHealthTrackerTest, OnlyLocalPolicyLoadBalancersGetAPort) {
  ServiceHealthTracker t("node-a");
  t.SetService(LocalLb(32080));
  EXPECT_EQ(t.HealthCheckPorts().at(kWeb), 32080);
  proxier::Service cluster = LocalLb(32080);
  cluster.external_traffic_policy = proxier::TrafficPolicy::kCluster;
  t.SetService(cluster);
  EXPECT_TRUE(t.HealthCheckPorts().empty());
  t.SetService(LocalLb(32081));
  t.DeleteService(LocalLb(32081));
  EXPECT_TRUE(t.HealthCheckPorts().empty());
}

TEST(ServiceHealthTrackerTest, CountsDistinctReadyLocalIpsAcrossSlices) {
  ServiceHealthTracker t("node-a");
  t.SetEndpointSlice(Slice("web-1", {Ep("10.0.0.1", "node-a", true), Ep("10.0.0.2", "node-b", true),
                                     Ep("10.0.0.3", "node-a", false), Ep("10.0.0.4", "node-a", std::nullopt)}));
  t.SetEndpointSlice(Slice("web-2", {Ep("10.0.0.1", "node-a", true)}));  // same IP in another slice
  EXPECT_EQ(t.LocalReadyEndpoints().at(kWeb), 2);
  t.DeleteEndpointSlice(Slice("web-1", {}));
  EXPECT_EQ(t.LocalReadyEndpoints().at(kWeb), 1);
}

}  // namespace
}  // namespace kproxy::daemon
