#include "cmd/kube-proxy/node_addresses.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "proxier/node_port_addresses.h"

namespace kproxy::daemon {

using proxier::IpAddress;
using proxier::IpFamily;

proxier::NodeContext BuildNodeContext(const std::string& node_name, IpFamily family, const proxier::Node* node,
                                      const std::optional<IpAddress>& bind_address) {
  proxier::NodeContext ctx;
  ctx.node_name = node_name;
  ctx.family = family;
  if (bind_address.has_value() && !bind_address->IsUnspecified() && bind_address->family() == family) {
    ctx.node_ips.push_back(*bind_address);
  }
  if (node == nullptr) return ctx;
  for (const char* type : {"InternalIP", "ExternalIP"}) {
    for (const proxier::NodeAddress& a : node->addresses) {
      if (a.type != type) continue;
      auto ip = IpAddress::Parse(a.address);
      if (!ip.ok() || ip->family() != family) continue;
      if (std::find(ctx.node_ips.begin(), ctx.node_ips.end(), *ip) == ctx.node_ips.end()) ctx.node_ips.push_back(*ip);
    }
  }
  if (auto it = node->metadata.labels.find(kZoneLabel); it != node->metadata.labels.end()) ctx.zone = it->second;
  ctx.labels = node->metadata.labels;
  for (const proxier::Cidr& c : node->pod_cidrs) {
    if (c.family() == family) ctx.pod_cidrs.push_back(c);
  }
  return ctx;
}

IpFamily PrimaryFamily(const proxier::Node* node, const std::optional<IpAddress>& bind_address) {
  if (bind_address.has_value() && !bind_address->IsUnspecified()) return bind_address->family();
  if (node != nullptr) {
    for (const char* type : {"InternalIP", ""}) {
      for (const proxier::NodeAddress& a : node->addresses) {
        if (*type != '\0' && a.type != type) continue;
        if (auto ip = IpAddress::Parse(a.address); ip.ok()) return ip->family();
      }
    }
  }
  return IpFamily::kIPv4;
}

bool NodeContextChanged(const proxier::NodeContext& a, const proxier::NodeContext& b) {
  return a.node_ips != b.node_ips || a.zone != b.zone || a.labels != b.labels || a.pod_cidrs != b.pod_cidrs;
}

namespace {

bool IsV6LinkLocal(const IpAddress& ip) {
  return !ip.is_v4() && ip.bytes()[0] == 0xfe && (ip.bytes()[1] & 0xc0) == 0x80;
}

}  // namespace

absl::StatusOr<std::vector<IpAddress>> IpvsNodePortAddresses(const std::vector<std::string>& node_port_addresses,
                                                             const proxier::NodeContext& node,
                                                             const std::vector<IpAddress>& local_addresses) {
  auto npa = proxier::NodePortAddresses::Create(node.family, node_port_addresses, node.node_ips);
  if (!npa.ok()) return npa.status();
  std::vector<IpAddress> out;
  for (const IpAddress& ip : npa->Select(local_addresses)) {
    if (ip.IsLoopback() || (npa->MatchAll() && IsV6LinkLocal(ip))) continue;
    out.push_back(ip);
  }
  return out;
}

absl::StatusOr<std::vector<IpAddress>> LocalInterfaceAddresses() {
  std::vector<IpAddress> out;
  struct ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return absl::ErrnoToStatus(errno, "getifaddrs");
  for (struct ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.push_back(IpAddress::FromV4Bytes(reinterpret_cast<const uint8_t*>(&sin->sin_addr)));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      out.push_back(IpAddress::FromV6Bytes(reinterpret_cast<const uint8_t*>(&sin6->sin6_addr)));
    }
  }
  freeifaddrs(list);
  return out;
}

std::string DefaultNodeName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(buf));
}

}  // namespace kproxy::daemon
