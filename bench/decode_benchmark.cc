// Decoding throughput of the initial list of a large cluster: a ServiceList of 10k Services and an
// EndpointSliceList with 100k endpoints (100 per slice, as the EndpointSlice controller caps them).
#include <string>

#include "absl/strings/str_cat.h"
#include "apiclient/object_decoder.h"
#include "benchmark/benchmark.h"

namespace kproxy::apiclient {
namespace {

std::string MakeServiceList(int count) {
  std::string out =
      R"({"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"123456"},"items":[)";
  for (int i = 0; i < count; ++i) {
    if (i > 0) out.push_back(',');
    bool lb = i % 10 == 0;
    absl::StrAppend(
        &out, R"({"metadata":{"name":"svc-)", i, R"(","namespace":"ns-)", i % 100,
        R"(","uid":"0c3f6a9e-1b2d-4e5f-8a7b-)", 100000000000 + i, R"(","resourceVersion":")",
        1000 + i, R"(","creationTimestamp":"2024-05-01T10:00:00Z","labels":{"app":"app-)", i,
        R"(","tier":"backend"},"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"kind\":\"Service\"}")",
        lb ? R"(,"kubernetes.io/elb.pass-through":"true")" : "", R"(}},"spec":{"ports":[)",
        R"({"name":"http","protocol":"TCP","port":80,"targetPort":8080)",
        lb ? R"(,"nodePort":30080)" : "",
        R"(},{"name":"metrics","protocol":"TCP","port":9090,"targetPort":9090)",
        lb ? R"(,"nodePort":30090)" : "", R"(}],"selector":{"app":"app-)", i,
        R"("},"clusterIP":"10.96.)", i / 250, ".", i % 250, R"(","clusterIPs":["10.96.)", i / 250,
        ".", i % 250, R"("],"type":")", lb ? "LoadBalancer" : "ClusterIP",
        R"(","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster")",
        lb ? R"(,"externalTrafficPolicy":"Local","healthCheckNodePort":32000)" : "",
        R"(},"status":{"loadBalancer":{)",
        lb ? absl::StrCat(R"("ingress":[{"ip":"203.0.113.)", i % 250, R"(","ipMode":"VIP"}])") : "",
        "}}}");
  }
  out.append("]}");
  return out;
}

std::string MakeEndpointSliceList(int endpoints) {
  std::string out =
      R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"123456"},"items":[)";
  constexpr int kPerSlice = 100;
  for (int s = 0; s * kPerSlice < endpoints; ++s) {
    if (s > 0) out.push_back(',');
    absl::StrAppend(
        &out, R"({"metadata":{"name":"svc-)", s, R"(-abcde","namespace":"ns-)", s % 100,
        R"(","resourceVersion":")", 5000 + s,
        R"(","creationTimestamp":"2024-05-01T10:00:00Z","labels":{"kubernetes.io/service-name":"svc-)",
        s,
        R"(","endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"}},"addressType":"IPv4","endpoints":[)");
    for (int e = 0; e < kPerSlice && s * kPerSlice + e < endpoints; ++e) {
      int n = s * kPerSlice + e;
      if (e > 0) out.push_back(',');
      absl::StrAppend(
          &out, R"({"addresses":["10.)", 64 + n / 65536, ".", (n / 256) % 256, ".", n % 256,
          R"("],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-)",
          n % 500, R"(","zone":"zone-)", n % 3, R"(","targetRef":{"kind":"Pod","namespace":"ns-)",
          s % 100, R"(","name":"pod-)", n, R"(","uid":"d2b7c1e0-4f3a-4b6c-9e8d-)", 100000000000 + n,
          R"("}})");
    }
    out.append(R"(],"ports":[{"name":"http","protocol":"TCP","port":8080}]})");
  }
  out.append("]}");
  return out;
}

void CheckDecoded(benchmark::State& state, const absl::StatusOr<DecodedObjects>& decoded,
                  size_t want) {
  size_t got = decoded.ok() ? decoded->services.size() + decoded->endpoint_slices.size() : 0;
  if (!decoded.ok() || !decoded->errors.empty() || got != want)
    state.SkipWithError("decode failed");
}

void BM_DecodeServiceList10k(benchmark::State& state) {
  const std::string json = MakeServiceList(10000);
  for (auto _ : state) {
    absl::StatusOr<DecodedObjects> decoded = DecodeJsonDocument(json);
    CheckDecoded(state, decoded, 10000);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
  state.counters["objects/s"] =
      benchmark::Counter(10000.0 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["MB"] = static_cast<double>(json.size()) / 1e6;
}
BENCHMARK(BM_DecodeServiceList10k)->Unit(benchmark::kMillisecond);

void BM_DecodeEndpointSliceList100kEndpoints(benchmark::State& state) {
  const std::string json = MakeEndpointSliceList(100000);
  for (auto _ : state) {
    absl::StatusOr<DecodedObjects> decoded = DecodeJsonDocument(json);
    CheckDecoded(state, decoded, 1000);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
  state.counters["endpoints/s"] =
      benchmark::Counter(100000.0 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["MB"] = static_cast<double>(json.size()) / 1e6;
}
BENCHMARK(BM_DecodeEndpointSliceList100kEndpoints)->Unit(benchmark::kMillisecond);

// A reused parser and a pre-padded buffer: what a list client that keeps its parser gets.
void BM_DecodeEndpointSliceList100kEndpointsReusedParser(benchmark::State& state) {
  const simdjson::padded_string json(MakeEndpointSliceList(100000));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    absl::StatusOr<DecodedObjects> decoded = DecodeJsonDocument(parser, json);
    CheckDecoded(state, decoded, 1000);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(json.size()));
}
BENCHMARK(BM_DecodeEndpointSliceList100kEndpointsReusedParser)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kproxy::apiclient
