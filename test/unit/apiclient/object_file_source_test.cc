#include "apiclient/object_file_source.h"

#include <map>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::apiclient {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Records every handler call as one line, e.g. "update Service ns/a port=81".
class RecordingHandler final : public proxier::ServiceHandler,
                               public proxier::EndpointSliceHandler,
                               public proxier::NodeHandler {
 public:
  void OnServiceAdd(const proxier::Service& s) override { Record("add Service", Describe(s)); }
  void OnServiceUpdate(const proxier::Service& old_s, const proxier::Service& s) override {
    EXPECT_EQ(old_s.metadata.name, s.metadata.name);
    Record("update Service", Describe(s));
  }
  void OnServiceDelete(const proxier::Service& s) override {
    Record("delete Service", Describe(s));
  }
  void OnServicesSynced() override { Record("synced Services", ""); }
  void OnEndpointSliceAdd(const proxier::EndpointSlice& s) override {
    Addresses(s);
    Record("add EndpointSlice", Name(s));
  }
  void OnEndpointSliceUpdate(const proxier::EndpointSlice& old_s,
                             const proxier::EndpointSlice& s) override {
    EXPECT_EQ(Name(old_s), Name(s));
    EXPECT_EQ(old_s.service_name, s.service_name);
    Addresses(s);
    Record("update EndpointSlice", Name(s));
  }
  void OnEndpointSliceDelete(const proxier::EndpointSlice& s) override {
    Record("delete EndpointSlice", Name(s));
  }
  void OnEndpointSlicesSynced() override { Record("synced EndpointSlices", ""); }
  void OnNodeAdd(const proxier::Node& n) override { Record("add Node", n.metadata.name); }
  void OnNodeUpdate(const proxier::Node&, const proxier::Node& n) override {
    Record("update Node", n.metadata.name);
  }
  void OnNodeDelete(const proxier::Node& n) override { Record("delete Node", n.metadata.name); }
  void OnNodeSynced() override { Record("synced Node", ""); }

  // The endpoint addresses each slice was last delivered with, e.g. "10.0.0.1,10.0.0.2".
  std::string AddressesOf(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return addresses_[name];
  }

  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(events_, {});
  }
  // Waits until `event` has been recorded; returns false after the timeout.
  // No deadline of its own (unit tests have no wall-clock limits): an event that never comes hangs
  // the test until CTest's timeout fails it.
  bool WaitFor(const std::string& event) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return std::find(events_.begin(), events_.end(), event) != events_.end(); });
    return true;
  }

 private:
  static std::string Name(const proxier::EndpointSlice& s) {
    return absl::StrCat(s.metadata.namespace_name, "/", s.metadata.name);
  }
  static std::string Describe(const proxier::Service& s) {
    std::string out = absl::StrCat(s.metadata.namespace_name, "/", s.metadata.name);
    for (const proxier::ServicePortSpec& p : s.ports) absl::StrAppend(&out, " port=", p.port);
    return out;
  }
  void Addresses(const proxier::EndpointSlice& s) {
    std::string out;
    for (const auto& ep : s.endpoints) {
      for (const auto& ip : ep.addresses) absl::StrAppend(&out, out.empty() ? "" : ",", ip.ToString());
    }
    std::lock_guard<std::mutex> lock(mu_);
    addresses_[Name(s)] = out;
  }
  void Record(absl::string_view what, absl::string_view object) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(object.empty() ? std::string(what) : absl::StrCat(what, " ", object));
    cv_.notify_all();
  }

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, which
  // then reports false races on everything an absl::Mutex guards.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::map<std::string, std::string> addresses_;
};

std::string SliceYaml(absl::string_view name, std::vector<std::string> ips) {
  std::string out = absl::StrCat(
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ", name,
      "\n  namespace: ns\n  labels:\n    kubernetes.io/service-name: web\naddressType: IPv4\n"
      "ports:\n- port: 8080\nendpoints:\n");
  for (const std::string& ip : ips) absl::StrAppend(&out, "- addresses: [\"", ip, "\"]\n");
  return out;
}

