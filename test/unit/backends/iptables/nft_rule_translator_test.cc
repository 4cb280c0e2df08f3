#include "backends/iptables/nft_rule_translator.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::iptables {
namespace {

using proxier::IpFamily;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Expected-value builders. Byte layouts are the ones iptables-nft 1.8.9 was seen writing
// (test/kernel/test_nft_writer.py compares the real kernel state).
std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}
std::string Le32(uint32_t value) {
  std::string out(4, '\0');
  std::memcpy(out.data(), &value, 4);
  return out;
}
// A zeroed struct of `size` bytes with `patches` {offset, bytes} written in.
std::string Info(size_t size, std::vector<std::pair<size_t, std::string>> patches = {}) {
  std::string out(size, '\0');
  for (const auto& [offset, bytes] : patches) out.replace(offset, bytes.size(), bytes);
  return out;
}
NftExpression Protocol(int protocol, bool inverted = false) {
  return NftCompare{inverted, Bytes({protocol})};
}
NftExpression L4Proto() { return NftMetaLoad{NFT_META_L4PROTO}; }
NftExpression Network(uint32_t offset, uint32_t length) {
  return NftPayloadLoad{NFT_PAYLOAD_NETWORK_HEADER, offset, length};
}
NftExpression Equal(std::string data) { return NftCompare{false, std::move(data)}; }
NftExpression NotEqual(std::string data) { return NftCompare{true, std::move(data)}; }
NftExpression Comment(const std::string& text) {
  return NftXtMatch{"comment", 0, Info(256, {{0, text}})};
}
NftExpression DestinationPort() { return NftPayloadLoad{NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2}; }
NftExpression Jump(const std::string& chain) { return NftVerdict{NFT_JUMP, chain}; }

// The single rule of "*nat\n<rule>\nCOMMIT\n".
NftAppendRule RuleOf(IpFamily family, const std::string& rule) {
  absl::StatusOr<NftTranslation> t =
      NftRuleTranslator(family).Translate(absl::StrCat("*nat\n", rule, "\nCOMMIT\n"));
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok() || t->operations.size() != 1) return {};
  const auto* append = std::get_if<NftAppendRule>(&t->operations[0].kind);
  EXPECT_NE(append, nullptr);
  return append ? *append : NftAppendRule{};
}

