#include "backends/ipvs/netlink_link_manager.h"

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace kproxy::backends::ipvs {
namespace {

using proxier::IpAddress;

struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

absl::Status NlError(int rc, absl::string_view what) {
  std::string msg = absl::StrCat(what, ": ", nl_geterror(rc));
  switch (-rc) {
    case NLE_EXIST: return absl::AlreadyExistsError(msg);
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
    case NLE_NOADDR: return absl::NotFoundError(msg);
    case NLE_PERM: return absl::PermissionDeniedError(msg);
    default: return absl::InternalError(msg);
  }
}

}  // namespace

void NetlinkLinkManager::SocketDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

absl::StatusOr<std::unique_ptr<NetlinkLinkManager>> NetlinkLinkManager::Create() {
  SocketPtr sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  if (int rc = nl_connect(sock.get(), NETLINK_ROUTE); rc < 0) return NlError(rc, "connect rtnetlink");
  return std::unique_ptr<NetlinkLinkManager>(new NetlinkLinkManager(std::move(sock)));
}

absl::StatusOr<int> NetlinkLinkManager::IfIndex(absl::string_view name) {
  rtnl_link* raw = nullptr;
  std::string n(name);
  int rc = rtnl_link_get_kernel(sock_.get(), 0, n.c_str(), &raw);
  if (rc < 0) return NlError(rc, absl::StrCat("link ", name));
  std::unique_ptr<rtnl_link, LinkDeleter> link(raw);
  return rtnl_link_get_ifindex(link.get());
}

absl::Status NetlinkLinkManager::EnsureDummyLink(absl::string_view name) {
  if (IfIndex(name).ok()) return absl::OkStatus();
  std::unique_ptr<rtnl_link, LinkDeleter> link(rtnl_link_alloc());
  std::string n(name);
  rtnl_link_set_name(link.get(), n.c_str());
  if (int rc = rtnl_link_set_type(link.get(), "dummy"); rc < 0) return NlError(rc, "link type dummy");
  int rc = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE);
  if (rc < 0 && -rc != NLE_EXIST) return NlError(rc, absl::StrCat("add dummy link ", name));
  return absl::OkStatus();
}

absl::StatusOr<absl::btree_set<IpAddress>> NetlinkLinkManager::ListAddresses(absl::string_view name,
                                                                               proxier::IpFamily family) {
  auto index = IfIndex(name);
  if (!index.ok()) return index.status();
  return DumpAddresses(family, [&](int ifindex) { return ifindex == *index; });
}

absl::StatusOr<absl::btree_set<IpAddress>> NetlinkLinkManager::ListLocalAddresses(absl::string_view except_link,
                                                                                    proxier::IpFamily family) {
  auto index = IfIndex(except_link);
  if (!index.ok() && !absl::IsNotFound(index.status())) return index.status();
  const int skip = index.ok() ? *index : -1;
  return DumpAddresses(family, [skip](int ifindex) { return ifindex != skip; });
}

absl::StatusOr<absl::btree_set<IpAddress>> NetlinkLinkManager::DumpAddresses(proxier::IpFamily family,
                                                                               const std::function<bool(int)>& keep) {
  nl_cache* raw = nullptr;
  if (int rc = rtnl_addr_alloc_cache(sock_.get(), &raw); rc < 0) return NlError(rc, "list addresses");
  std::unique_ptr<nl_cache, CacheDeleter> cache(raw);
  absl::btree_set<IpAddress> out;
  const int want_af = family == proxier::IpFamily::kIPv4 ? AF_INET : AF_INET6;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    if (!keep(rtnl_addr_get_ifindex(addr)) || rtnl_addr_get_family(addr) != want_af) continue;
    nl_addr* local = rtnl_addr_get_local(addr);
    if (local == nullptr) continue;
    auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(local));
    if (want_af == AF_INET && nl_addr_get_len(local) == 4) out.insert(IpAddress::FromV4Bytes(bytes));
    if (want_af == AF_INET6 && nl_addr_get_len(local) == 16) out.insert(IpAddress::FromV6Bytes(bytes));
  }
  return out;
}

absl::Status NetlinkLinkManager::ChangeAddress(absl::string_view name, const IpAddress& ip, bool add) {
  const std::string what = absl::StrCat(add ? "add" : "delete", " address ", ip.ToString(), " on ", name);
  auto index = IfIndex(name);
  if (!index.ok()) return NlError(-NLE_NODEV, what);
  const int af = ip.is_v4() ? AF_INET : AF_INET6;
  std::unique_ptr<nl_addr, NlAddrDeleter> local(nl_addr_build(af, ip.bytes().data(), ip.is_v4() ? 4 : 16));
  nl_addr_set_prefixlen(local.get(), ip.is_v4() ? 32 : 128);
  std::unique_ptr<rtnl_addr, AddrDeleter> addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), *index);
  rtnl_addr_set_family(addr.get(), af);
  if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) return NlError(rc, what);
  int rc = add ? rtnl_addr_add(sock_.get(), addr.get(), NLM_F_EXCL) : rtnl_addr_delete(sock_.get(), addr.get(), 0);
  if (rc < 0) {
    // The kernel answers EADDRNOTAVAIL for an address that is not there.
    if (!add && -rc == NLE_NOADDR) return absl::NotFoundError(absl::StrCat(what, ": not present"));
    return NlError(rc, what);
  }
  return absl::OkStatus();
}

absl::Status NetlinkLinkManager::AddAddress(absl::string_view name, const IpAddress& ip) {
  return ChangeAddress(name, ip, true);
}

absl::Status NetlinkLinkManager::DeleteAddress(absl::string_view name, const IpAddress& ip) {
  return ChangeAddress(name, ip, false);
}

absl::Status NetlinkLinkManager::DeleteLink(absl::string_view name) {
  std::unique_ptr<rtnl_link, LinkDeleter> link(rtnl_link_alloc());
  std::string n(name);
  rtnl_link_set_name(link.get(), n.c_str());
  if (int rc = rtnl_link_delete(sock_.get(), link.get()); rc < 0) {
    return NlError(rc, absl::StrCat("delete link ", name));
  }
  return absl::OkStatus();
}

}  // namespace kproxy::backends::ipvs
