// Hostile and odd API objects through the real pipeline (JSON decoder -> ProxyState -> iptables
// planner -> iptables-restore rendering): each is handled as upstream does or rejected clearly, and
// never changes another Service's rules (the "good" Service's chains stay byte-identical).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "apiclient/object_decoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proxier/iptables/iptables_planner.h"
#include "proxier/iptables/restore_renderer.h"
#include "proxier/node_context.h"
#include "proxier/proxy_state.h"

namespace kproxy {
namespace {

using proxier::IpAddress;
using proxier::IpFamily;
using proxier::ProxyState;

std::string Service(absl::string_view ns, absl::string_view name, absl::string_view cluster_ip,
                    absl::string_view extra_spec = "", absl::string_view extra_meta = "",
                    absl::string_view ports = R"([{"name":"http","protocol":"TCP","port":80,"targetPort":8080}])") {
  return absl::StrCat(R"({"apiVersion":"v1","kind":"Service","metadata":{"namespace":")", ns, R"(","name":")",
                      name, R"(","uid":"uid-)", name, R"(")", extra_meta, R"(},"spec":{"type":"ClusterIP","clusterIP":")",
                      cluster_ip, R"(","clusterIPs":[")", cluster_ip, R"("],"ipFamilies":["IPv4"],"ports":)", ports,
                      extra_spec, "}}");
}

std::string Slice(absl::string_view ns, absl::string_view service, absl::string_view slice_name,
                  const std::vector<std::string>& ips, absl::string_view address_type = "IPv4",
                  absl::string_view ports = R"([{"name":"http","protocol":"TCP","port":8080}])") {
  std::string eps;
  for (const std::string& ip : ips) {
    if (!eps.empty()) eps += ",";
    absl::StrAppend(&eps, R"({"addresses":[")", ip, R"("],"nodeName":"node-a","conditions":{"ready":true,"serving":true,"terminating":false}})");
  }
  return absl::StrCat(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":")", ns,
                      R"(","name":")", slice_name, R"(","labels":{"kubernetes.io/service-name":")", service,
                      R"("}},"addressType":")", address_type, R"(","endpoints":[)", eps, R"(],"ports":)", ports, "}");
}

// The pipeline of one IPv4 node; objects are added, updated or deleted by their JSON.
class Pipeline {
 public:
  Pipeline() : state_(IpFamily::kIPv4, "node-a", [] { return absl::Now(); }, [] {}) {
    state_.OnServicesSynced();
    state_.OnEndpointSlicesSynced();
    node_.node_name = "node-a";
    node_.family = IpFamily::kIPv4;
    node_.node_ips.push_back(*IpAddress::Parse("192.0.2.129"));
  }

  // Returns the decoder's errors (empty when every object was accepted).
  std::vector<std::string> Apply(const std::string& json, bool remove = false) {
    auto decoded = apiclient::DecodeJsonDocument(json);
    if (!decoded.ok()) return {std::string(decoded.status().message())};
    for (const auto& s : decoded->services) {
      auto key = absl::StrCat(s.metadata.namespace_name, "/", s.metadata.name);
      auto it = services_.find(key);
      if (remove) {
        if (it != services_.end()) state_.OnServiceDelete(it->second);
        services_.erase(key);
      } else if (it != services_.end()) {
        state_.OnServiceUpdate(it->second, s);
        it->second = s;
      } else {
        state_.OnServiceAdd(s);
        services_.emplace(key, s);
      }
    }
    for (const auto& s : decoded->endpoint_slices) {
      auto key = absl::StrCat(s.metadata.namespace_name, "/", s.metadata.name);
      auto it = slices_.find(key);
      if (remove) {
        if (it != slices_.end()) state_.OnEndpointSliceDelete(it->second);
        slices_.erase(key);
      } else if (it != slices_.end()) {
        state_.OnEndpointSliceUpdate(it->second, s);
        it->second = s;
      } else {
        state_.OnEndpointSliceAdd(s);
        slices_.emplace(key, s);
      }
    }
    return decoded->errors;
  }

  // The full iptables-restore input for the current state.
  std::string Render() {
    ProxyState::Taken taken = state_.TakeSnapshot();
    proxier::iptables::IptablesPlannerConfig config;
    config.local_detect_mode = proxier::iptables::LocalDetectMode::kClusterCidr;
    config.cluster_cidrs.push_back(*proxier::Cidr::Parse("10.244.0.0/16"));
    proxier::iptables::IptablesPlanner planner(config);
    auto plan = planner.Plan(*taken.snapshot, node_, taken.changed, nullptr);
    return proxier::iptables::RenderRestore(*plan, {}).input;
  }

