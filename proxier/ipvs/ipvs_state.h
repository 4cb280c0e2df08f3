// The IPVS data model shared by the planner, the diff and the backends: virtual servers, real
// servers, ipsets, and the desired / observed states the diff compares.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "proxier/api_types.h"
#include "proxier/ip_address.h"
#include "proxier/pass_through_policy.h"
#include "proxier/proxy_snapshot.h"

namespace kproxy::proxier::ipvs {

// IP_VS_SVC_F_* values from linux/ip_vs.h that kproxy sets.
inline constexpr uint32_t kFlagPersistent = 0x1;
inline constexpr uint32_t kFlagHashed = 0x2;  // set by the kernel on every service; ignored in diffs
inline constexpr uint32_t kFlagSourceHash = 0x10;  // IP_VS_SVC_F_SCHED2: mh/sh hash the source port

// Identity of a virtual server (what ipvsadm -t/-u/--sctp-service names).
struct VirtualServerKey {
  IpAddress address;
  Protocol protocol = Protocol::kTCP;
  uint16_t port = 0;

  // "10.96.0.10:53/UDP", "[fd00::1]:80/TCP".
  std::string ToString() const;
  friend auto operator<=>(const VirtualServerKey&, const VirtualServerKey&) = default;
  friend bool operator==(const VirtualServerKey&, const VirtualServerKey&) = default;
};

struct VirtualServer {
  VirtualServerKey key;
  std::string scheduler = "rr";
  uint32_t flags = 0;
  uint32_t timeout_seconds = 0;  // persistence timeout; 0 unless kFlagPersistent
  friend bool operator==(const VirtualServer&, const VirtualServer&) = default;
};

struct RealServerKey {
  IpAddress address;
  uint16_t port = 0;
  std::string ToString() const { return address.JoinPort(port); }
  friend auto operator<=>(const RealServerKey&, const RealServerKey&) = default;
  friend bool operator==(const RealServerKey&, const RealServerKey&) = default;
};

struct RealServer {
  RealServerKey key;
  uint32_t weight = 1;
  // Observed only (IPVS_DEST_ATTR_ACTIVE_CONNS / INACT_CONNS); the planner leaves them 0.
  uint32_t active_connections = 0;
  uint32_t inactive_connections = 0;
  friend bool operator==(const RealServer&, const RealServer&) = default;
};

namespace internal {
// IpAddress's ordering (family, then the 16 bytes in order) without the out-of-line memcmp its
// defaulted <=> compiles to: the key comparisons of the maps below dominate planning and diffing.
inline int CompareAddresses(const IpAddress& a, const IpAddress& b) {
  if (a.family() != b.family()) return a.family() < b.family() ? -1 : 1;
  uint64_t x[2];
  uint64_t y[2];
  std::memcpy(x, a.bytes().data(), sizeof(x));
  std::memcpy(y, b.bytes().data(), sizeof(y));
  for (int i = 0; i < 2; ++i) {
    const uint64_t p = __builtin_bswap64(x[i]);
    const uint64_t q = __builtin_bswap64(y[i]);
    if (p != q) return p < q ? -1 : 1;
  }
  return 0;
}
}  // namespace internal

}  // namespace kproxy::proxier::ipvs

// The same order as the keys' operator<, only faster (see CompareAddresses).
template <>
struct std::less<kproxy::proxier::ipvs::VirtualServerKey> {
  bool operator()(const kproxy::proxier::ipvs::VirtualServerKey& a,
                  const kproxy::proxier::ipvs::VirtualServerKey& b) const {
    if (const int c = kproxy::proxier::ipvs::internal::CompareAddresses(a.address, b.address); c != 0) return c < 0;
    if (a.protocol != b.protocol) return a.protocol < b.protocol;
    return a.port < b.port;
  }
};
template <>
struct std::less<kproxy::proxier::ipvs::RealServerKey> {
  bool operator()(const kproxy::proxier::ipvs::RealServerKey& a,
                  const kproxy::proxier::ipvs::RealServerKey& b) const {
    if (const int c = kproxy::proxier::ipvs::internal::CompareAddresses(a.address, b.address); c != 0) return c < 0;
    return a.port < b.port;
  }
};

namespace kproxy::proxier::ipvs {

// The real servers of one virtual server, sorted by key: a flat vector (one allocation to build
// and to free for the handful of destinations a Service has; 200k of them at 10k Services made
// btree nodes a third of a plan + diff) with the map operations this code uses.
class RealServerMap {
 public:
  using value_type = std::pair<RealServerKey, RealServer>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(size_t n) { entries_.reserve(n); }

