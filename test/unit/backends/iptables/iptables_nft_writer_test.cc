#include "backends/iptables/iptables_nft_writer.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::iptables {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

// One netlink message of a batch, decoded enough to check its framing.
struct Message {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t sequence = 0;
  uint8_t family = 0;
  uint16_t resource_id = 0;  // host order
  std::string payload;       // the attributes after nfgenmsg
};

std::vector<Message> Split(const std::string& bytes) {
  std::vector<Message> out;
  size_t offset = 0;
  while (offset + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr header;
    std::memcpy(&header, bytes.data() + offset, sizeof(header));
    EXPECT_GE(header.nlmsg_len, sizeof(nlmsghdr) + sizeof(nfgenmsg));
    EXPECT_LE(offset + header.nlmsg_len, bytes.size());
    nfgenmsg generic;
    std::memcpy(&generic, bytes.data() + offset + sizeof(header), sizeof(generic));
    const size_t attributes = offset + NLMSG_ALIGN(sizeof(nlmsghdr)) + sizeof(nfgenmsg);
    out.push_back({header.nlmsg_type, header.nlmsg_flags, header.nlmsg_seq, generic.nfgen_family,
                   ntohs(generic.res_id),
                   bytes.substr(attributes, offset + header.nlmsg_len - attributes)});
    offset += NLMSG_ALIGN(header.nlmsg_len);
  }
  EXPECT_EQ(offset, bytes.size());
  return out;
}

constexpr uint16_t Nftables(uint16_t message) { return (NFNL_SUBSYS_NFTABLES << 8) | message; }

NftTranslation Translate(absl::string_view input) {
  absl::StatusOr<NftTranslation> t = NftRuleTranslator(proxier::IpFamily::kIPv4).Translate(input);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : NftTranslation{};
}

