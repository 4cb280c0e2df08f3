#include "backends/ipvs/ipvs_messages.h"

#include <linux/ip_vs.h>
#include <linux/netlink.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "backends/ipvs/netlink_ipvs_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/unit/ipvs/ipvs_test_util.h"

namespace kproxy::backends::ipvs {
namespace {

using ::kproxy::proxier::Protocol;
using ::kproxy::proxier::ipvs::testing::Dest;
using ::kproxy::proxier::ipvs::testing::Key;
using ::testing::ElementsAreArray;

constexpr uint16_t kFamily = 0x24;

VirtualServer Server(absl::string_view ip, int port, Protocol p = Protocol::kTCP) {
  VirtualServer vs;
  vs.key = Key(ip, port, p);
  return vs;
}

absl::Span<const uint8_t> Attributes(const GenlMessage& msg) {
  return absl::MakeConstSpan(msg.bytes()).subspan(NLMSG_HDRLEN + 4);
}

TEST(IpvsMessagesTest, DelServiceBytesAreExact) {
  GenlMessage msg = BuildServiceMessage(kFamily, IPVS_CMD_DEL_SERVICE, Server("10.96.0.10", 80), false);
  const std::vector<uint8_t> want = {
      68, 0, 0, 0,  0x24, 0, 5, 0,  0, 0, 0, 0,  0, 0, 0, 0,  // nlmsghdr: len, family, REQUEST|ACK, seq, pid
      3, 1, 0, 0,                                              // genl: DEL_SERVICE, version 1
      48, 0, 1, 0,                                             // IPVS_CMD_ATTR_SERVICE (nested)
      6, 0, 1, 0, 2, 0, 0, 0,                                  // AF = AF_INET
      6, 0, 2, 0, 6, 0, 0, 0,                                  // PROTOCOL = TCP
      20, 0, 3, 0, 10, 96, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // ADDR (nf_inet_addr)
      6, 0, 4, 0, 0, 80, 0, 0,                                 // PORT, network order
  };
  EXPECT_THAT(msg.bytes(), ElementsAreArray(want));
}

// Expected bytes written out from include/uapi/linux/ip_vs.h (attribute numbers, struct
// ip_vs_flags) and netlink's 4-byte attribute alignment, not from our parser.
TEST(IpvsMessagesTest, NewServiceBytesAreExact) {
  VirtualServer vs = Server("10.96.0.10", 53, Protocol::kUDP);
  vs.scheduler = "rr";
  vs.flags = proxier::ipvs::kFlagPersistent;
  vs.timeout_seconds = 10800;  // 0x2a30
  GenlMessage msg = BuildServiceMessage(kFamily, IPVS_CMD_NEW_SERVICE, vs, true);
  const std::vector<uint8_t> want = {
      104, 0, 0, 0,  0x24, 0, 5, 0,  0, 0, 0, 0,  0, 0, 0, 0,  // nlmsghdr: len, family, REQUEST|ACK, seq, pid
      1, 1, 0, 0,                                               // genl: IPVS_CMD_NEW_SERVICE (1), version 1
      84, 0, 1, 0,                                              // IPVS_CMD_ATTR_SERVICE (1), nested
      6, 0, 1, 0, 2, 0, 0, 0,                                   // SVC_ATTR_AF (1) = AF_INET, padded
      6, 0, 2, 0, 17, 0, 0, 0,                                  // SVC_ATTR_PROTOCOL (2) = IPPROTO_UDP
      20, 0, 3, 0, 10, 96, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // SVC_ATTR_ADDR (3), union nf_inet_addr
      6, 0, 4, 0, 0, 53, 0, 0,                                  // SVC_ATTR_PORT (4), network order
      7, 0, 6, 0, 'r', 'r', 0, 0,                               // SVC_ATTR_SCHED_NAME (6) "rr\0", padded
      12, 0, 7, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,          // SVC_ATTR_FLAGS (7): ip_vs_flags{flags=PERSISTENT, mask=~0}
      8, 0, 8, 0, 0x30, 0x2a, 0, 0,                             // SVC_ATTR_TIMEOUT (8) = 10800 s
      8, 0, 9, 0, 0xff, 0xff, 0xff, 0xff,                       // SVC_ATTR_NETMASK (9) = /32
  };
  EXPECT_THAT(msg.bytes(), ElementsAreArray(want));
}

TEST(IpvsMessagesTest, NewDestinationBytesAreExact) {
  RealServer rs{Dest("10.0.1.5", 8080), 3, 0, 0};
  GenlMessage msg = BuildDestinationMessage(kFamily, IPVS_CMD_NEW_DEST, Server("10.96.0.10", 80), rs, true);
  const std::vector<uint8_t> want = {
      140, 0, 0, 0,  0x24, 0, 5, 0,  0, 0, 0, 0,  0, 0, 0, 0,  // nlmsghdr
      5, 1, 0, 0,                                               // genl: IPVS_CMD_NEW_DEST (5), version 1
      48, 0, 1, 0,                                              // IPVS_CMD_ATTR_SERVICE (1): identity only
      6, 0, 1, 0, 2, 0, 0, 0,                                   // SVC_ATTR_AF = AF_INET
      6, 0, 2, 0, 6, 0, 0, 0,                                   // SVC_ATTR_PROTOCOL = IPPROTO_TCP
      20, 0, 3, 0, 10, 96, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // SVC_ATTR_ADDR
      6, 0, 4, 0, 0, 80, 0, 0,                                  // SVC_ATTR_PORT
      72, 0, 2, 0,                                              // IPVS_CMD_ATTR_DEST (2), nested
      20, 0, 1, 0, 10, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // DEST_ATTR_ADDR (1)
      6, 0, 2, 0, 0x1f, 0x90, 0, 0,                             // DEST_ATTR_PORT (2) = 8080, network order
      6, 0, 11, 0, 2, 0, 0, 0,                                  // DEST_ATTR_ADDR_FAMILY (11) = AF_INET
      8, 0, 3, 0, 0, 0, 0, 0,                                   // DEST_ATTR_FWD_METHOD (3) = IP_VS_CONN_F_MASQ (0)
      8, 0, 4, 0, 3, 0, 0, 0,                                   // DEST_ATTR_WEIGHT (4) = 3
      8, 0, 5, 0, 0, 0, 0, 0,                                   // DEST_ATTR_U_THRESH (5) = 0 (no limit)
      8, 0, 6, 0, 0, 0, 0, 0,                                   // DEST_ATTR_L_THRESH (6) = 0
  };
  EXPECT_THAT(msg.bytes(), ElementsAreArray(want));
}

TEST(IpvsMessagesTest, BatchedRequestsAreTheSingleRequestsWithConsecutiveSequencesAndThePort) {
  proxier::ipvs::IpvsOperation add;
  add.kind = proxier::ipvs::IpvsOperation::Kind::kAddService;
  add.server = Server("10.96.0.10", 80);
  proxier::ipvs::IpvsOperation remove = add;
  remove.kind = proxier::ipvs::IpvsOperation::Kind::kDeleteService;
  absl::StatusOr<GenlMessage> first = BuildWriteMessage(kFamily, add);
  absl::StatusOr<GenlMessage> second = BuildWriteMessage(kFamily, remove);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->command(), IPVS_CMD_NEW_SERVICE);
  EXPECT_EQ(second->command(), IPVS_CMD_DEL_SERVICE);
  const std::vector<uint8_t> batch = ConcatenateRequests({*first, *second}, 700, 4242);
  ASSERT_EQ(batch.size(), NLMSG_ALIGN(first->bytes().size()) + NLMSG_ALIGN(second->bytes().size()));
  size_t at = 0;
  uint32_t sequence = 700;
  for (const GenlMessage* single : {&*first, &*second}) {
    nlmsghdr header;
    std::memcpy(&header, batch.data() + at, sizeof(header));
    EXPECT_EQ(header.nlmsg_len, single->bytes().size());
    EXPECT_EQ(header.nlmsg_seq, sequence++);
    EXPECT_EQ(header.nlmsg_pid, 4242u);
    EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    // Past the header, the bytes are the single request's.
    EXPECT_TRUE(std::equal(single->bytes().begin() + sizeof(nlmsghdr), single->bytes().end(),
                           batch.begin() + at + sizeof(nlmsghdr)));
    at += NLMSG_ALIGN(single->bytes().size());
  }
  proxier::ipvs::IpvsOperation bind;
  bind.kind = proxier::ipvs::IpvsOperation::Kind::kBindAddress;
  EXPECT_TRUE(absl::IsInvalidArgument(BuildWriteMessage(kFamily, bind).status()));
}

TEST(IpvsMessagesTest, NewServiceCarriesSchedulerFlagsTimeoutAndNetmask) {
  VirtualServer vs = Server("10.96.0.10", 53, Protocol::kUDP);
  vs.scheduler = "rr";
  vs.flags = proxier::ipvs::kFlagPersistent;
  vs.timeout_seconds = 10800;
  GenlMessage msg = BuildServiceMessage(kFamily, IPVS_CMD_NEW_SERVICE, vs, true);
  uint32_t len;
  std::memcpy(&len, msg.bytes().data(), 4);
  EXPECT_EQ(len, msg.bytes().size());
  EXPECT_EQ(msg.command(), IPVS_CMD_NEW_SERVICE);
  // A reply carries the same attributes; parsing our own request round-trips the value.
  auto parsed = ParseServiceReply(Attributes(msg));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, vs);
}