std::string ServiceYaml(absl::string_view name, int port) {
  return absl::StrCat(
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: ", name,
      "\n  namespace: ns\nspec:\n  clusterIP: 10.96.0.10\n  ports:\n  - port: ", port, "\n");
}

class ObjectFileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "kproxy-objects-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes through a hidden temp file and a rename, as editors and kubectl cp do.
  void Write(const std::string& name, const std::string& content) {
    std::string tmp = absl::StrCat(dir_, "/.", name, ".tmp");
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << content;
    }
    ASSERT_EQ(rename(tmp.c_str(), absl::StrCat(dir_, "/", name).c_str()), 0);
  }
  void Remove(const std::string& name) { std::filesystem::remove(absl::StrCat(dir_, "/", name)); }

  std::unique_ptr<ObjectFileSource> MakeSource(absl::string_view node_name = "",
                                               absl::Duration poll = absl::Seconds(1)) {
    ObjectFileSourceOptions options;
    options.path = dir_;
    options.node_name = std::string(node_name);
    options.poll_interval = poll;
    options.on_rejected = [this](absl::string_view file, absl::string_view message) {
      rejections_.push_back(absl::StrCat(file, ": ", message));
    };
    absl::StatusOr<std::unique_ptr<ObjectFileSource>> source =
        ObjectFileSource::Create(options, &handler_, &handler_, &handler_);
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? std::move(*source) : nullptr;
  }

  std::string dir_;
  RecordingHandler handler_;
  std::vector<std::string> rejections_;
};

TEST_F(ObjectFileSourceTest, DeliversTheExampleManifestsThenSynced) {
  for (const char* name : {"nginx-service.yaml", "nginx-endpointslice.yaml", "node-a.yaml"}) {
    std::filesystem::copy_file(absl::StrCat(KPROXY_SOURCE_DIR, "/manifests/examples/", name),
                               absl::StrCat(dir_, "/", name));
  }
  Write("node-b.json", R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"node-b"}})");
  Write("notes.txt", "not an object file, ignored");
  auto source = MakeSource("node-a");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("add Node node-a", "add Service default/nginx port=80",
                                           "add EndpointSlice default/nginx-7xk2p", "synced Node",
                                           "synced Services", "synced EndpointSlices"));
  EXPECT_EQ(source->rejected_objects(), 0u);
  EXPECT_THAT(rejections_, IsEmpty());
}

TEST_F(ObjectFileSourceTest, DeliversAddUpdateDeleteAsDiffs) {
  Write("svcs.yaml", absl::StrCat(ServiceYaml("a", 80), "---\n", ServiceYaml("b", 80)));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(),
              ElementsAre("add Service ns/a port=80", "add Service ns/b port=80", "synced Node",
                          "synced Services", "synced EndpointSlices"));

  Write("svcs.yaml", absl::StrCat(ServiceYaml("a", 81), "---\n", ServiceYaml("c", 80)));
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(),
              ElementsAre("delete Service ns/b port=80", "update Service ns/a port=81",
                          "add Service ns/c port=80"));

  Remove("svcs.yaml");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(),
              ElementsAre("delete Service ns/a port=81", "delete Service ns/c port=80"));
}

TEST_F(ObjectFileSourceTest, UnchangedObjectsProduceNoCalls) {
  Write("a.yaml", ServiceYaml("a", 80));
  Write("b.yaml", ServiceYaml("b", 80));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  handler_.Take();

  // Same objects, written differently (JSON instead of YAML, a comment): nothing to tell.
  Write("a.yaml", absl::StrCat("# reformatted\n", ServiceYaml("a", 80)));
  Write(
      "b.yaml",
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"b","namespace":"ns"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":80}]}})");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), IsEmpty());
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), IsEmpty());
}

