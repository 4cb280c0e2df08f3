#include "apiclient/object_decoder.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "apiclient/object_equality.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::apiclient {
namespace {

using proxier::AddressType;
using proxier::Cidr;
using proxier::IpAddress;
using proxier::Protocol;
using proxier::ServiceType;
using proxier::SessionAffinity;
using proxier::TrafficPolicy;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string ReadTestFile(const std::string& relative) {
  std::ifstream in(absl::StrCat(KPROXY_SOURCE_DIR, "/", relative));
  EXPECT_TRUE(in.good()) << relative;
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

IpAddress Ip(absl::string_view text) { return *IpAddress::Parse(text); }
Cidr Net(absl::string_view text) { return *Cidr::Parse(text); }
absl::Time Rfc3339(absl::string_view text) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &t, &err)) << err;
  return t;
}

DecodedObjects DecodeJsonOrDie(absl::string_view json) {
  absl::StatusOr<DecodedObjects> decoded = DecodeJsonDocument(json);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? *std::move(decoded) : DecodedObjects{};
}

// A valid Service as one JSON object; `spec` replaces the spec so cases stay short.
std::string ServiceJson(absl::string_view name, absl::string_view spec) {
  return absl::StrCat(R"({"kind":"Service","apiVersion":"v1","metadata":{"name":")", name,
                      R"(","namespace":"default"},"spec":)", spec, "}");
}

TEST(ObjectDecoderTest, DecodesLoadBalancerServiceFromTypedList) {
  DecodedObjects d =
      DecodeJsonOrDie(ReadTestFile("test/unit/apiclient/testdata/service-list.json"));
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.resource_version, "987654");
  EXPECT_EQ(d.continue_token, "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTg3NjU0fQ");
  ASSERT_THAT(d.services, SizeIs(4));

  const proxier::Service& web = d.services[0];
  EXPECT_EQ(web.metadata.namespace_name, "shop");
  EXPECT_EQ(web.metadata.name, "web");
  EXPECT_EQ(web.metadata.uid, "1c2d3e4f-0000-4000-8000-000000000001");
  EXPECT_EQ(web.metadata.resource_version, "1001");
  EXPECT_EQ(web.metadata.creation_timestamp, Rfc3339("2024-05-01T10:00:00Z"));
  EXPECT_FALSE(web.metadata.deletion_timestamp.has_value());
  EXPECT_EQ(web.metadata.labels.at("app"), "web");
  EXPECT_EQ(web.metadata.annotations.at("kubernetes.io/elb.pass-through"), "onlyLocal");
  // kubectl's last-applied copy is dropped: kilobytes per object that a proxy never reads.
  EXPECT_FALSE(
      web.metadata.annotations.contains("kubectl.kubernetes.io/last-applied-configuration"));
  EXPECT_EQ(web.metadata.annotations.size(), 2u);
  EXPECT_EQ(web.type, ServiceType::kLoadBalancer);
  EXPECT_THAT(web.cluster_ips, ElementsAre(Ip("10.96.0.20")));
  EXPECT_FALSE(web.headless);
  ASSERT_THAT(web.ports, SizeIs(3));
  EXPECT_EQ(web.ports[0].name, "http");
  EXPECT_EQ(web.ports[0].port, 80);
  EXPECT_EQ(web.ports[0].node_port, 31080);
  EXPECT_EQ(web.ports[1].name, "https");
  EXPECT_EQ(web.ports[1].port, 443);
  EXPECT_EQ(web.ports[2].protocol, Protocol::kUDP);
  EXPECT_EQ(web.ports[2].node_port, 31053);
  EXPECT_THAT(web.external_ips, ElementsAre(Ip("198.51.100.7")));
  EXPECT_EQ(web.load_balancer_ip, Ip("203.0.113.20"));
  EXPECT_THAT(web.load_balancer_source_ranges,
              ElementsAre(Net("192.0.2.0/24"), Net("198.51.100.0/25")));
  EXPECT_THAT(web.invalid_source_ranges, ElementsAre("not-a-cidr"));
  EXPECT_EQ(web.session_affinity, SessionAffinity::kClientIP);
  EXPECT_EQ(web.session_affinity_timeout_seconds, 600);
  EXPECT_EQ(web.external_traffic_policy, TrafficPolicy::kCluster);  // "Global" is the old "Cluster"
  EXPECT_EQ(web.internal_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(web.traffic_distribution, "PreferClose");
  ASSERT_THAT(web.load_balancer_ingress, SizeIs(4));
  EXPECT_EQ(web.load_balancer_ingress[0].ip, Ip("203.0.113.20"));
  EXPECT_EQ(web.load_balancer_ingress[0].ip_mode, "VIP");
  EXPECT_EQ(web.load_balancer_ingress[1].ip, Ip("203.0.113.21"));
  EXPECT_EQ(web.load_balancer_ingress[1].ip_mode, "Proxy");
  EXPECT_FALSE(web.load_balancer_ingress[2].ip.has_value());
  EXPECT_EQ(web.load_balancer_ingress[2].hostname, "web-elb.example.com");
  EXPECT_FALSE(web.load_balancer_ingress[3].ip_mode.has_value());
}