TEST(IpvsMessagesTest, DestinationReplyParsesWeightAndConnectionCounts) {
  GenlMessage msg(kFamily, IPVS_CMD_NEW_DEST, 0);
  size_t nest = msg.BeginNested(IPVS_CMD_ATTR_DEST);
  const uint8_t addr[16] = {10, 0, 1, 5};
  msg.PutBytes(IPVS_DEST_ATTR_ADDR, addr);
  msg.PutU16(IPVS_DEST_ATTR_PORT, htons(8080));
  msg.PutU32(IPVS_DEST_ATTR_WEIGHT, 0);
  msg.PutU32(IPVS_DEST_ATTR_ACTIVE_CONNS, 3);
  msg.PutU32(IPVS_DEST_ATTR_INACT_CONNS, 7);
  msg.PutU16(IPVS_DEST_ATTR_ADDR_FAMILY, AF_INET);
  msg.EndNested(nest);
  auto rs = ParseDestinationReply(Attributes(msg));
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(rs->key, Dest("10.0.1.5", 8080));
  EXPECT_EQ(rs->weight, 0u);
  EXPECT_EQ(rs->active_connections, 3u);
  EXPECT_EQ(rs->inactive_connections, 7u);
}

// --ipvs-tcp-timeout and friends: only the configured (non-zero) timeouts go to the kernel, which
// leaves the others as they are; the GET_CONFIG reply parses back.
TEST(IpvsMessagesTest, SetTimeoutsCarriesOnlyTheConfiguredOnesAndTheConfigReplyParses) {
  proxier::ipvs::IpvsTimeouts timeouts;
  timeouts.tcp_seconds = 900;
  timeouts.udp_seconds = 60;
  GenlMessage msg = BuildSetTimeoutsMessage(kFamily, timeouts);
  EXPECT_EQ(msg.command(), IPVS_CMD_SET_CONFIG);
  auto parsed = ParseConfigReply(Attributes(msg));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, timeouts);
  // Two u32 attributes of 8 bytes each, no TCP_FIN.
  EXPECT_EQ(Attributes(msg).size(), 16u);
}

