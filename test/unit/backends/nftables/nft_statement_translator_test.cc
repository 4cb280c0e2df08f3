// NftStatementTranslator: statement text -> nft 1.0.6's expressions (the kernel test
// test_nftables_writer.py checks the bytes against nft itself), element encoding, and the refusal
// of text outside the grammar.
#include "backends/nftables/nft_statement_translator.h"

#include <arpa/inet.h>
#include <libnftnl/expr.h>
#include <linux/netfilter/nf_tables.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::nftables {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<NftExpr>& expressions) {
  std::vector<std::string> names;
  for (const NftExpr& e : expressions) names.push_back(e.name);
  return names;
}

NftSetSpec EndpointsMap() {
  NftSetSpec set;
  set.name = "endpoints-X";
  set.key_types = {"integer"};
  set.value_types = {"ipv4_addr", "inet_service"};
  set.interval = true;
  return set;
}

NftSetSpec ServiceIps() {
  NftSetSpec set;
  set.name = "service-ips";
  set.key_types = {"ipv4_addr", "inet_proto", "inet_service"};
  set.value_types = {"verdict"};
  return set;
}

class NftStatementTranslatorTest : public ::testing::Test {
 protected:
  NftStatementTranslator v4_{proxier::IpFamily::kIPv4, {EndpointsMap(), ServiceIps()}};
};

TEST_F(NftStatementTranslatorTest, TcpPortMatchCarriesNftsImplicitProtocolMatch) {
  auto e = v4_.TranslateRule("ip daddr 10.96.0.10 tcp dport 80 jump x");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(Names(*e), ElementsAre("payload", "cmp", "meta", "cmp", "payload", "cmp", "immediate"));
}

TEST_F(NftStatementTranslatorTest, ConcatenatedVmapLookupUsesThirtyTwoBitRegisters) {
  auto e = v4_.TranslateRule("ip daddr . meta l4proto . th dport vmap @service-ips");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_THAT(Names(*e), ElementsAre("payload", "meta", "payload", "lookup"));
  // reg 1, then reg 9 and reg 10 (NFT_REG32_01, _02), as nft writes them.
  EXPECT_THAT((*e)[1].numbers, ::testing::Contains(std::pair<uint16_t, uint32_t>(NFTNL_EXPR_META_DREG, 9)));
  EXPECT_THAT((*e)[2].numbers, ::testing::Contains(std::pair<uint16_t, uint32_t>(NFTNL_EXPR_PAYLOAD_DREG, 10)));
  EXPECT_THAT((*e)[3].numbers, ::testing::Contains(std::pair<uint16_t, uint32_t>(NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT)));
}

TEST_F(NftStatementTranslatorTest, NumgenLookupInAnIntervalMapIsTurnedBigEndianFirst) {
  auto e = v4_.TranslateRule("meta l4proto tcp dnat ip to numgen random mod 720720 map @endpoints-X");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(Names(*e), ElementsAre("meta", "cmp", "numgen", "byteorder", "lookup", "nat"));
}

TEST_F(NftStatementTranslatorTest, AnonymousSetComesWithTheRule) {
  std::vector<NftAnonymousSet> anonymous;
  auto e = v4_.TranslateRule("ip saddr != { 10.0.0.0/8, 192.168.0.0/16 } drop", 7, &anonymous);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(Names(*e), ElementsAre("payload", "lookup", "immediate"));
  ASSERT_EQ(anonymous.size(), 1u);
  EXPECT_EQ(anonymous[0].id, 7u);
  EXPECT_TRUE(anonymous[0].set.interval);
  EXPECT_EQ(anonymous[0].elements.size(), 2u);
}

TEST_F(NftStatementTranslatorTest, PrefixNotOnAByteBoundaryIsMasked) {
  auto aligned = v4_.TranslateRule("ip saddr 10.0.0.0/8 goto x");
  auto masked = v4_.TranslateRule("ip saddr 10.128.0.0/14 goto x");
  ASSERT_TRUE(aligned.ok() && masked.ok());
  EXPECT_THAT(Names(*aligned), ElementsAre("payload", "cmp", "immediate"));
  EXPECT_THAT(Names(*masked), ElementsAre("payload", "bitwise", "cmp", "immediate"));
}

TEST_F(NftStatementTranslatorTest, TextOutsideTheGrammarIsUnimplementedAndNamed) {
  auto e = v4_.TranslateRule("ip daddr 10.96.0.10 log prefix \"x\"");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(e.status().message(), HasSubstr("log"));
  EXPECT_FALSE(v4_.TranslateRule("ip6 daddr ::1 drop").ok());  // the other family's field
  EXPECT_FALSE(v4_.TranslateRule("ip daddr . meta l4proto . th dport vmap @nosuchmap").ok());
}

TEST_F(NftStatementTranslatorTest, IntervalElementOfHostOrderKeyIsBigEndianWithAnEndElement) {
  auto encoded = v4_.EncodeElement(EndpointsMap(), NftElementSpec{{"0-360359"}, {"10.1.0.1", "8080"}, ""});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  ASSERT_EQ(encoded->size(), 2u);
  EXPECT_EQ((*encoded)[0].key, std::string("\0\0\0\0", 4));
  EXPECT_EQ((*encoded)[0].data, std::string("\x0a\x01\x00\x01\x1f\x90\x00\x00", 8));
  const uint32_t end = htonl(360360);
  EXPECT_EQ((*encoded)[1].key, std::string(reinterpret_cast<const char*>(&end), 4));
  EXPECT_TRUE((*encoded)[1].interval_end);
}

TEST_F(NftStatementTranslatorTest, VerdictElementAndBadElementText) {
  auto encoded = v4_.EncodeElement(ServiceIps(), NftElementSpec{{"10.96.0.10", "tcp", "80"}, {"goto svc"}, ""});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ((*encoded)[0].key.size(), 12u);
  EXPECT_EQ((*encoded)[0].verdict, NFT_GOTO);
  EXPECT_EQ((*encoded)[0].verdict_chain, "svc");
  EXPECT_FALSE(v4_.EncodeElement(ServiceIps(), NftElementSpec{{"10.96.0.300", "tcp", "80"}, {"drop"}, ""}).ok());
}

}  // namespace
}  // namespace kproxy::backends::nftables