TEST(ObjectDecoderTest, DecodesDualStackHeadlessAndExternalNameServices) {
  DecodedObjects d =
      DecodeJsonOrDie(ReadTestFile("test/unit/apiclient/testdata/service-list.json"));
  ASSERT_THAT(d.services, SizeIs(4));
  const proxier::Service& dual = d.services[1];
  EXPECT_THAT(dual.cluster_ips, ElementsAre(Ip("fd00:10:96::20"), Ip("10.96.0.21")));
  ASSERT_THAT(dual.ports, SizeIs(1));
  EXPECT_EQ(dual.ports[0].protocol, Protocol::kTCP);  // protocol defaults to TCP
  EXPECT_EQ(dual.ports[0].name, "");
  EXPECT_EQ(dual.session_affinity_timeout_seconds, 10800);
  EXPECT_EQ(dual.external_traffic_policy, TrafficPolicy::kCluster);
  EXPECT_THAT(dual.load_balancer_ingress, IsEmpty());

  const proxier::Service& db = d.services[2];
  EXPECT_TRUE(db.headless);
  EXPECT_THAT(db.cluster_ips, IsEmpty());

  const proxier::Service& ext = d.services[3];
  EXPECT_EQ(ext.type, ServiceType::kExternalName);
  EXPECT_THAT(ext.cluster_ips, IsEmpty());
  EXPECT_EQ(ext.metadata.creation_timestamp, absl::InfinitePast());
}

