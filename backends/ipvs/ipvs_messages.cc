#include "backends/ipvs/ipvs_messages.h"

#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs {
namespace {

using proxier::IpAddress;
using proxier::IpFamily;
using proxier::Protocol;
using proxier::ipvs::RealServer;
using proxier::ipvs::VirtualServer;

constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

uint16_t IpProto(Protocol p) {
  switch (p) {
    case Protocol::kTCP: return IPPROTO_TCP;
    case Protocol::kUDP: return IPPROTO_UDP;
    case Protocol::kSCTP: return IPPROTO_SCTP;
  }
  return IPPROTO_TCP;
}

uint16_t Af(IpFamily f) { return f == IpFamily::kIPv4 ? AF_INET : AF_INET6; }

// union nf_inet_addr: 16 bytes, IPv4 in the first 4.
std::array<uint8_t, 16> InetAddr(const IpAddress& ip) { return ip.bytes(); }

void PutServiceIdentity(GenlMessage& msg, const VirtualServer& server) {
  msg.PutU16(IPVS_SVC_ATTR_AF, Af(server.key.address.family()));
  msg.PutU16(IPVS_SVC_ATTR_PROTOCOL, IpProto(server.key.protocol));
  auto addr = InetAddr(server.key.address);
  msg.PutBytes(IPVS_SVC_ATTR_ADDR, addr);
  msg.PutU16(IPVS_SVC_ATTR_PORT, htons(server.key.port));
}

void PutService(GenlMessage& msg, const VirtualServer& server, bool full) {
  size_t nest = msg.BeginNested(IPVS_CMD_ATTR_SERVICE);
  PutServiceIdentity(msg, server);
  if (full) {
    msg.PutString(IPVS_SVC_ATTR_SCHED_NAME, server.scheduler);
    ip_vs_flags flags{};
    flags.flags = server.flags;
    flags.mask = ~0u;
    uint8_t raw[sizeof(flags)];
    std::memcpy(raw, &flags, sizeof(flags));
    msg.PutBytes(IPVS_SVC_ATTR_FLAGS, raw);
    msg.PutU32(IPVS_SVC_ATTR_TIMEOUT, server.timeout_seconds);
    msg.PutU32(IPVS_SVC_ATTR_NETMASK, server.key.address.is_v4() ? 0xffffffffu : 128u);
  }
  msg.EndNested(nest);
}

// Attribute table of one nesting level: type -> payload.
using AttrTable = std::map<uint16_t, absl::Span<const uint8_t>>;

absl::StatusOr<AttrTable> ParseAttrs(absl::Span<const uint8_t> data) {
  AttrTable table;
  size_t off = 0;
  while (off + 4 <= data.size()) {
    uint16_t len;
    uint16_t type;
    std::memcpy(&len, data.data() + off, 2);
    std::memcpy(&type, data.data() + off + 2, 2);
    if (len < 4 || off + len > data.size()) {
      return absl::DataLossError(absl::StrCat("netlink attribute at offset ", off, " has bad length ", len));
    }
    table[type & NLA_TYPE_MASK] = data.subspan(off + 4, len - 4);
    off += Align4(len);
  }
  return table;
}

template <typename T>
bool Read(const AttrTable& t, uint16_t type, T* out) {
  auto it = t.find(type);
  if (it == t.end() || it->second.size() < sizeof(T)) return false;
  std::memcpy(out, it->second.data(), sizeof(T));
  return true;
}

absl::StatusOr<IpAddress> ReadAddress(const AttrTable& t, uint16_t type, uint16_t af) {
  auto it = t.find(type);
  if (it == t.end()) return absl::DataLossError("address attribute missing");
  if (af == AF_INET && it->second.size() >= 4) return IpAddress::FromV4Bytes(it->second.data());
  if (af == AF_INET6 && it->second.size() >= 16) return IpAddress::FromV6Bytes(it->second.data());
  return absl::DataLossError(absl::StrCat("address attribute of ", it->second.size(), " bytes for family ", af));
}

}  // namespace

