#include "backends/conntrack/conntrack_messages.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kproxy::backends::conntrack {
namespace {

constexpr size_t kMessageBufferSize = 512;

uint8_t FamilyNumber(proxier::IpFamily family) {
  return family == proxier::IpFamily::kIPv6 ? AF_INET6 : AF_INET;
}

uint8_t ProtocolNumber(proxier::Protocol p) {
  switch (p) {
    case proxier::Protocol::kTCP: return IPPROTO_TCP;
    case proxier::Protocol::kUDP: return IPPROTO_UDP;
    case proxier::Protocol::kSCTP: return IPPROTO_SCTP;
  }
  return IPPROTO_UDP;
}

nlmsghdr* PutHeader(std::vector<uint8_t>& buf, uint16_t msg_type, uint16_t flags, proxier::IpFamily family,
                    uint32_t seq) {
  buf.assign(kMessageBufferSize, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | msg_type);
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = FamilyNumber(family);
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

void PutTuple(nlmsghdr* nlh, uint16_t type, const proxier::IpAddress& src, const proxier::IpAddress& dst,
              uint16_t sport, uint16_t dport, proxier::Protocol protocol) {
  nlattr* tuple = mnl_attr_nest_start(nlh, type);
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  if (src.is_v4()) {
    mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, src.bytes().data());
    mnl_attr_put(nlh, CTA_IP_V4_DST, 4, dst.bytes().data());
  } else {
    mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, src.bytes().data());
    mnl_attr_put(nlh, CTA_IP_V6_DST, 16, dst.bytes().data());
  }
  mnl_attr_nest_end(nlh, ip);
  nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, ProtocolNumber(protocol));
  mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
  mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
  mnl_attr_nest_end(nlh, proto);
  mnl_attr_nest_end(nlh, tuple);
}

std::vector<uint8_t> Finish(std::vector<uint8_t>& buf, const nlmsghdr* nlh) {
  buf.resize(nlh->nlmsg_len);
  return std::move(buf);
}

struct TupleValues {
  bool has_src = false, has_dst = false, has_proto = false;
  proxier::IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
};

int ParseAttrInto(const nlattr* attr, void* data, int max_type) {
  auto** table = static_cast<const nlattr**>(data);
  int type = mnl_attr_get_type(attr);
  if (mnl_attr_type_valid(attr, max_type) < 0) return MNL_CB_OK;  // unknown: ignore
  table[type] = attr;
  return MNL_CB_OK;
}