TEST(ObjectDecoderTest, DecodesEndpointSlicesWithConditionsHintsAndTerminatingEndpoints) {
  DecodedObjects d =
      DecodeJsonOrDie(ReadTestFile("test/unit/apiclient/testdata/endpointslice-list.json"));
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.resource_version, "555");
  ASSERT_THAT(d.endpoint_slices, SizeIs(3));

  const proxier::EndpointSlice& web = d.endpoint_slices[0];
  EXPECT_EQ(web.metadata.name, "web-abcde");
  EXPECT_EQ(web.service_name, "web");
  EXPECT_EQ(web.address_type, AddressType::kIPv4);
  EXPECT_EQ(web.metadata.deletion_timestamp, Rfc3339("2024-05-02T11:30:00.123456Z"));
  ASSERT_THAT(web.endpoints, SizeIs(3));
  EXPECT_THAT(web.endpoints[0].addresses, ElementsAre(Ip("10.244.1.5")));
  EXPECT_EQ(web.endpoints[0].conditions.ready, true);
  EXPECT_EQ(web.endpoints[0].conditions.terminating, false);
  EXPECT_EQ(web.endpoints[0].node_name, "node-a");
  EXPECT_EQ(web.endpoints[0].zone, "zone-a");
  EXPECT_EQ(web.endpoints[0].hints_for_zones, std::vector<std::string>{"zone-a"});
  EXPECT_EQ(web.endpoints[0].hints_for_nodes, std::vector<std::string>{"node-a"});
  // Terminating but still serving.
  EXPECT_EQ(web.endpoints[1].conditions.ready, false);
  EXPECT_EQ(web.endpoints[1].conditions.serving, true);
  EXPECT_EQ(web.endpoints[1].conditions.terminating, true);
  ASSERT_TRUE(web.endpoints[1].hints_for_zones.has_value());  // present but empty
  EXPECT_THAT(*web.endpoints[1].hints_for_zones, IsEmpty());
  EXPECT_FALSE(web.endpoints[1].hints_for_nodes.has_value());
  // Nil conditions stay nil: the proxy decides what nil means.
  EXPECT_FALSE(web.endpoints[2].conditions.ready.has_value());
  EXPECT_FALSE(web.endpoints[2].conditions.serving.has_value());
  EXPECT_FALSE(web.endpoints[2].conditions.terminating.has_value());
  EXPECT_FALSE(web.endpoints[2].node_name.has_value());
  EXPECT_FALSE(web.endpoints[2].hints_for_zones.has_value());

  ASSERT_THAT(web.ports, SizeIs(3));
  EXPECT_EQ(web.ports[0].name, "http");
  EXPECT_EQ(web.ports[0].port, 8080);
  EXPECT_EQ(web.ports[1].name, "");
  EXPECT_EQ(web.ports[1].protocol, Protocol::kUDP);
  EXPECT_FALSE(web.ports[2].name.has_value());
  EXPECT_FALSE(web.ports[2].protocol.has_value());
  EXPECT_FALSE(web.ports[2].port.has_value());

  EXPECT_EQ(d.endpoint_slices[1].address_type, AddressType::kIPv6);
  EXPECT_THAT(d.endpoint_slices[1].endpoints[0].addresses, ElementsAre(Ip("fd00:10:244::5")));
  EXPECT_EQ(d.endpoint_slices[2].address_type, AddressType::kFQDN);
  ASSERT_THAT(d.endpoint_slices[2].endpoints, SizeIs(1));
  EXPECT_THAT(d.endpoint_slices[2].endpoints[0].addresses, IsEmpty());
}

TEST(ObjectDecoderTest, DecodesGenericListOfMixedKindsAndSkipsUnknownKinds) {
  DecodedObjects d = DecodeJsonOrDie(
      R"({"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":""},"items":[
    {"kind":"Service","apiVersion":"v1","metadata":{"name":"a"},"spec":{"clusterIP":"10.96.0.1","ports":[{"port":443}]}},
    {"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cfg"},"data":{"x":"y"}},
    {"kind":"Service","apiVersion":"serving.knative.dev/v1","metadata":{"name":"knative"}},
    {"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"a-1","labels":{"kubernetes.io/service-name":"a"}},"addressType":"IPv4","endpoints":[]},
    {"kind":"Node","apiVersion":"v1","metadata":{"name":"node-b","labels":{"topology.kubernetes.io/zone":"zone-b"}},
     "spec":{"podCIDR":"10.244.2.0/24","taints":[{"key":"node.kubernetes.io/unschedulable","effect":"NoSchedule"}]},
     "status":{"addresses":[{"type":"InternalIP","address":"192.0.2.130"},{"type":"Hostname","address":"node-b"}]}}
  ]})");
  EXPECT_THAT(d.errors, IsEmpty());
  EXPECT_EQ(d.skipped_objects, 2u);
  ASSERT_THAT(d.services, SizeIs(1));
  EXPECT_EQ(d.services[0].metadata.namespace_name, "default");  // absent namespace: default
  ASSERT_THAT(d.endpoint_slices, SizeIs(1));
  EXPECT_EQ(d.endpoint_slices[0].service_name, "a");
  ASSERT_THAT(d.nodes, SizeIs(1));
  const proxier::Node& node = d.nodes[0];
  EXPECT_EQ(node.metadata.namespace_name, "");
  EXPECT_EQ(node.metadata.labels.at("topology.kubernetes.io/zone"), "zone-b");
  EXPECT_THAT(node.pod_cidrs, ElementsAre(Net("10.244.2.0/24")));
  ASSERT_THAT(node.taints, SizeIs(1));
  EXPECT_EQ(node.taints[0].effect, "NoSchedule");
  ASSERT_THAT(node.addresses, SizeIs(2));
  EXPECT_EQ(node.addresses[0].type, "InternalIP");
  EXPECT_EQ(node.addresses[0].address, "192.0.2.130");
}