TEST_F(ObjectFileSourceTest, MalformedEditKeepsTheLastGoodObject) {
  Write("svcs.yaml", absl::StrCat(ServiceYaml("a", 80), "---\n", ServiceYaml("b", 80)));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  handler_.Take();

  // a gets a port out of range: it keeps port 80 (no delete), b's valid edit still applies.
  Write("svcs.yaml", absl::StrCat(ServiceYaml("a", 70000), "---\n", ServiceYaml("b", 82)));
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("update Service ns/b port=82"));
  EXPECT_EQ(source->rejected_objects(), 1u);
  ASSERT_EQ(rejections_.size(), 1u);
  EXPECT_THAT(
      rejections_[0],
      ::testing::HasSubstr("svcs.yaml: Service ns/a: spec.ports[0].port: 70000 is out of range"));

  // The whole file stops parsing: every object it held stays.
  Write("svcs.yaml", "kind: Service\nmetadata: [unclosed\n");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), IsEmpty());
  EXPECT_EQ(source->rejected_objects(), 2u);

  // Fixed: a's new version arrives, b is gone now.
  Write("svcs.yaml", ServiceYaml("a", 83));
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(),
              ElementsAre("delete Service ns/b port=82", "update Service ns/a port=83"));
}

TEST_F(ObjectFileSourceTest, BrokenFileOnFirstLoadStillSyncsTheRest) {
  Write("a-broken.yaml", "kind: Service\nmetadata: [unclosed\n");
  Write("b.yaml", ServiceYaml("b", 80));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("add Service ns/b port=80", "synced Node",
                                           "synced Services", "synced EndpointSlices"));
  EXPECT_EQ(source->rejected_objects(), 1u);

  Write("a-broken.yaml", ServiceYaml("a", 80));
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("add Service ns/a port=80"));
}

TEST_F(ObjectFileSourceTest, LaterFileWinsForTheSameObject) {
  Write("1-base.yaml", ServiceYaml("a", 80));
  Write("2-override.yaml", ServiceYaml("a", 81));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("add Service ns/a port=81", "synced Node",
                                           "synced Services", "synced EndpointSlices"));
  Remove("2-override.yaml");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("update Service ns/a port=80"));
}

// Delivered slices are kept as identities only (their endpoints are most of the memory): changes
// are still found by content, unchanged re-reads stay silent, and the handlers get whole slices.
TEST_F(ObjectFileSourceTest, SlicesAreComparedByContentAndDeliveredWhole) {
  Write("slices.yaml", absl::StrCat(SliceYaml("web-1", {"10.0.0.1"}), "---\n", SliceYaml("web-2", {"10.0.0.2"})));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  handler_.Take();
  EXPECT_EQ(handler_.AddressesOf("ns/web-1"), "10.0.0.1");

  Write("slices.yaml", absl::StrCat("# reformatted\n", SliceYaml("web-1", {"10.0.0.1"}), "---\n",
                                    SliceYaml("web-2", {"10.0.0.2", "10.0.0.3"})));
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("update EndpointSlice ns/web-2"));
  EXPECT_EQ(handler_.AddressesOf("ns/web-2"), "10.0.0.2,10.0.0.3");

  Remove("slices.yaml");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("delete EndpointSlice ns/web-1", "delete EndpointSlice ns/web-2"));
}

// The winning definition of a slice goes away: the other file's definition (not re-read, so held
// only as an identity) must be delivered whole — the source reads every file again for it.
TEST_F(ObjectFileSourceTest, LaterFileWinsForTheSameSliceAndTheEarlierOneReturnsWhole) {
  Write("1-base.yaml", SliceYaml("web-1", {"10.0.0.1"}));
  Write("2-override.yaml", SliceYaml("web-1", {"10.0.0.9"}));
  auto source = MakeSource();
  ASSERT_TRUE(source->LoadOnce().ok());
  handler_.Take();
  EXPECT_EQ(handler_.AddressesOf("ns/web-1"), "10.0.0.9");
  Remove("2-override.yaml");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("update EndpointSlice ns/web-1"));
  EXPECT_EQ(handler_.AddressesOf("ns/web-1"), "10.0.0.1");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), IsEmpty());
}

