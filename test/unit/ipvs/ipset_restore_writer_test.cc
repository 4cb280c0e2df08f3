#include "backends/ipvs/ipset_restore_writer.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::ipvs {
namespace {

using proxier::ipvs::IpsetType;

IpsetSpec Set(std::string name, IpsetType type, std::vector<std::string> entries) {
  IpsetSpec s;
  s.name = std::move(name);
  s.type = type;
  s.comment = "c";
  for (auto& e : entries) s.entries.insert(e);
  return s;
}

TEST(IpsetRestoreWriterTest, MissingSetIsCreatedWithUpstreamOptionsThenFilled) {
  std::string input = RenderIpsetRestore({Set("KUBE-CLUSTER-IP", IpsetType::kHashIpPort, {"10.96.0.10,tcp:80"}),
                                          Set("KUBE-NODE-PORT-TCP", IpsetType::kBitmapPort, {})},
                                         {});
  EXPECT_EQ(input,
            "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment\n"
            "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\n"
            "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 comment\n");
}

TEST(IpsetRestoreWriterTest, OnlyDifferencesAreWritten) {
  IpsetContents current = ParseIpsetSave(
      "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment bucketsize 12\n"
      "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\n"
      "add KUBE-CLUSTER-IP 10.96.0.11,udp:53\n");
  std::string input = RenderIpsetRestore(
      {Set("KUBE-CLUSTER-IP", IpsetType::kHashIpPort, {"10.96.0.10,tcp:80", "10.96.0.12,tcp:443"})}, current);
  EXPECT_EQ(input, "del KUBE-CLUSTER-IP 10.96.0.11,udp:53\nadd KUBE-CLUSTER-IP 10.96.0.12,tcp:443\n");
  EXPECT_EQ(RenderIpsetRestore({Set("KUBE-CLUSTER-IP", IpsetType::kHashIpPort,
                                    {"10.96.0.10,tcp:80", "10.96.0.11,udp:53"})},
                               current),
            "");
}

TEST(IpsetRestoreWriterTest, HostSizedNetsCompareAsIpsetPrintsThem) {
  IpsetContents current = ParseIpsetSave(
      "create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet\n"
      "add KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:80,198.51.100.7\n");
  EXPECT_EQ(RenderIpsetRestore({Set("KUBE-LOAD-BALANCER-SOURCE-CIDR", IpsetType::kHashIpPortNet,
                                    {"203.0.113.10,tcp:80,198.51.100.7/32"})},
                               current),
            "");
}

}  // namespace
}  // namespace kproxy::backends::ipvs