  iterator find(const RealServerKey& key) {
    auto it = LowerBound(key);
    return it != entries_.end() && it->first == key ? it : entries_.end();
  }
  const_iterator find(const RealServerKey& key) const {
    return const_cast<RealServerMap*>(this)->find(key);
  }
  bool contains(const RealServerKey& key) const { return find(key) != end(); }
  // As std::map::at: throws std::out_of_range when missing (tests only look up what must be there).
  const RealServer& at(const RealServerKey& key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("RealServerMap::at: " + key.ToString());
    return it->second;
  }
  RealServer& at(const RealServerKey& key) {
    return const_cast<RealServer&>(static_cast<const RealServerMap&>(*this).at(key));
  }
  RealServer& operator[](const RealServerKey& key) {
    auto it = LowerBound(key);
    if (it == entries_.end() || it->first != key) it = entries_.insert(it, value_type(key, RealServer{}));
    return it->second;
  }
  // Appending in key order (the planner's case) is O(1).
  void insert_or_assign(const RealServerKey& key, const RealServer& value) {
    if (entries_.empty() || entries_.back().first < key) {
      entries_.emplace_back(key, value);
      return;
    }
    (*this)[key] = value;
  }
  size_t erase(const RealServerKey& key) {
    auto it = find(key);
    if (it == entries_.end()) return 0;
    entries_.erase(it);
    return 1;
  }
  friend bool operator==(const RealServerMap&, const RealServerMap&) = default;

 private:
  iterator LowerBound(const RealServerKey& key) {
    return std::lower_bound(entries_.begin(), entries_.end(), key,
                            [](const value_type& entry, const RealServerKey& k) { return entry.first < k; });
  }
  std::vector<value_type> entries_;
};

// The kernel's IPVS connection timeouts (ipvsadm --set tcp tcpfin udp), in seconds; 0 leaves
// that one as it is.
struct IpvsTimeouts {
  uint32_t tcp_seconds = 0;
  uint32_t tcp_fin_seconds = 0;
  uint32_t udp_seconds = 0;
  bool any() const { return tcp_seconds != 0 || tcp_fin_seconds != 0 || udp_seconds != 0; }
  friend bool operator==(const IpvsTimeouts&, const IpvsTimeouts&) = default;
};

// A virtual server with its real servers.
struct IpvsService {
  VirtualServer server;
  RealServerMap destinations;
  friend bool operator==(const IpvsService&, const IpvsService&) = default;
};

enum class IpsetType : uint8_t { kHashIp, kHashIpPort, kHashIpPortIp, kHashIpPortNet, kBitmapPort };
// "hash:ip,port", "bitmap:port", ...
const char* IpsetTypeName(IpsetType type);

// One ipset with the entries kproxy wants in it, in `ipset` text form ("10.96.0.10,tcp:80").
struct IpsetSpec {
  std::string name;
  IpsetType type = IpsetType::kHashIpPort;
  IpFamily family = IpFamily::kIPv4;
  std::string comment;
  absl::btree_set<std::string> entries;
  friend bool operator==(const IpsetSpec&, const IpsetSpec&) = default;
};

// What one sync wants the kernel to look like (one IP family). Pure output of PlanIpvs().
struct DesiredIpvsState {
  IpFamily family = IpFamily::kIPv4;
  absl::btree_map<VirtualServerKey, IpvsService> services;
  // Addresses to bind on kube-ipvs0 (ClusterIPs, externalIPs, LB VIPs that are not pass-through,
  // minus the node's own addresses).
  absl::btree_set<IpAddress> bound_addresses;
  // Every ipset kproxy manages, empty ones included (they must exist for the iptables rules).
  std::vector<IpsetSpec> ipsets;
  // The companion iptables rules (filter and nat tables), iptables-restore --noflush input.
  std::string iptables_restore;
  // Services whose own pass-through setting was overridden by their ELB's enforced setting.
  std::vector<PassThroughConflict> conflicts;
  // Services with a Local internal / external traffic policy whose endpoints are all on other
  // nodes (upstream counts Services here, not ServicePorts).
  size_t no_local_internal_endpoints = 0;
  size_t no_local_external_endpoints = 0;
  // The UDP ServicePorts as planned (each ELB's pass-through setting enforced), for the stale UDP
  // conntrack cleanup: it must see the VIPs that are really bound, not each Service's own wish.
  ServicePortMap udp_service_ports;
  // Services with a load-balancer IP left to the load balancer, as planned (setting enforced).
  absl::btree_set<ServiceName> pass_through_services;
};

// What the kernel holds now, read back before each diff.
struct ObservedIpvsState {
  absl::btree_map<VirtualServerKey, IpvsService> services;
  absl::btree_set<IpAddress> bound_addresses;  // addresses on kube-ipvs0
};

// One step of bringing the kernel to the desired state.
struct IpvsOperation {
  enum class Kind : uint8_t {
    kAddService,
    kEditService,
    kDeleteService,
    kAddDestination,
    kEditDestination,
    kDeleteDestination,
    kBindAddress,
    kUnbindAddress,
  };
  Kind kind = Kind::kAddService;
  VirtualServer server;     // all service and destination kinds
  RealServer destination;   // destination kinds
  IpAddress address;        // bind / unbind

  // "add-service 10.96.0.10:53/UDP rr", "edit-destination 10.96.0.10:80/TCP -> 10.0.0.5:8080 weight 0".
  std::string ToString() const;
  friend bool operator==(const IpvsOperation&, const IpvsOperation&) = default;
};

const char* IpvsOperationKindName(IpvsOperation::Kind kind);

}  // namespace kproxy::proxier::ipvs