TEST(BuildNftBatchTest, OneTransactionWithAcknowledgedOperationsInInputOrder) {
  NftBatch batch =
      BuildNftBatch(Translate("*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j KUBE-SEP-B\n"
                              "-X KUBE-SEP-C\nCOMMIT\n"),
                    NFPROTO_IPV4, 100, /*acknowledge=*/true);
  std::vector<Message> messages = Split(batch.Joined());
  ASSERT_EQ(messages.size(), 6u);
  EXPECT_EQ(messages[0].type, NFNL_MSG_BATCH_BEGIN);
  EXPECT_EQ(messages[0].resource_id, NFNL_SUBSYS_NFTABLES);
  EXPECT_EQ(messages[0].sequence, 100u);
  // :CHAIN = create-or-keep (no NLM_F_EXCL) + flush (DELRULE naming only the chain).
  EXPECT_EQ(messages[1].type, Nftables(NFT_MSG_NEWCHAIN));
  EXPECT_EQ(messages[1].flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
  EXPECT_EQ(messages[2].type, Nftables(NFT_MSG_DELRULE));
  EXPECT_EQ(messages[2].flags, NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(messages[3].type, Nftables(NFT_MSG_NEWRULE));
  EXPECT_EQ(messages[3].flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK);
  EXPECT_EQ(messages[4].type, Nftables(NFT_MSG_DELCHAIN));
  EXPECT_EQ(messages[5].type, NFNL_MSG_BATCH_END);
  for (size_t i = 1; i < 5; ++i) {
    EXPECT_EQ(messages[i].family, NFPROTO_IPV4);
    EXPECT_EQ(messages[i].sequence, 100u + i);
  }
  EXPECT_EQ(batch.begin_sequence, 100u);
  EXPECT_EQ(batch.end_sequence, 105u);
  // The flush names the table and the chain, nothing else.
  const std::string flush = messages[2].payload;
  EXPECT_NE(flush.find(std::string("nat\0", 4)), std::string::npos);
  EXPECT_NE(flush.find(std::string("KUBE-SVC-A\0", 11)), std::string::npos);
  EXPECT_EQ(flush.size(),
            8u + 16u);  // NFTA_RULE_TABLE "nat" + NFTA_RULE_CHAIN "KUBE-SVC-A", padded
  // Every operation is named with its input line for errors.
  const absl::string_view input[] = {"*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j KUBE-SEP-B\n-X KUBE-SEP-C\nCOMMIT\n"};
  std::vector<std::string> described;
  for (const NftBatchMessage& message : batch.messages) {
    described.push_back(DescribeMessage(message, NFPROTO_IPV4, input));
  }
  EXPECT_THAT(described, ElementsAre("NEWCHAIN ip nat KUBE-SVC-A", "DELRULE (flush) ip nat KUBE-SVC-A",
                                     "NEWRULE ip nat KUBE-SVC-A", "DELCHAIN ip nat KUBE-SEP-C"));
  EXPECT_THAT(batch.messages,
              ElementsAre(Field(&NftBatchMessage::line, 2), Field(&NftBatchMessage::line, 2),
                          Field(&NftBatchMessage::line, 3), Field(&NftBatchMessage::line, 4)));
}

TEST(BuildNftBatchTest, RulesCarryTheProtocolCompatAndTheXtPayload) {
  NftBatch batch = BuildNftBatch(
      Translate("*nat\n-A KUBE-SEP-A -m udp -p udp -j DNAT --to-destination 10.0.0.1:53\n"
                "COMMIT\n"),
      NFPROTO_IPV4, 1, /*acknowledge=*/false);
  std::vector<Message> messages = Split(batch.Joined());
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[1].flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND);  // no ACK asked
  const std::string& rule = messages[1].payload;
  // NFTA_RULE_COMPAT { NFTA_RULE_COMPAT_PROTO 17, NFTA_RULE_COMPAT_FLAGS 0 } (big-endian u32s).
  const std::string compat("\x08\x00\x01\x00\x00\x00\x00\x11\x08\x00\x02\x00\x00\x00\x00\x00", 16);
  EXPECT_NE(rule.find(compat), std::string::npos);
  // The DNAT target's nf_nat_range2: flags 3, 10.0.0.1 twice, port 53 twice.
  std::string range(48, '\0');
  range[0] = 3;
  const std::string address("\x0a\x00\x00\x01", 4);
  range.replace(4, 4, address);
  range.replace(20, 4, address);
  range.replace(36, 4, std::string("\x00\x35\x00\x35", 4));
  EXPECT_NE(rule.find(range), std::string::npos);
  EXPECT_NE(rule.find(std::string("DNAT\0", 5)), std::string::npos);
}

TEST(BuildNftBatchTest, SameInputSameBytes) {
  NftTranslation t = Translate(
      "*filter\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
      "COMMIT\n");
  EXPECT_EQ(BuildNftBatch(t, NFPROTO_IPV4, 7, true).Joined(),
            BuildNftBatch(t, NFPROTO_IPV4, 7, true).Joined());
}

TEST(IptablesNftVersionTest, ReadsTheVersionFromEitherToolsOutput) {
  EXPECT_EQ(ParseIptablesVersion("iptables v1.8.9 (nf_tables)\n"), "1.8.9");
  EXPECT_EQ(ParseIptablesVersion("ip6tables v1.8.10 (nf_tables)"), "1.8.10");
  EXPECT_EQ(ParseIptablesVersion("iptables-nft: unknown option"), "");
  EXPECT_EQ(ParseIptablesVersion("iptables v1.8.x (nf_tables)"), "");
  EXPECT_EQ(ParseIptablesVersion(""), "");
}

TEST(IptablesNftVersionTest, OnlyTheVerifiedVersionsGetDirectWrites) {
  EXPECT_TRUE(IsVerifiedIptablesNftVersion("1.8.9"));
  EXPECT_FALSE(IsVerifiedIptablesNftVersion("1.8.10"));
  EXPECT_FALSE(IsVerifiedIptablesNftVersion("1.8.7"));
  EXPECT_FALSE(IsVerifiedIptablesNftVersion(""));
}

}  // namespace
}  // namespace kproxy::backends::iptables