TEST(ObjectDecoderTest, ReadsLegacyIpv4WithLeadingZerosAsDecimal) {
  DecodedObjects d = DecodeJsonOrDie(
      R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"old"},"spec":{"clusterIP":"010.096.000.010",)"
      R"("loadBalancerSourceRanges":["010.000.000.000/8"],"ports":[{"port":80}]}})");
  EXPECT_THAT(d.errors, IsEmpty());
  ASSERT_THAT(d.services, SizeIs(1));
  EXPECT_THAT(d.services[0].cluster_ips, ElementsAre(Ip("10.96.0.10")));
  EXPECT_THAT(d.services[0].load_balancer_source_ranges, ElementsAre(Net("10.0.0.0/8")));

  DecodedObjects bad = DecodeJsonOrDie(
      R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"bad"},"spec":{"clusterIP":"0256.1.1.1"}})");
  EXPECT_THAT(bad.services, IsEmpty());
  ASSERT_THAT(bad.errors, SizeIs(1));
  EXPECT_THAT(bad.errors[0], HasSubstr("spec.clusterIP: invalid IP address \"0256.1.1.1\""));
}

TEST(ObjectDecoderTest, NodePodCidrsWinOverPodCidr) {
  DecodedObjects d = DecodeJsonOrDie(R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"n"},
    "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24","fd00:244:1::/64"]}})");
  ASSERT_THAT(d.nodes, SizeIs(1));
  EXPECT_THAT(d.nodes[0].pod_cidrs, ElementsAre(Net("10.244.1.0/24"), Net("fd00:244:1::/64")));
}

TEST(ObjectDecoderTest, YamlDocumentsDecodeEqualToTheJsonList) {
  DecodedObjects json =
      DecodeJsonOrDie(ReadTestFile("test/unit/apiclient/testdata/service-list.json"));
  DecodedObjects yaml =
      DecodeYamlDocuments(ReadTestFile("test/unit/apiclient/testdata/services.yaml"));
  EXPECT_THAT(yaml.errors, IsEmpty());
  EXPECT_EQ(yaml.skipped_objects, 1u);  // the Deployment
  ASSERT_EQ(yaml.services.size(), json.services.size());
  for (size_t i = 0; i < json.services.size(); ++i) {
    EXPECT_TRUE(ObjectsEqual(yaml.services[i], json.services[i])) << json.services[i].metadata.name;
  }
}

TEST(ObjectDecoderTest, YamlQuotedScalarsStayStringsAndPlainOnesAreTyped) {
  DecodedObjects ok = DecodeYamlDocuments(R"(
apiVersion: v1
kind: Service
metadata:
  name: s
  annotations: {kubernetes.io/elb.pass-through: "true", count: '80'}
spec:
  ports: [{port: 80}]
)");
  EXPECT_THAT(ok.errors, IsEmpty());
  ASSERT_THAT(ok.services, SizeIs(1));
  EXPECT_EQ(ok.services[0].metadata.annotations.at("kubernetes.io/elb.pass-through"), "true");
  EXPECT_EQ(ok.services[0].metadata.annotations.at("count"), "80");

  // Unquoted true is a bool, which the API (and kubectl) reject for an annotation.
  DecodedObjects bad = DecodeYamlDocuments(R"(
apiVersion: v1
kind: Service
metadata:
  name: s
  annotations:
    kubernetes.io/elb.pass-through: true
spec:
  ports:
  - port: "80"
)");
  EXPECT_THAT(bad.services, IsEmpty());
  ASSERT_THAT(bad.errors, SizeIs(1));
  EXPECT_THAT(
      bad.errors[0],
      HasSubstr(
          R"(Service default/s: metadata.annotations["kubernetes.io/elb.pass-through"]: expected string, got bool)"));
}

