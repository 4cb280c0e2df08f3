// Memory and time of the reflector's cache for a large cluster: a paged initial list (500 per
// page, as kube-proxy lists) of 10k Services and of EndpointSlices holding 100k endpoints, fed
// from an in-process transport. Reports the heap the cache holds (cache_bytes, per object) and
// the process RSS growth while listing.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apiclient/reflector.h"
#include "apiclient/testing/scripted_transport.h"
#include "benchmark/benchmark.h"
#include "logging/log.h"

namespace kproxy::apiclient {
namespace {

constexpr int kPageSize = 500;

std::string ServiceItem(int i) {
  const bool lb = i % 10 == 0;
  return absl::StrCat(
      R"json({"metadata":{"name":"svc-)json", i, R"json(","namespace":"ns-)json", i % 100,
      R"json(","uid":"0c3f6a9e-1b2d-4e5f-8a7b-)json", 100000000000 + i, R"json(","resourceVersion":")json", 1000 + i,
      R"json(","creationTimestamp":"2024-05-01T10:00:00Z","labels":{"app":"app-)json", i,
      R"json("},"annotations":{)json", lb ? R"json("kubernetes.io/elb.pass-through":"true")json" : "",
      R"json(}},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080)json",
      lb ? R"json(,"nodePort":30080)json" : "", R"json(}],"clusterIP":"10.96.)json", i / 250, ".", i % 250,
      R"json(","type":")json", lb ? "LoadBalancer" : "ClusterIP", R"json("},"status":{"loadBalancer":{)json",
      lb ? absl::StrCat(R"json("ingress":[{"ip":"203.0.113.)json", i % 250, R"json("}])json") : "", "}}}");
}

std::string SliceItem(int s, int per_slice) {
  std::string out = absl::StrCat(
      R"json({"metadata":{"name":"svc-)json", s, R"json(-abcde","namespace":"ns-)json", s % 100,
      R"json(","resourceVersion":")json", 500000 + s,
      R"json(","labels":{"kubernetes.io/service-name":"svc-)json", s, R"json("}},"addressType":"IPv4","endpoints":[)json");
  for (int e = 0; e < per_slice; ++e) {
    const int n = s * per_slice + e;
    if (e > 0) out.push_back(',');
    absl::StrAppend(&out, R"json({"addresses":["10.)json", 64 + n / 65536, ".", (n / 256) % 256, ".", n % 256,
                    R"json("],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-)json",
                    n % 500, R"json(","zone":"zone-)json", n % 3, "\"}");
  }
  out.append(R"json(],"ports":[{"name":"http","protocol":"TCP","port":8080}]})json");
  return out;
}

// The list split into pages with continue tokens, as the API server returns it.
std::vector<std::string> Pages(const char* list_kind, const char* api_version, int count,
                               const std::function<std::string(int)>& item) {
  std::vector<std::string> pages;
  for (int start = 0; start < count; start += kPageSize) {
    const int end = std::min(count, start + kPageSize);
    std::string page = absl::StrCat(R"json({"kind":")json", list_kind, R"json(","apiVersion":")json", api_version,
                                    R"json(","metadata":{"resourceVersion":"999999")json");
    if (end < count) absl::StrAppend(&page, R"json(,"continue":"page-)json", end, "\"");
    page.append(R"json(},"items":[)json");
    for (int i = start; i < end; ++i) {
      if (i > start) page.push_back(',');
      page.append(item(i));
    }
    page.append("]}");
    pages.push_back(std::move(page));
  }
  return pages;
}

class CountingSink final : public ReflectorSink {
 public:
  void OnAdd(const DecodedObject&) override { ++adds; }
  void OnUpdate(const DecodedObject&, const DecodedObject&) override {}
  void OnDelete(const DecodedObject&) override {}
  void OnSynced() override {}
  size_t adds = 0;
};

size_t HeapInUse() { return mallinfo2().uordblks; }

size_t RssBytes() {
  long pages = 0, rss = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(rss) * sysconf(_SC_PAGESIZE);
}

void ListIntoCache(benchmark::State& state, const char* kind, const char* path,
                   const std::vector<std::string>& pages, size_t objects) {
  double cache_bytes = 0;
  double rss_delta = 0;
  for (auto _ : state) {
    state.PauseTiming();
    testing::ScriptedTransport transport;
    for (const std::string& page : pages) transport.Push(testing::ScriptedTransport::Ok(page));
    CountingSink sink;
    const size_t rss_before = RssBytes();
    state.ResumeTiming();
    auto reflector = std::make_unique<Reflector>(&transport, ResourceSpec{kind, path, "", ""}, &sink);
    reflector->Start();
    if (!reflector->WaitForSync(absl::Minutes(5)) || sink.adds != objects) {
      state.SkipWithError("list did not load every object");
      return;
    }
    state.PauseTiming();
    rss_delta = static_cast<double>(RssBytes()) - static_cast<double>(rss_before);
    reflector->Stop();
    // The cache is all the reflector still holds once stopped: freeing it shows its size.
    const size_t with_cache = HeapInUse();
    reflector.reset();
    cache_bytes = static_cast<double>(with_cache) - static_cast<double>(HeapInUse());
    state.ResumeTiming();
  }
  state.counters["objects"] = static_cast<double>(objects);
  state.counters["cache_bytes"] = cache_bytes;
  state.counters["cache_bytes_per_object"] = cache_bytes / static_cast<double>(objects);
  state.counters["rss_delta_bytes"] = rss_delta;
}

void BM_ListServicesIntoCache(benchmark::State& state) {
  const int count = static_cast<int>(state.range(0));
  static const std::vector<std::string>* pages =
      new std::vector<std::string>(Pages("ServiceList", "v1", count, ServiceItem));
  ListIntoCache(state, "Service", "/api/v1/services", *pages, count);
}
BENCHMARK(BM_ListServicesIntoCache)->Arg(10000)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ListEndpointSlicesIntoCache(benchmark::State& state) {
  const int endpoints = static_cast<int>(state.range(0));
  constexpr int kPerSlice = 100;
  const int slices = endpoints / kPerSlice;
  static const std::vector<std::string>* pages = new std::vector<std::string>(
      Pages("EndpointSliceList", "discovery.k8s.io/v1", slices, [](int s) { return SliceItem(s, kPerSlice); }));
  ListIntoCache(state, "EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices", *pages, slices);
  state.counters["endpoints"] = endpoints;
}
BENCHMARK(BM_ListEndpointSlicesIntoCache)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace kproxy::apiclient