GenlMessage::GenlMessage(uint16_t family_id, uint8_t command, uint16_t flags, uint8_t version) {
  bytes_.resize(NLMSG_HDRLEN + GENL_HDRLEN, 0);
  nlmsghdr hdr{};
  hdr.nlmsg_len = static_cast<uint32_t>(bytes_.size());
  hdr.nlmsg_type = family_id;
  hdr.nlmsg_flags = flags;
  std::memcpy(bytes_.data(), &hdr, sizeof(hdr));
  bytes_[NLMSG_HDRLEN] = command;
  bytes_[NLMSG_HDRLEN + 1] = version;
}

void GenlMessage::PutAttr(uint16_t type, const void* data, size_t len) {
  const size_t start = bytes_.size();
  const uint16_t attr_len = static_cast<uint16_t>(4 + len);
  bytes_.resize(start + Align4(attr_len), 0);
  std::memcpy(bytes_.data() + start, &attr_len, 2);
  std::memcpy(bytes_.data() + start + 2, &type, 2);
  if (len > 0) std::memcpy(bytes_.data() + start + 4, data, len);
  const uint32_t total = static_cast<uint32_t>(bytes_.size());
  std::memcpy(bytes_.data(), &total, 4);
}

void GenlMessage::PutU16(uint16_t type, uint16_t value) { PutAttr(type, &value, 2); }
void GenlMessage::PutU32(uint32_t type, uint32_t value) { PutAttr(static_cast<uint16_t>(type), &value, 4); }
void GenlMessage::PutBytes(uint16_t type, absl::Span<const uint8_t> value) {
  PutAttr(type, value.data(), value.size());
}
void GenlMessage::PutString(uint16_t type, absl::string_view value) {
  std::string s(value);
  PutAttr(type, s.c_str(), s.size() + 1);
}

size_t GenlMessage::BeginNested(uint16_t type) {
  const size_t start = bytes_.size();
  PutAttr(type, nullptr, 0);
  return start;
}

void GenlMessage::EndNested(size_t offset) {
  const uint16_t len = static_cast<uint16_t>(bytes_.size() - offset);
  std::memcpy(bytes_.data() + offset, &len, 2);
}

const char* IpvsCommandName(uint8_t command) {
  switch (command) {
    case IPVS_CMD_NEW_SERVICE: return "IPVS_CMD_NEW_SERVICE";
    case IPVS_CMD_SET_SERVICE: return "IPVS_CMD_SET_SERVICE";
    case IPVS_CMD_DEL_SERVICE: return "IPVS_CMD_DEL_SERVICE";
    case IPVS_CMD_GET_SERVICE: return "IPVS_CMD_GET_SERVICE";
    case IPVS_CMD_NEW_DEST: return "IPVS_CMD_NEW_DEST";
    case IPVS_CMD_SET_DEST: return "IPVS_CMD_SET_DEST";
    case IPVS_CMD_DEL_DEST: return "IPVS_CMD_DEL_DEST";
    case IPVS_CMD_GET_DEST: return "IPVS_CMD_GET_DEST";
    case IPVS_CMD_FLUSH: return "IPVS_CMD_FLUSH";
    case IPVS_CMD_SET_CONFIG: return "IPVS_CMD_SET_CONFIG";
    case IPVS_CMD_GET_CONFIG: return "IPVS_CMD_GET_CONFIG";
    default: return "IPVS_CMD_?";
  }
}

GenlMessage BuildServiceMessage(uint16_t family_id, uint8_t command, const VirtualServer& server, bool full) {
  GenlMessage msg(family_id, command, NLM_F_REQUEST | NLM_F_ACK);
  PutService(msg, server, full);
  return msg;
}

absl::StatusOr<GenlMessage> BuildWriteMessage(uint16_t family_id, const proxier::ipvs::IpvsOperation& write) {
  using Kind = proxier::ipvs::IpvsOperation::Kind;
  switch (write.kind) {
    case Kind::kAddService: return BuildServiceMessage(family_id, IPVS_CMD_NEW_SERVICE, write.server, true);
    case Kind::kEditService: return BuildServiceMessage(family_id, IPVS_CMD_SET_SERVICE, write.server, true);
    case Kind::kDeleteService: return BuildServiceMessage(family_id, IPVS_CMD_DEL_SERVICE, write.server, false);
    case Kind::kAddDestination:
      return BuildDestinationMessage(family_id, IPVS_CMD_NEW_DEST, write.server, write.destination, true);
    case Kind::kEditDestination:
      return BuildDestinationMessage(family_id, IPVS_CMD_SET_DEST, write.server, write.destination, true);
    case Kind::kDeleteDestination:
      return BuildDestinationMessage(family_id, IPVS_CMD_DEL_DEST, write.server, write.destination, false);
    case Kind::kBindAddress:
    case Kind::kUnbindAddress: break;
  }
  return absl::InvalidArgumentError(absl::StrCat("not an IPVS table write: ", write.ToString()));
}