struct MalformedCase {
  std::string name;
  std::string spec;
  std::string want_error;
};

class MalformedServiceTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedServiceTest, RejectsOnlyTheBadObjectAndNamesObjectAndField) {
  const MalformedCase& c = GetParam();
  std::string list =
      absl::StrCat(R"({"kind":"List","apiVersion":"v1","items":[)",
                   ServiceJson("before", R"({"clusterIP":"10.96.0.1","ports":[{"port":80}]})"), ",",
                   c.spec, ",", ServiceJson("after", R"({"ports":[{"port":81}]})"), "]}");
  DecodedObjects d = DecodeJsonOrDie(list);
  ASSERT_THAT(d.errors, SizeIs(1)) << list;
  EXPECT_THAT(d.errors[0], HasSubstr(c.want_error));
  ASSERT_THAT(d.services, SizeIs(2));
  EXPECT_EQ(d.services[0].metadata.name, "before");
  EXPECT_EQ(d.services[1].metadata.name, "after");
  ASSERT_THAT(d.rejected, SizeIs(1));
  EXPECT_EQ(d.rejected[0].message, d.errors[0]);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedServiceTest,
    ::testing::Values(
        MalformedCase{"PortOutOfRange",
                      ServiceJson("web", R"({"ports":[{"port":80},{"name":"x","port":70000}]})"),
                      "Service default/web: spec.ports[1].port: 70000 is out of range 1-65535"},
        MalformedCase{"PortMissing", ServiceJson("web", R"({"ports":[{"name":"x"}]})"),
                      "Service default/web: spec.ports[0].port: required"},
        MalformedCase{"NodePortOutOfRange",
                      ServiceJson("web", R"({"ports":[{"port":80,"nodePort":-1}]})"),
                      "Service default/web: spec.ports[0].nodePort: -1 is out of range 0-65535"},
        MalformedCase{
            "BadClusterIP", ServiceJson("web", R"({"clusterIPs":["10.96.0.1","10.96.0.300"]})"),
            "Service default/web: spec.clusterIPs[1]: invalid IP address \"10.96.0.300\""},
        MalformedCase{"BadExternalIP", ServiceJson("web", R"({"externalIPs":["1.2.3"]})"),
                      "Service default/web: spec.externalIPs[0]: invalid IP address \"1.2.3\""},
        MalformedCase{
            "BadIngressIP",
            absl::StrCat(
                R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"ns1"},)",
                R"("status":{"loadBalancer":{"ingress":[{"ip":"elb.example.com"}]}}})"),
            "Service ns1/web: status.loadBalancer.ingress[0].ip: invalid IP address "
            "\"elb.example.com\""},
        MalformedCase{"PortIsString", ServiceJson("web", R"({"ports":[{"port":"80"}]})"),
                      "Service default/web: spec.ports[0].port: expected integer, got string"},
        MalformedCase{"PortsIsObject", ServiceJson("web", R"({"ports":{"port":80}})"),
                      "Service default/web: spec.ports: expected array, got object"},
        MalformedCase{"PortIsFractional", ServiceJson("web", R"({"ports":[{"port":80.5}]})"),
                      "Service default/web: spec.ports[0].port: expected integer, got number"},
        MalformedCase{"UnknownProtocol",
                      ServiceJson("web", R"({"ports":[{"port":80,"protocol":"ICMP"}]})"),
                      "Service default/web: spec.ports[0].protocol: unsupported protocol \"ICMP\""},
        MalformedCase{"UnknownType", ServiceJson("web", R"({"type":"Magic"})"),
                      "Service default/web: spec.type: unsupported value \"Magic\""},
        MalformedCase{
            "BadAffinityTimeout",
            ServiceJson(
                "web",
                R"({"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}}})"),
            "Service default/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is out of "
            "range 1-86400"},
        MalformedCase{
            "MissingName",
            R"({"kind":"Service","apiVersion":"v1","metadata":{"namespace":"ns1"},"spec":{}})",
            "Service ns1/<unnamed>: metadata.name: required"},
        MalformedCase{"MissingMetadata", R"({"kind":"Service","apiVersion":"v1","spec":{}})",
                      "metadata.name: required"},
        MalformedCase{"NameIsNumber",
                      R"({"kind":"Service","apiVersion":"v1","metadata":{"name":5}})",
                      "metadata.name: expected string, got integer"},
        MalformedCase{
            "BadCreationTimestamp",
            R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"web","namespace":"default","creationTimestamp":"yesterday"}})",
            "Service default/web: metadata.creationTimestamp: \"yesterday\" is not an RFC 3339 "
            "time"},
        MalformedCase{
            "LabelValueIsNumber",
            R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"web","labels":{"tier":3}}})",
            "Service default/web: metadata.labels[\"tier\"]: expected string, got integer"},
        MalformedCase{"ItemIsNotAnObject", R"("just a string")", "expected an object, got string"}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(ObjectDecoderTest, RejectsEndpointSliceAddressOfTheWrongFamilyAndKeepsSiblings) {
  DecodedObjects d =
      DecodeJsonOrDie(R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","items":[
    {"metadata":{"name":"s1","namespace":"ns"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"]},{"addresses":["fd00::1"]}]},
    {"metadata":{"name":"s2","namespace":"ns"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.2"],"conditions":{"ready":"yes"}}]},
    {"metadata":{"name":"s3","namespace":"ns"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.3"]}],"ports":[{"port":0}]},
    {"metadata":{"name":"s4","namespace":"ns"},"endpoints":[]},
    {"metadata":{"name":"ok","namespace":"ns"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.4"]}]}
  ]})");
  ASSERT_THAT(d.errors, SizeIs(4));
  EXPECT_THAT(
      d.errors[0],
      HasSubstr(
          "EndpointSlice ns/s1: endpoints[1].addresses[0]: \"fd00::1\" is not an IPv4 address"));
  EXPECT_THAT(
      d.errors[1],
      HasSubstr("EndpointSlice ns/s2: endpoints[0].conditions.ready: expected bool, got string"));
  EXPECT_THAT(d.errors[2],
              HasSubstr("EndpointSlice ns/s3: ports[0].port: 0 is out of range 1-65535"));
  EXPECT_THAT(d.errors[3], HasSubstr("EndpointSlice ns/s4: addressType: required"));
  ASSERT_THAT(d.endpoint_slices, SizeIs(1));
  EXPECT_EQ(d.endpoint_slices[0].metadata.name, "ok");
  ASSERT_THAT(d.rejected, SizeIs(4));
  EXPECT_EQ(d.rejected[0].namespace_name, "ns");
  EXPECT_EQ(d.rejected[0].name, "s1");
}

TEST(ObjectDecoderTest, RejectsNodeWithBadPodCidr) {
  DecodedObjects d = DecodeJsonOrDie(
      R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"n1"},"spec":{"podCIDRs":["10.244.0.0/16","10.244.1.0/33"]}})");
  EXPECT_THAT(d.nodes, IsEmpty());
  ASSERT_THAT(d.errors, SizeIs(1));
  EXPECT_THAT(d.errors[0], HasSubstr("Node n1: spec.podCIDRs[1]: invalid CIDR \"10.244.1.0/33\""));
}

TEST(ObjectDecoderTest, NonJsonDocumentIsAnErrorForThatDocumentOnly) {
  EXPECT_FALSE(DecodeJsonDocument("this is not json").ok());
  EXPECT_FALSE(DecodeJsonDocument("[1,2]").ok());

  DecodedObjects d = DecodeYamlDocuments(
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkey: [unclosed\n---\n"
      "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n");
  EXPECT_EQ(d.document_errors, 1u);
  ASSERT_THAT(d.errors, SizeIs(1));
  EXPECT_THAT(d.errors[0], HasSubstr("document at line 5"));
  ASSERT_THAT(d.services, SizeIs(2));
  EXPECT_EQ(d.services[0].metadata.name, "a");
  EXPECT_EQ(d.services[1].metadata.name, "b");

  DecodedObjects scalar = DecodeYamlDocuments("just a sentence\n");
  EXPECT_EQ(scalar.document_errors, 1u);
}

TEST(ObjectDecoderTest, DecodeObjectInfersKindFromTypedListDefaults) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  ASSERT_EQ(parser.parse(std::string_view(R"({"metadata":{"name":"n1"}})")).get(element),
            simdjson::SUCCESS);
  absl::StatusOr<DecodedObject> untyped = DecodeObject(element);
  EXPECT_TRUE(absl::IsUnimplemented(untyped.status())) << untyped.status();
  absl::StatusOr<DecodedObject> node = DecodeObject(element, "Node", "v1");
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_TRUE(std::holds_alternative<proxier::Node>(node->object));
  EXPECT_EQ(std::get<proxier::Node>(node->object).metadata.name, "n1");
}

TEST(ObjectDecoderTest, DecodesWatchEvents) {
  simdjson::dom::parser parser;
  absl::StatusOr<WatchEvent> added = DecodeWatchEventLine(
      parser,
      R"({"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"42"},"spec":{"ports":[{"port":80}]}}})");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->type, "ADDED");
  EXPECT_EQ(added->resource_version, "42");
  ASSERT_TRUE(added->object.has_value());
  EXPECT_EQ(std::get<proxier::Service>(added->object->object).metadata.name, "a");
  EXPECT_TRUE(added->error.ok());

  absl::StatusOr<WatchEvent> bad = DecodeWatchEventLine(
      parser,
      R"({"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"43"},"spec":{"ports":[{"port":0}]}}})");
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_FALSE(bad->object.has_value());
  EXPECT_EQ(bad->resource_version, "43");
  EXPECT_THAT(bad->error.message(),
              HasSubstr("Service ns/a: spec.ports[0].port: 0 is out of range 1-65535"));

  absl::StatusOr<WatchEvent> bookmark = DecodeWatchEventLine(
      parser,
      R"({"type":"BOOKMARK","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"99","annotations":{"k8s.io/initial-events-end":"true"}}}})");
  ASSERT_TRUE(bookmark.ok()) << bookmark.status();
  EXPECT_EQ(bookmark->resource_version, "99");
  EXPECT_TRUE(bookmark->initial_events_end);
  EXPECT_FALSE(bookmark->object.has_value());
  EXPECT_TRUE(bookmark->error.ok());

  absl::StatusOr<WatchEvent> gone = DecodeWatchEventLine(
      parser,
      R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}})json");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->error_code, 410);
  EXPECT_EQ(gone->error_reason, "Expired");
  EXPECT_THAT(gone->error.message(), HasSubstr("too old resource version"));

  EXPECT_FALSE(DecodeWatchEventLine(parser, "{\"type\":\"ADDED\"").ok());
  EXPECT_FALSE(DecodeWatchEventLine(parser, R"({"object":{}})").ok());
}