TEST(NftRuleTranslatorTest, ChainDeclarationsRulesAndDeletesInInputOrderWithLines) {
  absl::StatusOr<NftTranslation> t = NftRuleTranslator(IpFamily::kIPv4)
                                         .Translate(
                                             "# generated\n*nat\n:KUBE-SVC-A - [0:0]\n\n"
                                             "-A KUBE-SVC-A -j KUBE-SEP-B\n-X KUBE-SEP-C\nCOMMIT\n"
                                             "*filter\nCOMMIT\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->tables, ElementsAre("nat", "filter"));
  EXPECT_THAT(
      t->operations,
      ElementsAre(
          NftOperation{"nat", 3, NftAddOrFlushChain{"KUBE-SVC-A"}},
          NftOperation{"nat", 5, NftAppendRule{"KUBE-SVC-A", {NftCounter{}, Jump("KUBE-SEP-B")}}},
          NftOperation{"nat", 6, NftDeleteChain{"KUBE-SEP-C"}}));
}

TEST(NftRuleTranslatorTest, ClusterIpMasqueradeRuleInIptablesNftOrder) {
  // Protocol, then source, then destination, then the matches as given; --dport of -m tcp becomes
  // a native compare where the match was; a byte-aligned prefix loads fewer bytes.
  NftAppendRule rule =
      RuleOf(IpFamily::kIPv4,
             "-A KUBE-SVC-A -m comment --comment \"ns/a:p cluster IP\" -m tcp -p tcp "
             "-d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ");
  EXPECT_EQ(rule.chain, "KUBE-SVC-A");
  EXPECT_EQ(rule.protocol, 6);
  EXPECT_FALSE(rule.protocol_inverted);
  EXPECT_THAT(
      rule.expressions,
      ElementsAre(L4Proto(), Protocol(6), Network(12, 2), NotEqual(Bytes({10, 244})),
                  Network(16, 4), Equal(Bytes({10, 96, 0, 10})), Comment("ns/a:p cluster IP"),
                  DestinationPort(), Equal(Bytes({0, 80})), NftCounter{}, Jump("KUBE-MARK-MASQ")));
}

TEST(NftRuleTranslatorTest, UnalignedPrefixLoadsTheWholeAddressThroughAMask) {
  NftAppendRule rule = RuleOf(IpFamily::kIPv4, "-A KUBE-FW-A -s 10.1.3.7/23 -j KUBE-EXT-A");
  EXPECT_THAT(
      rule.expressions,
      ElementsAre(Network(12, 4), NftBitwise{Bytes({255, 255, 254, 0}), Bytes({0, 0, 0, 0})},
                  Equal(Bytes({10, 1, 2, 0})), NftCounter{}, Jump("KUBE-EXT-A")));
  // /0 matches everything: nothing at all.
  EXPECT_THAT(RuleOf(IpFamily::kIPv4, "-A KUBE-FW-A -s 0.0.0.0/0 -j DROP").expressions,
              ElementsAre(NftCounter{}, NftVerdict{NF_DROP, ""}));
}

TEST(NftRuleTranslatorTest, Ipv6AddressesAndPrefixes) {
  NftAppendRule rule =
      RuleOf(IpFamily::kIPv6,
             "-A KUBE-SERVICES -m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS");
  EXPECT_THAT(rule.expressions,
              ElementsAre(Network(24, 16),
                          NotEqual(Bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})),
                          NftXtMatch{"addrtype", 1, Info(8, {{2, Bytes({4, 0})}})}, NftCounter{},
                          Jump("KUBE-NODEPORTS")));
  EXPECT_THAT(RuleOf(IpFamily::kIPv6, "-A KUBE-X -s fd00:10:244::/56 -j RETURN").expressions,
              ElementsAre(Network(8, 7), Equal(Bytes({0xfd, 0, 0, 0x10, 0x2, 0x44, 0})),
                          NftCounter{}, NftVerdict{NFT_RETURN, ""}));
  EXPECT_THAT(
      RuleOf(IpFamily::kIPv6, "-A KUBE-X -s fd00::/57 -j RETURN").expressions[1],
      NftBitwise(Info(16, {{0, Bytes({255, 255, 255, 255, 255, 255, 255, 0x80})}}), Info(16)));
}