std::vector<uint8_t> ConcatenateRequests(absl::Span<const GenlMessage> messages, uint32_t first_sequence,
                                         uint32_t port) {
  size_t total = 0;
  for (const GenlMessage& m : messages) total += NLMSG_ALIGN(m.bytes().size());
  std::vector<uint8_t> buffer(total, 0);
  size_t at = 0;
  uint32_t sequence = first_sequence;
  for (const GenlMessage& m : messages) {
    std::memcpy(buffer.data() + at, m.bytes().data(), m.bytes().size());
    nlmsghdr header;
    std::memcpy(&header, buffer.data() + at, sizeof(header));
    header.nlmsg_seq = sequence++;
    header.nlmsg_pid = port;
    std::memcpy(buffer.data() + at, &header, sizeof(header));
    at += NLMSG_ALIGN(m.bytes().size());
  }
  return buffer;
}

GenlMessage BuildDestinationMessage(uint16_t family_id, uint8_t command, const VirtualServer& server,
                                    const RealServer& destination, bool full) {
  GenlMessage msg(family_id, command, NLM_F_REQUEST | NLM_F_ACK);
  PutService(msg, server, /*full=*/false);
  size_t nest = msg.BeginNested(IPVS_CMD_ATTR_DEST);
  auto addr = InetAddr(destination.key.address);
  msg.PutBytes(IPVS_DEST_ATTR_ADDR, addr);
  msg.PutU16(IPVS_DEST_ATTR_PORT, htons(destination.key.port));
  msg.PutU16(IPVS_DEST_ATTR_ADDR_FAMILY, Af(destination.key.address.family()));
  if (full) {
    msg.PutU32(IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ);
    msg.PutU32(IPVS_DEST_ATTR_WEIGHT, destination.weight);
    msg.PutU32(IPVS_DEST_ATTR_U_THRESH, 0);
    msg.PutU32(IPVS_DEST_ATTR_L_THRESH, 0);
  }
  msg.EndNested(nest);
  return msg;
}

GenlMessage BuildSetTimeoutsMessage(uint16_t family_id, const proxier::ipvs::IpvsTimeouts& timeouts) {
  GenlMessage msg(family_id, IPVS_CMD_SET_CONFIG, NLM_F_REQUEST | NLM_F_ACK);
  // The kernel leaves a timeout that is absent (or 0) unchanged.
  if (timeouts.tcp_seconds != 0) msg.PutU32(IPVS_CMD_ATTR_TIMEOUT_TCP, timeouts.tcp_seconds);
  if (timeouts.tcp_fin_seconds != 0) msg.PutU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, timeouts.tcp_fin_seconds);
  if (timeouts.udp_seconds != 0) msg.PutU32(IPVS_CMD_ATTR_TIMEOUT_UDP, timeouts.udp_seconds);
  return msg;
}

GenlMessage BuildGetConfigMessage(uint16_t family_id) {
  return GenlMessage(family_id, IPVS_CMD_GET_CONFIG, NLM_F_REQUEST | NLM_F_ACK);
}

absl::StatusOr<proxier::ipvs::IpvsTimeouts> ParseConfigReply(absl::Span<const uint8_t> attributes) {
  auto top = ParseAttrs(attributes);
  if (!top.ok()) return top.status();
  proxier::ipvs::IpvsTimeouts timeouts;
  Read(*top, IPVS_CMD_ATTR_TIMEOUT_TCP, &timeouts.tcp_seconds);
  Read(*top, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, &timeouts.tcp_fin_seconds);
  Read(*top, IPVS_CMD_ATTR_TIMEOUT_UDP, &timeouts.udp_seconds);
  return timeouts;
}

