#include "proxier/iptables/chain_names.h"

#include "gtest/gtest.h"

namespace kproxy::proxier::iptables {
namespace {

TEST(ChainNamesTest, MatchesUpstreamServiceChainHash) {
  EXPECT_EQ("KUBE-SVC-" + PortProtoHash("default/nginx-service:http", "tcp"), "KUBE-SVC-6IM33IEVEEV7U3GP");
}

TEST(ChainNamesTest, MatchesUpstreamEndpointChainHash) {
  EXPECT_EQ(EndpointChainName("default/nginx-service:http", "tcp", "172.17.0.2:80"),
            "KUBE-SEP-Q3UCPZ54E6Q2R4UT");
}

TEST(ChainNamesTest, MatchesUpstreamGoldenNames) {
  // From upstream's TestOverallIPTablesRules.
  EXPECT_EQ(PortProtoHash("ns1/svc1:p80", "tcp"), "XPGD46QRK7WJZT7O");
  EXPECT_EQ(EndpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ");
}

TEST(ChainNamesTest, ProtocolAndEndpointChangeTheHash) {
  EXPECT_NE(PortProtoHash("ns/svc:p", "tcp"), PortProtoHash("ns/svc:p", "udp"));
  EXPECT_NE(EndpointChainName("ns/svc:p", "tcp", "10.0.0.1:80"), EndpointChainName("ns/svc:p", "tcp", "10.0.0.2:80"));
  EXPECT_EQ(PortProtoHash("ns/svc:p", "tcp").size(), 16u);
}

TEST(ChainNamesTest, RecognisesServiceChains) {
  EXPECT_TRUE(IsServiceChainName("KUBE-SVC-XPGD46QRK7WJZT7O"));
  EXPECT_TRUE(IsServiceChainName("KUBE-SVL-XPGD46QRK7WJZT7O"));
  EXPECT_TRUE(IsServiceChainName("KUBE-EXT-XPGD46QRK7WJZT7O"));
  EXPECT_TRUE(IsServiceChainName("KUBE-FW-XPGD46QRK7WJZT7O"));
  EXPECT_TRUE(IsServiceChainName("KUBE-SEP-SXIVWICOYRO3J4NJ"));
  EXPECT_FALSE(IsServiceChainName("KUBE-SERVICES"));
  EXPECT_FALSE(IsServiceChainName("KUBE-NODEPORTS"));
  EXPECT_FALSE(IsServiceChainName("KUBE-MARK-MASQ"));
}

}  // namespace
}  // namespace kproxy::proxier::iptables