TEST(NftRuleTranslatorTest, DnatTargetsCarryNatRange2) {
  NftAppendRule v4 = RuleOf(IpFamily::kIPv4,
                            "-A KUBE-SEP-A -m comment --comment x -m tcp -p tcp -j DNAT "
                            "--to-destination 10.244.1.2:8080");
  EXPECT_THAT(
      v4.expressions,
      ElementsAre(L4Proto(), Protocol(6), Comment("x"),
                  NftXtMatch{"tcp", 0, Info(16, {{2, Bytes({255, 255})}, {6, Bytes({255, 255})}})},
                  NftCounter{},
                  NftXtTarget{"DNAT", 2,
                              Info(48, {{0, Le32(3)},
                                        {4, Bytes({10, 244, 1, 2})},
                                        {20, Bytes({10, 244, 1, 2})},
                                        {36, Bytes({0x1f, 0x90, 0x1f, 0x90})}})}));
  NftAppendRule v6 =
      RuleOf(IpFamily::kIPv6, "-A KUBE-SEP-A -m udp -p udp -j DNAT --to-destination [fd00::2]:53");
  const std::string address = Bytes({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
  EXPECT_EQ(
      v6.expressions.back(),
      NftExpression(NftXtTarget{
          "DNAT", 2,
          Info(48, {{0, Le32(3)}, {4, address}, {20, address}, {36, Bytes({0, 53, 0, 53})}})}));
}

TEST(NftRuleTranslatorTest, StatisticProbabilityIsRoundedToTwoToThe31) {
  NftAppendRule rule =
      RuleOf(IpFamily::kIPv4,
             "-A KUBE-SVC-A -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-A");
  const std::string probability = Le32(0x2aaaaaab);
  EXPECT_THAT(
      rule.expressions,
      ElementsAre(NftXtMatch{"statistic", 0, Info(24, {{4, probability}, {12, probability}})},
                  NftCounter{}, Jump("KUBE-SEP-A")));
}

TEST(NftRuleTranslatorTest, RecentCheckAndSet) {
  NftAppendRule check = RuleOf(
      IpFamily::kIPv4,
      "-A KUBE-SVC-A -m recent --name KUBE-SEP-A --rcheck --seconds 10800 --reap -j KUBE-SEP-A");
  EXPECT_EQ(check.expressions[0],
            NftExpression(NftXtMatch{"recent", 1,
                                     Info(232, {{0, Le32(10800)},
                                                {8, Bytes({0x21})},
                                                {10, "KUBE-SEP-A"},
                                                {212, std::string(16, '\xff')}})}));
  NftAppendRule set = RuleOf(IpFamily::kIPv4,
                             "-A KUBE-SEP-A -m recent --name AB --set -m tcp -p tcp -j DNAT "
                             "--to-destination 10.0.0.1:80");
  // The name is copied over "DEFAULT" with its NUL.
  EXPECT_EQ(set.expressions[2],
            NftExpression(NftXtMatch{"recent", 1,
                                     Info(232, {{8, Bytes({0x02})},
                                                {10, std::string("AB\0AULT", 7)},
                                                {212, std::string(16, '\xff')}})}));
}

TEST(NftRuleTranslatorTest, MarksMasqueradeRejectConntrack) {
  EXPECT_THAT(RuleOf(IpFamily::kIPv4, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000").expressions,
              ElementsAre(NftCounter{}, NftXtTarget{"MARK", 2, Le32(0x4000) + Le32(0x4000)}));
  EXPECT_THAT(
      RuleOf(IpFamily::kIPv4, "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000").expressions,
      ElementsAre(NftCounter{}, NftXtTarget{"MARK", 2, Le32(0x4000) + Le32(0)}));
  EXPECT_THAT(RuleOf(IpFamily::kIPv4,
                     "-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN")
                  .expressions,
              ElementsAre(NftMetaLoad{NFT_META_MARK}, NftBitwise{Le32(0x4000), Le32(0)},
                          NotEqual(Le32(0x4000)), NftCounter{}, NftVerdict{NFT_RETURN, ""}));
  EXPECT_THAT(
      RuleOf(IpFamily::kIPv4, "-A KUBE-POSTROUTING -j MASQUERADE --random-fully").expressions,
      ElementsAre(NftCounter{},
                  NftXtTarget{"MASQUERADE", 0, Info(24, {{0, Le32(1)}, {4, Le32(0x10)}})}));
  EXPECT_THAT(
      RuleOf(IpFamily::kIPv6, "-A KUBE-POSTROUTING -j MASQUERADE --random-fully").expressions,
      ElementsAre(NftCounter{}, NftXtTarget{"MASQUERADE", 0, Info(40, {{0, Le32(0x10)}})}));
  EXPECT_EQ(
      RuleOf(IpFamily::kIPv4, "-A KUBE-SERVICES -m tcp -p tcp -d 10.0.0.1 --dport 80 -j REJECT")
          .expressions.back(),
      NftExpression(NftXtTarget{"REJECT", 0, Info(8, {{0, Le32(3)}})}));
  EXPECT_EQ(RuleOf(IpFamily::kIPv6, "-A KUBE-SERVICES -j REJECT").expressions.back(),
            NftExpression(NftXtTarget{"REJECT", 0, Info(8, {{0, Le32(4)}})}));
  EXPECT_EQ(
      RuleOf(IpFamily::kIPv4,
             "-A KUBE-FIREWALL -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
          .expressions[0],
      NftExpression(NftXtMatch{"conntrack", 3, Info(168, {{146, Bytes({1, 0, 1, 0, 0x86, 0})}})}));
}

TEST(NftRuleTranslatorTest, InterfacesSctpAndInvertedProtocol) {
  NftAppendRule rule = RuleOf(
      IpFamily::kIPv4, "-A KUBE-EXT-A -s 10.0.0.2 ! -i veth+ -o eth0 ! -p udp -j KUBE-SVC-A");
  EXPECT_TRUE(rule.protocol_inverted);
  EXPECT_THAT(
      rule.expressions,
      ElementsAre(NftMetaLoad{NFT_META_IIFNAME}, NotEqual("veth"), NftMetaLoad{NFT_META_OIFNAME},
                  Equal(std::string("eth0\0", 5)), L4Proto(), Protocol(17, true), Network(12, 4),
                  Equal(Bytes({10, 0, 0, 2})), NftCounter{}, Jump("KUBE-SVC-A")));
  NftAppendRule sctp =
      RuleOf(IpFamily::kIPv4, "-A KUBE-NODEPORTS -m sctp -p sctp --dport 30053 -j KUBE-EXT-A");
  EXPECT_EQ(sctp.expressions[2],
            NftExpression(NftXtMatch{"sctp", 0,
                                     Info(296, {{0, Bytes({0x65, 0x75, 0x65, 0x75})},
                                                {268, Bytes({0xff})},
                                                {271, Bytes({0xff})},
                                                {274, Bytes({0xff})},
                                                {277, Bytes({0xff})},
                                                {284, Le32(2)}})}));
}

TEST(NftRuleTranslatorTest, LinesSplitAcrossPiecesAndQuotes) {
  const absl::string_view pieces[] = {"*nat\n-A KUBE-SVC-A -m comment --comm",
                                      "ent \"a  b\" -j KUBE-SEP-B\nCOM", "MIT\n"};
  absl::StatusOr<NftTranslation> t = NftRuleTranslator(IpFamily::kIPv4).Translate(pieces);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->operations.size(), 1u);
  EXPECT_EQ(std::get<NftAppendRule>(t->operations[0].kind).expressions[0], Comment("a  b"));
  EXPECT_THAT(NftRuleTranslator::SplitArguments("-A X --comment \"a b\" \"\" c").value(),
              ElementsAre("-A", "X", "--comment", "a b", "", "c"));
  EXPECT_EQ(NftRuleTranslator::SplitArguments("a\"b c\"").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(NftRuleTranslator::SplitArguments("\"a b\"c").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(NftRuleTranslator::SplitArguments("\"a b").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(NftRuleTranslator::SplitArguments("a\\ b").status().code(),
            absl::StatusCode::kUnimplemented);
}

struct UnsupportedCase {
  std::string name;
  IpFamily family;
  std::string input;
  int line;  // the line the error must name
};

class NftRuleTranslatorUnsupportedTest : public ::testing::TestWithParam<UnsupportedCase> {};

TEST_P(NftRuleTranslatorUnsupportedTest, IsUnimplementedNamingTheLine) {
  const UnsupportedCase& c = GetParam();
  absl::StatusOr<NftTranslation> t = NftRuleTranslator(c.family).Translate(c.input);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnimplemented) << t.status();
  if (c.line > 0) {
    EXPECT_THAT(t.status().message(), HasSubstr(absl::StrCat("input line ", c.line, " (")));
  }
}

std::string Nat(const std::string& line) {
  return absl::StrCat("*nat\n:KUBE-A - [0:0]\n", line, "\nCOMMIT\n");
}

INSTANTIATE_TEST_SUITE_P(
    Forms, NftRuleTranslatorUnsupportedTest,
    ::testing::Values(
        UnsupportedCase{"Insert", IpFamily::kIPv4, Nat("-I KUBE-A -j RETURN"), 3},
        UnsupportedCase{"UnknownTarget", IpFamily::kIPv4, Nat("-A KUBE-A -j LOG"), 3},
        UnsupportedCase{"UnknownMatch", IpFamily::kIPv4, Nat("-A KUBE-A -m multiport --dports 1,2"),
                        3},
        UnsupportedCase{"Icmp", IpFamily::kIPv4, Nat("-A KUBE-A -p icmp -j RETURN"), 3},
        UnsupportedCase{"SourcePort", IpFamily::kIPv4,
                        Nat("-A KUBE-A -m tcp -p tcp --sport 1 -j RETURN"), 3},
        UnsupportedCase{"ImplicitTcp", IpFamily::kIPv4, Nat("-A KUBE-A -p tcp --dport 1 -j RETURN"),
                        3},
        UnsupportedCase{"TcpWithoutProtocol", IpFamily::kIPv4, Nat("-A KUBE-A -m tcp -j RETURN"),
                        3},
        UnsupportedCase{"BuiltinChain", IpFamily::kIPv4, Nat("-A PREROUTING -j KUBE-A"), 3},
        UnsupportedCase{"Policy", IpFamily::kIPv4, "*nat\n:KUBE-A ACCEPT [0:0]\nCOMMIT\n", 2},
        UnsupportedCase{"Mangle", IpFamily::kIPv4, "*mangle\nCOMMIT\n", 1},
        UnsupportedCase{"OutsideTable", IpFamily::kIPv4, "-A KUBE-A -j RETURN\n", 1},
        UnsupportedCase{"NoCommit", IpFamily::kIPv4, "*nat\n:KUBE-A - [0:0]\n", 0},
        UnsupportedCase{"WrongFamily", IpFamily::kIPv6, Nat("-A KUBE-A -s 10.0.0.1 -j RETURN"), 3},
        UnsupportedCase{"WrongFamilyDnat", IpFamily::kIPv4,
                        Nat("-A KUBE-A -p tcp -j DNAT --to-destination [fd00::1]:80"), 3},
        UnsupportedCase{"DnatPortWithoutProtocol", IpFamily::kIPv4,
                        Nat("-A KUBE-A -j DNAT --to-destination 10.0.0.1:80"), 3},
        UnsupportedCase{"LongComment", IpFamily::kIPv4,
                        Nat("-A KUBE-A -m comment --comment " + std::string(256, 'c')), 3},
        UnsupportedCase{"MidTokenQuote", IpFamily::kIPv4,
                        Nat("-A KUBE-A -m comment --comment a\"b c\""), 3},
        UnsupportedCase{"Counters", IpFamily::kIPv4, Nat("[1:2] -A KUBE-A -j RETURN"), 3},
        UnsupportedCase{"StatisticNth", IpFamily::kIPv4,
                        Nat("-A KUBE-A -m statistic --mode nth --every 2 -j RETURN"), 3},
        UnsupportedCase{"AddrtypeUnicast", IpFamily::kIPv4,
                        Nat("-A KUBE-A -m addrtype --src-type UNICAST"), 3},
        UnsupportedCase{"TrailingBang", IpFamily::kIPv4, Nat("-A KUBE-A -j RETURN !"), 3},
        UnsupportedCase{"MatchAfterTarget", IpFamily::kIPv4,
                        Nat("-A KUBE-A -j RETURN -m comment --comment x"), 3},
        UnsupportedCase{"Goto", IpFamily::kIPv4, Nat("-A KUBE-A -g KUBE-B"), 3}),
    [](const ::testing::TestParamInfo<UnsupportedCase>& info) { return info.param.name; });

}  // namespace
}  // namespace kproxy::backends::iptables
