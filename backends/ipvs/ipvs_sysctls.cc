#include "backends/ipvs/ipvs_sysctls.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kproxy::backends::ipvs {

std::vector<Sysctl> IpvsSysctls(absl::string_view kernel_release, bool strict_arp) {
  std::vector<Sysctl> out = {{"net/ipv4/vs/conntrack", "1"}};
  std::vector<absl::string_view> parts = absl::StrSplit(kernel_release, absl::ByAnyChar(".-"));
  int major = 0;
  int minor = 0;
  if (parts.size() >= 2 && absl::SimpleAtoi(parts[0], &major) && absl::SimpleAtoi(parts[1], &minor)) {
    const int v = major * 1000 + minor;
    if (v >= 4001 && v < 5009) out.push_back({"net/ipv4/vs/conn_reuse_mode", "0"});
  }
  out.push_back({"net/ipv4/vs/expire_nodest_conn", "1"});
  out.push_back({"net/ipv4/vs/expire_quiescent_template", "1"});
  out.push_back({"net/ipv4/ip_forward", "1"});
  if (strict_arp) {
    out.push_back({"net/ipv4/conf/all/arp_ignore", "1"});
    out.push_back({"net/ipv4/conf/all/arp_announce", "2"});
  }
  return out;
}

absl::Status ApplySysctls(const std::vector<Sysctl>& sysctls, absl::string_view root) {
  for (const Sysctl& s : sysctls) {
    const std::string path = absl::StrCat(root, "/", s.path);
    // Written only when it differs (upstream's EnsureSysctl): a read-only /proc/sys that already
    // holds the right values (an init container set them) is not an error.
    std::string current;
    if (std::ifstream in(path); in >> current && current == s.value) continue;
    std::ofstream f(path);
    if (f) f << s.value << "\n";
    f.close();
    if (!f) {
      return absl::FailedPreconditionError(
          absl::StrCat("sysctl ", s.path, "=", s.value, ": cannot write ", path, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace kproxy::backends::ipvs
