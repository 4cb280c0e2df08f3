// The kernel settings IPVS mode needs (upstream's NewProxier for IPVS), as data plus one writer.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kproxy::backends::ipvs {

struct Sysctl {
  std::string path;   // relative to /proc/sys, e.g. "net/ipv4/vs/conntrack"
  std::string value;
  friend bool operator==(const Sysctl&, const Sysctl&) = default;
};

// `kernel_release` is uname -r ("6.1.0-56-cloud-amd64"): conn_reuse_mode is set to 0 only on
// kernels from 4.1 to before 5.9, where mode 1 delays new connections (upstream issue 93297).
std::vector<Sysctl> IpvsSysctls(absl::string_view kernel_release, bool strict_arp);

// Writes each value under `root` (normally /proc/sys) that does not already hold it; the error
// names the first path that failed.
absl::Status ApplySysctls(const std::vector<Sysctl>& sysctls, absl::string_view root = "/proc/sys");

}  // namespace kproxy::backends::ipvs