TEST(IpvsMessagesTest, NewDestinationIsMasqueradingWithWeight) {
  RealServer rs{Dest("10.0.1.5", 8080), 1, 0, 0};
  GenlMessage msg = BuildDestinationMessage(kFamily, IPVS_CMD_NEW_DEST, Server("10.96.0.10", 80), rs, true);
  auto back = ParseDestinationReply(Attributes(msg));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->key, rs.key);
  EXPECT_EQ(back->weight, 1u);
  auto svc = ParseServiceReply(Attributes(msg));
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ(svc->key, Key("10.96.0.10", 80));
}

TEST(IpvsMessagesTest, Ipv6ServiceRoundTrips) {
  VirtualServer vs = Server("fd00::10", 443);
  vs.scheduler = "wrr";
  auto parsed = ParseServiceReply(Attributes(BuildServiceMessage(kFamily, IPVS_CMD_SET_SERVICE, vs, true)));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, vs);
}

TEST(IpvsMessagesTest, TruncatedAttributeIsAnErrorNotACrash) {
  std::vector<uint8_t> bad = {40, 0, 1, 0, 6, 0};
  EXPECT_FALSE(ParseServiceReply(bad).ok());
}

TEST(IpvsMessagesTest, KernelErrorNamesCommandObjectAndErrno) {
  absl::Status s = ErrnoToStatus(EEXIST, "IPVS_CMD_NEW_DEST 10.96.0.10:53/UDP -> 10.0.0.5:53");
  EXPECT_TRUE(absl::IsAlreadyExists(s));
  EXPECT_EQ(s.message(), "IPVS_CMD_NEW_DEST 10.96.0.10:53/UDP -> 10.0.0.5:53: EEXIST");
  EXPECT_TRUE(absl::IsNotFound(ErrnoToStatus(ESRCH, "IPVS_CMD_DEL_SERVICE 10.96.0.10:53/UDP")));
  EXPECT_TRUE(absl::IsNotFound(ErrnoToStatus(ENOENT, "x")));
}

}  // namespace
}  // namespace kproxy::backends::ipvs