absl::Status ParseTuple(const nlattr* tuple_attr, TupleValues& out) {
  const nlattr* tb[CTA_TUPLE_MAX + 1] = {};
  mnl_attr_parse_nested(tuple_attr, [](const nlattr* a, void* d) { return ParseAttrInto(a, d, CTA_TUPLE_MAX); }, tb);
  if (tb[CTA_TUPLE_IP] != nullptr) {
    const nlattr* ip[CTA_IP_MAX + 1] = {};
    mnl_attr_parse_nested(tb[CTA_TUPLE_IP], [](const nlattr* a, void* d) { return ParseAttrInto(a, d, CTA_IP_MAX); },
                          ip);
    auto read = [](const nlattr* a, proxier::IpAddress& into) -> bool {
      if (a == nullptr) return false;
      uint16_t len = mnl_attr_get_payload_len(a);
      const auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
      if (len == 4) {
        into = proxier::IpAddress::FromV4Bytes(p);
      } else if (len == 16) {
        into = proxier::IpAddress::FromV6Bytes(p);
      } else {
        return false;
      }
      return true;
    };
    out.has_src = read(ip[CTA_IP_V4_SRC] ? ip[CTA_IP_V4_SRC] : ip[CTA_IP_V6_SRC], out.src);
    out.has_dst = read(ip[CTA_IP_V4_DST] ? ip[CTA_IP_V4_DST] : ip[CTA_IP_V6_DST], out.dst);
  }
  if (tb[CTA_TUPLE_PROTO] != nullptr) {
    const nlattr* pr[CTA_PROTO_MAX + 1] = {};
    mnl_attr_parse_nested(tb[CTA_TUPLE_PROTO],
                          [](const nlattr* a, void* d) { return ParseAttrInto(a, d, CTA_PROTO_MAX); }, pr);
    if (pr[CTA_PROTO_NUM] != nullptr) {
      out.has_proto = true;
      out.proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
    }
    if (pr[CTA_PROTO_SRC_PORT] != nullptr) out.sport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT]));
    if (pr[CTA_PROTO_DST_PORT] != nullptr) out.dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
  }
  if (!out.has_src || !out.has_dst || !out.has_proto) {
    return absl::InvalidArgumentError("conntrack tuple without addresses or protocol");
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<uint8_t> BuildDumpRequest(proxier::IpFamily family, uint32_t seq) {
  std::vector<uint8_t> buf;
  nlmsghdr* nlh = PutHeader(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, family, seq);
  return Finish(buf, nlh);
}

std::vector<uint8_t> BuildDeleteRequest(const ConntrackEntry& entry, uint32_t seq) {
  std::vector<uint8_t> buf;
  nlmsghdr* nlh = PutHeader(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK,
                            entry.orig_source.family(), seq);
  PutTuple(nlh, CTA_TUPLE_ORIG, entry.orig_source, entry.orig_destination, entry.orig_source_port,
           entry.orig_destination_port, entry.protocol);
  return Finish(buf, nlh);
}

std::vector<uint8_t> BuildEntryMessage(const ConntrackEntry& entry, uint32_t seq) {
  std::vector<uint8_t> buf;
  nlmsghdr* nlh = PutHeader(buf, IPCTNL_MSG_CT_NEW, NLM_F_MULTI, entry.orig_source.family(), seq);
  PutTuple(nlh, CTA_TUPLE_ORIG, entry.orig_source, entry.orig_destination, entry.orig_source_port,
           entry.orig_destination_port, entry.protocol);
  PutTuple(nlh, CTA_TUPLE_REPLY, entry.reply_source, entry.reply_destination, entry.reply_source_port,
           entry.reply_destination_port, entry.protocol);
  return Finish(buf, nlh);
}

absl::StatusOr<ConntrackEntry> ParseEntryMessage(const nlmsghdr* nlh) {
  const nlattr* tb[CTA_MAX + 1] = {};
  mnl_attr_parse(nlh, sizeof(nfgenmsg), [](const nlattr* a, void* d) { return ParseAttrInto(a, d, CTA_MAX); }, tb);
  if (tb[CTA_TUPLE_ORIG] == nullptr || tb[CTA_TUPLE_REPLY] == nullptr) {
    return absl::InvalidArgumentError("conntrack entry without both tuples");
  }
  TupleValues orig, reply;
  if (absl::Status s = ParseTuple(tb[CTA_TUPLE_ORIG], orig); !s.ok()) return s;
  if (absl::Status s = ParseTuple(tb[CTA_TUPLE_REPLY], reply); !s.ok()) return s;
  ConntrackEntry e;
  switch (orig.proto) {
    case IPPROTO_TCP: e.protocol = proxier::Protocol::kTCP; break;
    case IPPROTO_UDP: e.protocol = proxier::Protocol::kUDP; break;
    case IPPROTO_SCTP: e.protocol = proxier::Protocol::kSCTP; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("conntrack entry of protocol ", orig.proto));
  }
  e.orig_source = orig.src;
  e.orig_destination = orig.dst;
  e.orig_source_port = orig.sport;
  e.orig_destination_port = orig.dport;
  e.reply_source = reply.src;
  e.reply_destination = reply.dst;
  e.reply_source_port = reply.sport;
  e.reply_destination_port = reply.dport;
  return e;
}

}  // namespace kproxy::backends::conntrack