TEST(ObjectDecoderTest, ExampleManifestsDecodeAsTheDemoExpects) {
  DecodedObjects svc = DecodeYamlDocuments(ReadTestFile("manifests/examples/nginx-service.yaml"));
  EXPECT_THAT(svc.errors, IsEmpty());
  ASSERT_THAT(svc.services, SizeIs(1));
  const proxier::Service& nginx = svc.services[0];
  EXPECT_EQ(nginx.metadata.namespace_name, "default");
  EXPECT_EQ(nginx.metadata.name, "nginx");
  EXPECT_EQ(nginx.metadata.annotations.at("kubernetes.io/elb.pass-through"), "true");
  EXPECT_EQ(nginx.metadata.annotations.at("kubernetes.io/elb.class"), "union");
  EXPECT_THAT(nginx.metadata.annotations.at("kubernetes.io/elb.autocreate"),
              HasSubstr("\"name\":\"james\""));
  EXPECT_EQ(nginx.metadata.labels.at("app"), "nginx");
  EXPECT_EQ(nginx.type, ServiceType::kLoadBalancer);
  EXPECT_EQ(nginx.external_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_THAT(nginx.cluster_ips, ElementsAre(Ip("10.96.128.10")));
  ASSERT_THAT(nginx.ports, SizeIs(1));
  EXPECT_EQ(nginx.ports[0].name, "service0");
  EXPECT_EQ(nginx.ports[0].port, 80);
  EXPECT_EQ(nginx.ports[0].node_port, 30080);
  EXPECT_EQ(nginx.health_check_node_port, 32080);
  ASSERT_THAT(nginx.load_balancer_ingress, SizeIs(1));
  EXPECT_EQ(nginx.load_balancer_ingress[0].ip, Ip("203.0.113.10"));
  EXPECT_FALSE(nginx.metadata.uid.empty());
  EXPECT_FALSE(nginx.metadata.resource_version.empty());
  EXPECT_NE(nginx.metadata.creation_timestamp, absl::InfinitePast());

  DecodedObjects eps =
      DecodeYamlDocuments(ReadTestFile("manifests/examples/nginx-endpointslice.yaml"));
  EXPECT_THAT(eps.errors, IsEmpty());
  ASSERT_THAT(eps.endpoint_slices, SizeIs(1));
  const proxier::EndpointSlice& slice = eps.endpoint_slices[0];
  EXPECT_EQ(slice.metadata.namespace_name, "default");
  EXPECT_EQ(slice.service_name, "nginx");
  ASSERT_THAT(slice.endpoints, SizeIs(2));
  EXPECT_THAT(slice.endpoints[0].addresses, ElementsAre(Ip("10.244.1.2")));
  EXPECT_THAT(slice.endpoints[1].addresses, ElementsAre(Ip("10.244.1.3")));
  for (const proxier::EndpointSliceEndpoint& ep : slice.endpoints) {
    EXPECT_EQ(ep.node_name, "node-a");
    EXPECT_EQ(ep.conditions.ready, true);
    EXPECT_EQ(ep.conditions.serving, true);
    EXPECT_EQ(ep.conditions.terminating, false);
  }
  ASSERT_THAT(slice.ports, SizeIs(1));
  EXPECT_EQ(slice.ports[0].name, "service0");
  EXPECT_EQ(slice.ports[0].port, 80);
  EXPECT_EQ(slice.ports[0].protocol, Protocol::kTCP);

  DecodedObjects node = DecodeYamlDocuments(ReadTestFile("manifests/examples/node-a.yaml"));
  EXPECT_THAT(node.errors, IsEmpty());
  ASSERT_THAT(node.nodes, SizeIs(1));
  EXPECT_EQ(node.nodes[0].metadata.name, "node-a");
  EXPECT_EQ(node.nodes[0].metadata.labels.at("topology.kubernetes.io/zone"), "zone-a");
  EXPECT_EQ(node.nodes[0].metadata.labels.at("kubernetes.io/hostname"), "node-a");
  EXPECT_THAT(node.nodes[0].pod_cidrs, ElementsAre(Net("10.244.1.0/24")));
  ASSERT_FALSE(node.nodes[0].addresses.empty());
  EXPECT_EQ(node.nodes[0].addresses[0].type, "InternalIP");
  EXPECT_EQ(node.nodes[0].addresses[0].address, "192.0.2.129");
}

}  // namespace
}  // namespace kproxy::apiclient
