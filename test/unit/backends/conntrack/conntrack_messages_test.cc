#include "backends/conntrack/conntrack_messages.h"

#include <linux/netlink.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kproxy::backends::conntrack {
namespace {

using ::testing::ElementsAreArray;

proxier::IpAddress Ip(absl::string_view s) { return proxier::IpAddress::Parse(s).value(); }

ConntrackEntry UdpEntry() {
  ConntrackEntry e;
  e.protocol = proxier::Protocol::kUDP;
  e.orig_source = Ip("10.244.2.5");
  e.orig_destination = Ip("10.96.0.10");
  e.orig_source_port = 40000;
  e.orig_destination_port = 53;
  e.reply_source = Ip("10.244.1.2");
  e.reply_destination = Ip("10.244.2.5");
  e.reply_source_port = 5353;
  e.reply_destination_port = 40000;
  return e;
}

TEST(ConntrackMessagesTest, DeleteRequestBytes) {
  const std::vector<uint8_t> want = {
      // nlmsghdr: len 72, type (NFNL_SUBSYS_CTNETLINK<<8)|IPCTNL_MSG_CT_DELETE, flags REQUEST|ACK, seq 7, pid 0
      72, 0, 0, 0, 0x02, 0x01, 0x05, 0x00, 7, 0, 0, 0, 0, 0, 0, 0,
      // nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0
      2, 0, 0, 0,
      // CTA_TUPLE_ORIG | NLA_F_NESTED, len 52
      52, 0, 0x01, 0x80,
      // CTA_TUPLE_IP | NESTED, len 20: CTA_IP_V4_SRC 10.244.2.5, CTA_IP_V4_DST 10.96.0.10
      20, 0, 0x01, 0x80, 8, 0, 1, 0, 10, 244, 2, 5, 8, 0, 2, 0, 10, 96, 0, 10,
      // CTA_TUPLE_PROTO | NESTED, len 28: NUM 17 (padded), SRC_PORT 40000 (BE), DST_PORT 53 (BE)
      28, 0, 0x02, 0x80, 5, 0, 1, 0, 17, 0, 0, 0, 6, 0, 2, 0, 0x9c, 0x40, 0, 0, 6, 0, 3, 0, 0, 53, 0, 0,
  };
  EXPECT_THAT(BuildDeleteRequest(UdpEntry(), 7), ElementsAreArray(want));
}

TEST(ConntrackMessagesTest, DumpRequestAsksForOneFamily) {
  std::vector<uint8_t> v6 = BuildDumpRequest(proxier::IpFamily::kIPv6, 1);
  ASSERT_EQ(v6.size(), 20u);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(v6.data());
  EXPECT_EQ(nlh->nlmsg_type, 0x0101);  // CTNETLINK, IPCTNL_MSG_CT_GET
  EXPECT_EQ(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(v6[16], 10);  // AF_INET6
}

TEST(ConntrackMessagesTest, ParsesBothTuplesV4) {
  std::vector<uint8_t> msg = BuildEntryMessage(UdpEntry(), 3);
  auto parsed = ParseEntryMessage(reinterpret_cast<const nlmsghdr*>(msg.data()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, UdpEntry());
}

TEST(ConntrackMessagesTest, ParsesBothTuplesV6) {
  ConntrackEntry e;
  e.protocol = proxier::Protocol::kTCP;
  e.orig_source = Ip("fd00:10:244::5");
  e.orig_destination = Ip("fd00:10:96::10");
  e.orig_source_port = 1;
  e.orig_destination_port = 443;
  e.reply_source = Ip("fd00:10:244:1::2");
  e.reply_destination = Ip("fd00:10:244::5");
  e.reply_source_port = 8443;
  e.reply_destination_port = 1;
  std::vector<uint8_t> msg = BuildEntryMessage(e, 3);
  auto parsed = ParseEntryMessage(reinterpret_cast<const nlmsghdr*>(msg.data()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, e);
}

TEST(ConntrackMessagesTest, MessageWithoutReplyTupleIsRejected) {
  std::vector<uint8_t> msg = BuildDeleteRequest(UdpEntry(), 3);
  EXPECT_FALSE(ParseEntryMessage(reinterpret_cast<const nlmsghdr*>(msg.data())).ok());
}

}  // namespace
}  // namespace kproxy::backends::conntrack
