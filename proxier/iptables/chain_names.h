// Upstream-compatible iptables chain names: KUBE-SVC-/KUBE-SVL-/KUBE-EXT-/KUBE-FW- from a hash of the
// ServicePortName and protocol, KUBE-SEP- from that plus the endpoint "ip:port".
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace kproxy::proxier::iptables {

inline constexpr char kServicesChain[] = "KUBE-SERVICES";
inline constexpr char kExternalServicesChain[] = "KUBE-EXTERNAL-SERVICES";
inline constexpr char kNodePortsChain[] = "KUBE-NODEPORTS";
inline constexpr char kPostroutingChain[] = "KUBE-POSTROUTING";
inline constexpr char kMarkMasqChain[] = "KUBE-MARK-MASQ";
inline constexpr char kForwardChain[] = "KUBE-FORWARD";
inline constexpr char kProxyFirewallChain[] = "KUBE-PROXY-FIREWALL";
inline constexpr char kProxyCanaryChain[] = "KUBE-PROXY-CANARY";
// A duplicate of kubelet's chain with the anti-martian rule for localhost NodePorts.
inline constexpr char kKubeletFirewallChain[] = "KUBE-FIREWALL";

// base32(sha256(service_port_name + protocol))[:16]; protocol lower-case ("tcp"). Upstream's
// portProtoHash: the SVC, SVL, EXT and FW chains of one ServicePort share it.
std::string PortProtoHash(absl::string_view service_port_name, absl::string_view protocol);

// "KUBE-SEP-" + base32(sha256(service_port_name + protocol + endpoint))[:16], endpoint "ip:port".
std::string EndpointChainName(absl::string_view service_port_name, absl::string_view protocol,
                              absl::string_view endpoint);

// KUBE-SVC-/KUBE-SVL-/KUBE-EXT-/KUBE-FW-/KUBE-SEP-: chains owned by one ServicePort, which a sync
// deletes when no longer wanted.
bool IsServiceChainName(absl::string_view chain);

}  // namespace kproxy::proxier::iptables