 private:
  ProxyState state_;
  proxier::NodeContext node_;
  std::map<std::string, proxier::Service> services_;
  std::map<std::string, proxier::EndpointSlice> slices_;
};

// Every rule line mentioning the Service (by its "ns/name:" comment) plus every rule of the chains
// those lines jump to (its SVC/SEP/EXT/FW chains), grouped by chain.
std::map<std::string, std::vector<std::string>> ChainsOf(const std::string& restore, absl::string_view service) {
  std::vector<std::string> lines = absl::StrSplit(restore, '\n');
  std::map<std::string, std::vector<std::string>> by_chain;
  std::string table;
  for (const std::string& l : lines) {
    if (absl::StartsWith(l, "*")) table = l;
    if (absl::StartsWith(l, "-A ")) {
      std::vector<std::string> parts = absl::StrSplit(l, ' ');
      by_chain[table + " " + parts[1]].push_back(l);
    }
  }
  std::map<std::string, std::vector<std::string>> out;
  std::string needle = absl::StrCat(service, ":");
  for (const auto& [chain, rules] : by_chain) {
    for (const std::string& r : rules) {
      if (absl::StrContains(r, needle)) out[chain].push_back(r);
    }
    bool own = false;
    for (const std::string& r : rules) own = own || absl::StrContains(r, needle);
    if (own && (absl::StrContains(chain, "KUBE-SVC-") || absl::StrContains(chain, "KUBE-SEP-") ||
                absl::StrContains(chain, "KUBE-EXT-") || absl::StrContains(chain, "KUBE-FW-") ||
                absl::StrContains(chain, "KUBE-SVL-"))) {
      out[chain] = rules;
    }
  }
  return out;
}

std::vector<std::string> ChainNames(const std::string& restore) {
  std::vector<std::string> names;
  for (absl::string_view l : absl::StrSplit(restore, '\n')) {
    if (absl::StartsWith(l, ":")) names.emplace_back(l.substr(1, l.find(' ') - 1));
  }
  return names;
}

class HostileObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(p_.Apply(Service("default", "good", "10.96.0.10")), ::testing::IsEmpty());
    ASSERT_THAT(p_.Apply(Slice("default", "good", "good-1", {"10.244.1.2", "10.244.1.3"})), ::testing::IsEmpty());
    baseline_ = ChainsOf(p_.Render(), "default/good");
    ASSERT_FALSE(baseline_.empty());
  }
  void ExpectGoodUnchanged(const std::string& restore) {
    EXPECT_EQ(ChainsOf(restore, "default/good"), baseline_) << "another Service's rules changed";
  }
  Pipeline p_;
  std::map<std::string, std::vector<std::string>> baseline_;
};

TEST_F(HostileObjectsTest, HugeAnnotationIsCarriedWithoutAffectingRules) {
  std::string big(1 << 20, 'a');
  auto errors = p_.Apply(Service("default", "big", "10.96.0.11", "",
                                 absl::StrCat(R"(,"annotations":{"x":")", big, R"("})")));
  EXPECT_THAT(errors, ::testing::IsEmpty());
  p_.Apply(Slice("default", "big", "big-1", {"10.244.1.4"}));
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  EXPECT_TRUE(absl::StrContains(restore, "default/big:http")) << "the annotated Service is programmed";
  EXPECT_FALSE(absl::StrContains(restore, big.substr(0, 1000))) << "annotations never reach the rules";
}