TEST_F(ObjectFileSourceTest, NodeHandlerSeesOnlyTheConfiguredNode) {
  Write("nodes.yaml",
        "apiVersion: v1\nkind: NodeList\nitems:\n- metadata: {name: node-a}\n- metadata: {name: "
        "node-b}\n");
  auto source = MakeSource("node-b");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("add Node node-b", "synced Node", "synced Services",
                                           "synced EndpointSlices"));
  Write("nodes.yaml",
        "apiVersion: v1\nkind: NodeList\nitems:\n- metadata: {name: node-a}\n- metadata: {name: "
        "node-b, labels: {x: y}}\n");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("update Node node-b"));
  Write("nodes.yaml", "apiVersion: v1\nkind: NodeList\nitems:\n- metadata: {name: node-a}\n");
  ASSERT_TRUE(source->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("delete Node node-b"));
}

TEST_F(ObjectFileSourceTest, RunningSourcePicksUpEditsOnDisk) {
  Write("a.yaml", ServiceYaml("a", 80));
  auto source = MakeSource("", absl::Milliseconds(20));
  ASSERT_TRUE(source->Run().ok());
  EXPECT_TRUE(handler_.WaitFor("synced Services"));

  Write("a.yaml", ServiceYaml("a", 8080));
  EXPECT_TRUE(handler_.WaitFor("update Service ns/a port=8080"));
  // An in-place rewrite (same inode) is seen too.
  {
    std::ofstream out(absl::StrCat(dir_, "/a.yaml"), std::ios::trunc);
    out << ServiceYaml("a", 9090);
  }
  EXPECT_TRUE(handler_.WaitFor("update Service ns/a port=9090"));
  Write("b.yml", ServiceYaml("b", 80));
  EXPECT_TRUE(handler_.WaitFor("add Service ns/b port=80"));
  source->Stop();
  source->Stop();  // idempotent
  EXPECT_FALSE(source->Run().ok());
}

TEST_F(ObjectFileSourceTest, RunningSourceDoesNotLoadAHalfWrittenFile) {
  Write("a.yaml", ServiceYaml("a", 80));
  auto source = MakeSource("", absl::Milliseconds(10));
  ASSERT_TRUE(source->Run().ok());
  ASSERT_TRUE(handler_.WaitFor("synced Services"));
  handler_.Take();

  // An editor truncates, pauses, then writes: the empty moment must not delete the Service.
  std::string path = absl::StrCat(dir_, "/a.yaml");
  std::ofstream out(path, std::ios::trunc);
  out.flush();
  absl::SleepFor(absl::Milliseconds(100));
  out << ServiceYaml("a", 8080);
  out.close();
  EXPECT_TRUE(handler_.WaitFor("update Service ns/a port=8080"));
  source->Stop();
  EXPECT_THAT(handler_.Take(), ElementsAre("update Service ns/a port=8080"));
}

TEST_F(ObjectFileSourceTest, ReadsASingleFile) {
  Write(
      "one.json",
      R"({"kind":"ServiceList","apiVersion":"v1","items":[{"metadata":{"name":"x","namespace":"ns"},"spec":{"ports":[{"port":53,"protocol":"UDP"}]}}]})");
  ObjectFileSourceOptions options;
  options.path = absl::StrCat(dir_, "/one.json");
  absl::StatusOr<std::unique_ptr<ObjectFileSource>> source =
      ObjectFileSource::Create(options, &handler_, nullptr, nullptr);
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_TRUE((*source)->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), ElementsAre("add Service ns/x port=53", "synced Services"));

  // The file vanishing (mid-replace) loses nothing.
  Remove("one.json");
  EXPECT_FALSE((*source)->LoadOnce().ok());
  EXPECT_THAT(handler_.Take(), IsEmpty());
}

TEST_F(ObjectFileSourceTest, CreateFailsForAMissingPath) {
  ObjectFileSourceOptions options;
  options.path = absl::StrCat(dir_, "/does-not-exist");
  absl::StatusOr<std::unique_ptr<ObjectFileSource>> source =
      ObjectFileSource::Create(options, &handler_, &handler_, &handler_);
  EXPECT_TRUE(absl::IsNotFound(source.status())) << source.status();
}

}  // namespace
}  // namespace kproxy::apiclient
