// Upstream-compatible iptables chain names: KUBE-SVC-/KUBE-SVL-/KUBE-EXT-/KUBE-FW- from a hash of the
// ServicePortName and protocol, KUBE-SEP- from that plus the endpoint "ip:port". The fixed names
// (KUBE-SERVICES, ...) live in proxier/kube_chains.h.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "proxier/kube_chains.h"  // the fixed chain names, shared with IPVS mode

namespace kproxy::proxier::iptables {

// base32(sha256(service_port_name + protocol))[:16]; protocol lower-case ("tcp"). Upstream's
// portProtoHash: the SVC, SVL, EXT and FW chains of one ServicePort share it.
std::string PortProtoHash(absl::string_view service_port_name, absl::string_view protocol);

// "KUBE-SEP-" + base32(sha256(service_port_name + protocol + endpoint))[:16], endpoint "ip:port".
std::string EndpointChainName(absl::string_view service_port_name, absl::string_view protocol,
                              absl::string_view endpoint);

}  // namespace kproxy::proxier::iptables