TEST_F(HostileObjectsTest, ThousandsOfPortsOnOneService) {
  std::string ports = "[";
  std::string slice_ports = "[";
  // 900 ports x 1 endpoint stays below the 1000-endpoint large-cluster threshold: above it upstream
  // drops the comments of every SEP rule (all Services' rules change), which kproxy copies.
  for (int i = 0; i < 900; ++i) {
    absl::StrAppend(&ports, i ? "," : "", R"({"name":"p)", i, R"(","protocol":"TCP","port":)", 10000 + i,
                    R"(,"targetPort":)", 20000 + i, "}");
    absl::StrAppend(&slice_ports, i ? "," : "", R"({"name":"p)", i, R"(","protocol":"TCP","port":)", 20000 + i, "}");
  }
  ports += "]";
  slice_ports += "]";
  EXPECT_THAT(p_.Apply(Service("default", "many", "10.96.0.12", "", "", ports)), ::testing::IsEmpty());
  EXPECT_THAT(p_.Apply(Slice("default", "many", "many-1", {"10.244.1.5"}, "IPv4", slice_ports)), ::testing::IsEmpty());
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  int svc_chains = 0;
  for (const std::string& c : ChainNames(restore)) svc_chains += absl::StartsWith(c, "KUBE-SVC-") ? 1 : 0;
  EXPECT_EQ(svc_chains, 900 + 1);
  EXPECT_TRUE(absl::StrContains(restore, "--dport 10899"));
}

TEST_F(HostileObjectsTest, DuplicateEndpointsAcrossSlicesAreProgrammedOnce) {
  p_.Apply(Service("default", "dup", "10.96.0.13"));
  p_.Apply(Slice("default", "dup", "dup-1", {"10.244.1.6", "10.244.1.7"}));
  p_.Apply(Slice("default", "dup", "dup-2", {"10.244.1.7", "10.244.1.6"}));
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  int dnat_6 = 0, dnat_7 = 0;
  for (absl::string_view l : absl::StrSplit(restore, '\n')) {
    dnat_6 += absl::StrContains(l, "--to-destination 10.244.1.6:8080") ? 1 : 0;
    dnat_7 += absl::StrContains(l, "--to-destination 10.244.1.7:8080") ? 1 : 0;
  }
  EXPECT_EQ(dnat_6, 1);
  EXPECT_EQ(dnat_7, 1);
}

TEST_F(HostileObjectsTest, Ipv6AddressesInAnIpv4SliceNeverReachIpv4Rules) {
  p_.Apply(Service("default", "mixed", "10.96.0.14"));
  std::vector<std::string> errors = p_.Apply(Slice("default", "mixed", "mixed-1", {"fd00:10:244::5", "10.244.1.8"}));
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  EXPECT_FALSE(absl::StrContains(restore, "fd00:10:244::5"));
  // Either the slice is rejected clearly (an error naming it) or its IPv4 endpoint is used.
  if (errors.empty()) {
    EXPECT_TRUE(absl::StrContains(restore, "--to-destination 10.244.1.8:8080"));
  } else {
    EXPECT_THAT(errors[0], ::testing::HasSubstr("mixed-1"));
  }
}

TEST_F(HostileObjectsTest, InvalidLoadBalancerSourceRangesFailClosed) {
  // Mixed: the valid range is honoured, the garbage one is not turned into "allow all".
  p_.Apply(Service("default", "lb", "10.96.0.15",
                   R"(,"loadBalancerSourceRanges":["203.0.113.0/24","not-a-cidr","999.1.1.1/8"])"));
  std::string lb = Service("default", "lb", "10.96.0.15",
                           R"(,"loadBalancerSourceRanges":["203.0.113.0/24","not-a-cidr","999.1.1.1/8"])");
  // Make it a LoadBalancer with an ingress IP.
  absl::StrReplaceAll({{R"("type":"ClusterIP")", R"("type":"LoadBalancer","externalTrafficPolicy":"Cluster")"}}, &lb);
  lb.pop_back();
  lb += R"(,"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.50"}]}}})";
  std::vector<std::string> errors = p_.Apply(lb);
  p_.Apply(Slice("default", "lb", "lb-1", {"10.244.1.9"}));
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  if (!errors.empty()) return;  // rejected clearly: fine
  EXPECT_TRUE(absl::StrContains(restore, "-s 203.0.113.0/24")) << restore.substr(0, 4000);
  EXPECT_FALSE(absl::StrContains(restore, "not-a-cidr"));
  EXPECT_FALSE(absl::StrContains(restore, "999.1.1.1"));
  // The firewall chain must end in a drop for sources outside the valid range.
  bool fw_drop = false;
  for (absl::string_view l : absl::StrSplit(restore, '\n')) {
    // Upstream layout: KUBE-FW-* accepts the allowed sources, KUBE-PROXY-FIREWALL drops the rest.
    if (absl::StartsWith(l, "-A KUBE-PROXY-FIREWALL") && absl::StrContains(l, "-d 198.51.100.50 ") &&
        absl::StrContains(l, "-j DROP")) {
      fw_drop = true;
    }
  }
  EXPECT_TRUE(fw_drop) << "LB traffic from other sources must be dropped\n" << [&] {
    std::string out;
    for (absl::string_view l : absl::StrSplit(restore, '\n')) {
      if (absl::StrContains(l, "default/lb")) absl::StrAppend(&out, l, "\n");
    }
    return out;
  }();
}