GenlMessage BuildGetServicesDump(uint16_t family_id) {
  return GenlMessage(family_id, IPVS_CMD_GET_SERVICE, NLM_F_REQUEST | NLM_F_DUMP);
}

GenlMessage BuildGetDestinationsDump(uint16_t family_id, const VirtualServer& server) {
  GenlMessage msg(family_id, IPVS_CMD_GET_DEST, NLM_F_REQUEST | NLM_F_DUMP);
  PutService(msg, server, /*full=*/false);
  return msg;
}

absl::StatusOr<VirtualServer> ParseServiceReply(absl::Span<const uint8_t> attributes) {
  auto top = ParseAttrs(attributes);
  if (!top.ok()) return top.status();
  auto it = top->find(IPVS_CMD_ATTR_SERVICE);
  if (it == top->end()) return absl::DataLossError("GET_SERVICE reply without IPVS_CMD_ATTR_SERVICE");
  auto svc = ParseAttrs(it->second);
  if (!svc.ok()) return svc.status();
  uint16_t af = 0;
  uint16_t proto = 0;
  uint16_t port_be = 0;
  if (!Read(*svc, IPVS_SVC_ATTR_AF, &af)) return absl::DataLossError("service without IPVS_SVC_ATTR_AF");
  if (!Read(*svc, IPVS_SVC_ATTR_PROTOCOL, &proto) || !Read(*svc, IPVS_SVC_ATTR_PORT, &port_be)) {
    return absl::NotFoundError("fwmark service");
  }
  VirtualServer vs;
  auto addr = ReadAddress(*svc, IPVS_SVC_ATTR_ADDR, af);
  if (!addr.ok()) return addr.status();
  vs.key.address = *addr;
  switch (proto) {
    case IPPROTO_TCP: vs.key.protocol = Protocol::kTCP; break;
    case IPPROTO_UDP: vs.key.protocol = Protocol::kUDP; break;
    case IPPROTO_SCTP: vs.key.protocol = Protocol::kSCTP; break;
    default: return absl::NotFoundError(absl::StrCat("service with IP protocol ", proto));
  }
  vs.key.port = ntohs(port_be);
  auto sched = svc->find(IPVS_SVC_ATTR_SCHED_NAME);
  if (sched != svc->end()) {
    vs.scheduler.assign(reinterpret_cast<const char*>(sched->second.data()),
                        strnlen(reinterpret_cast<const char*>(sched->second.data()), sched->second.size()));
  }
  ip_vs_flags flags{};
  if (Read(*svc, IPVS_SVC_ATTR_FLAGS, &flags)) vs.flags = flags.flags;
  Read(*svc, IPVS_SVC_ATTR_TIMEOUT, &vs.timeout_seconds);
  return vs;
}

absl::StatusOr<RealServer> ParseDestinationReply(absl::Span<const uint8_t> attributes) {
  auto top = ParseAttrs(attributes);
  if (!top.ok()) return top.status();
  auto it = top->find(IPVS_CMD_ATTR_DEST);
  if (it == top->end()) return absl::DataLossError("GET_DEST reply without IPVS_CMD_ATTR_DEST");
  auto dest = ParseAttrs(it->second);
  if (!dest.ok()) return dest.status();
  uint16_t af = AF_INET;
  uint16_t port_be = 0;
  if (!Read(*dest, IPVS_DEST_ATTR_ADDR_FAMILY, &af)) {
    // Old kernels omit the family; guess from the address bytes being IPv4 (rest zero).
    af = AF_INET;
  }
  auto addr = ReadAddress(*dest, IPVS_DEST_ATTR_ADDR, af);
  if (!addr.ok()) return addr.status();
  RealServer rs;
  rs.key.address = *addr;
  Read(*dest, IPVS_DEST_ATTR_PORT, &port_be);
  rs.key.port = ntohs(port_be);
  Read(*dest, IPVS_DEST_ATTR_WEIGHT, &rs.weight);
  Read(*dest, IPVS_DEST_ATTR_ACTIVE_CONNS, &rs.active_connections);
  Read(*dest, IPVS_DEST_ATTR_INACT_CONNS, &rs.inactive_connections);
  return rs;
}

}  // namespace kproxy::backends::ipvs