TEST_F(HostileObjectsTest, OnlyInvalidLoadBalancerSourceRangesFailClosed) {
  std::string lb = Service("default", "lbbad", "10.96.0.16", R"(,"loadBalancerSourceRanges":["not-a-cidr"])");
  absl::StrReplaceAll({{R"("type":"ClusterIP")", R"("type":"LoadBalancer","externalTrafficPolicy":"Cluster")"}}, &lb);
  lb.pop_back();
  lb += R"(,"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.51"}]}}})";
  std::vector<std::string> errors = p_.Apply(lb);
  p_.Apply(Slice("default", "lbbad", "lbbad-1", {"10.244.1.10"}));
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  if (!errors.empty()) return;  // rejected clearly: fine
  // Accepted: then the LB IP must not be open to everyone.
  bool lb_open = false;
  for (absl::string_view l : absl::StrSplit(restore, '\n')) {
    if (absl::StrContains(l, "-d 198.51.100.51") && absl::StrContains(l, "-j KUBE-EXT-")) lb_open = true;
  }
  EXPECT_FALSE(lb_open) << "all loadBalancerSourceRanges invalid: the LB IP must not be open to every "
                           "source (fail closed)";
}

TEST_F(HostileObjectsTest, MaximumLengthNamesKeepChainNamesShort) {
  std::string ns(63, 'n');
  std::string name(63, 's');
  std::string slice_name(253, 'e');
  EXPECT_THAT(p_.Apply(Service(ns, name, "10.96.0.17")), ::testing::IsEmpty());
  EXPECT_THAT(p_.Apply(Slice(ns, name, slice_name, {"10.244.1.11"})), ::testing::IsEmpty());
  std::string restore = p_.Render();
  ExpectGoodUnchanged(restore);
  EXPECT_TRUE(absl::StrContains(restore, absl::StrCat(ns, "/", name, ":http")));
  for (const std::string& c : ChainNames(restore)) EXPECT_LE(c.size(), 28u) << c;
}

TEST_F(HostileObjectsTest, SliceBeforeItsServiceThenTheServiceAppears) {
  p_.Apply(Slice("default", "late", "late-1", {"10.244.1.12"}));
  std::string before = p_.Render();
  ExpectGoodUnchanged(before);
  EXPECT_FALSE(absl::StrContains(before, "default/late"));
  p_.Apply(Service("default", "late", "10.96.0.18"));
  std::string after = p_.Render();
  ExpectGoodUnchanged(after);
  EXPECT_TRUE(absl::StrContains(after, "--to-destination 10.244.1.12:8080"));
}

TEST_F(HostileObjectsTest, DeletedAndRecreatedWithTheSameName) {
  p_.Apply(Service("default", "again", "10.96.0.19"));
  p_.Apply(Slice("default", "again", "again-1", {"10.244.1.13"}));
  ASSERT_TRUE(absl::StrContains(p_.Render(), "-d 10.96.0.19 "));
  p_.Apply(Service("default", "again", "10.96.0.19"), /*remove=*/true);
  p_.Apply(Slice("default", "again", "again-1", {"10.244.1.13"}), /*remove=*/true);
  std::string gone = p_.Render();
  EXPECT_FALSE(absl::StrContains(gone, "default/again"));
  p_.Apply(Service("default", "again", "10.96.0.20"));
  p_.Apply(Slice("default", "again", "again-1", {"10.244.1.14"}));
  std::string back = p_.Render();
  ExpectGoodUnchanged(back);
  EXPECT_FALSE(absl::StrContains(back, "10.96.0.19"));
  EXPECT_FALSE(absl::StrContains(back, "10.244.1.13"));
  EXPECT_TRUE(absl::StrContains(back, "-d 10.96.0.20 "));
  EXPECT_TRUE(absl::StrContains(back, "--to-destination 10.244.1.14:8080"));
}

}  // namespace
}  // namespace kproxy
