#include "proxier/node_port_addresses.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kproxy::proxier {
namespace {

bool IsPrimary(const std::vector<std::string>& values) {
  return values.size() == 1 && values[0] == kNodePortAddressesPrimary;
}

}  // namespace

absl::Status NodePortAddresses::Validate(const std::vector<std::string>& values) {
  if (IsPrimary(values)) return absl::OkStatus();
  for (const std::string& value : values) {
    if (!Cidr::Parse(value).ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("nodePortAddresses: \"", value, "\" is neither a CIDR nor the single word \"primary\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<NodePortAddresses> NodePortAddresses::Create(IpFamily family, const std::vector<std::string>& values,
                                                            absl::Span<const IpAddress> node_ips) {
  if (absl::Status s = Validate(values); !s.ok()) return s;
  NodePortAddresses out(family);
  if (IsPrimary(values)) {
    // Upstream turns "primary" into the node IP's /32 or /128 when that IP is known and not
    // loopback; otherwise the family has no CIDR, which selects everything.
    if (!node_ips.empty() && node_ips[0].family() == family && !node_ips[0].IsLoopback()) {
      out.cidrs_.push_back(Cidr::Host(node_ips[0]));
    }
    return out;
  }
  for (const std::string& value : values) {
    Cidr cidr = *Cidr::Parse(value);
    if (cidr.family() != family) continue;
    if (cidr.IsAllAddresses()) {
      out.cidrs_.clear();
      return out;
    }
    if (std::find(out.cidrs_.begin(), out.cidrs_.end(), cidr) == out.cidrs_.end()) out.cidrs_.push_back(cidr);
  }
  return out;
}

bool NodePortAddresses::ContainsIPv4Loopback() const {
  if (family_ != IpFamily::kIPv4) return false;
  if (MatchAll()) return true;
  const IpAddress loopback = *IpAddress::Parse("127.0.0.0");
  return std::any_of(cidrs_.begin(), cidrs_.end(), [&](const Cidr& cidr) {
    return cidr.Contains(loopback) || cidr.address().IsLoopback();
  });
}

std::vector<IpAddress> NodePortAddresses::Select(absl::Span<const IpAddress> local_addresses) const {
  std::vector<IpAddress> out;
  for (const IpAddress& ip : local_addresses) {
    if (ip.family() != family_) continue;
    if (MatchAll() || std::any_of(cidrs_.begin(), cidrs_.end(), [&](const Cidr& c) { return c.Contains(ip); })) {
      out.push_back(ip);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string NodePortAddresses::ToString() const {
  if (MatchAll()) return family_ == IpFamily::kIPv4 ? "[0.0.0.0/0]" : "[::/0]";
  return absl::StrCat("[", absl::StrJoin(cidrs_, ", ", [](std::string* out, const Cidr& c) {
                        out->append(c.ToString());
                      }), "]");
}

std::string NodePortAddresses::DescribeSelection(absl::Span<const IpAddress> selected) const {
  const absl::string_view name = IpFamilyName(family_);
  if (selected.empty()) {
    return absl::StrCat("nodePortAddresses ", ToString(), " match no ", name,
                        " address of this node; NodePorts of that family are not reachable until one "
                        "appears");
  }
  return absl::StrCat("NodePorts of ", name, " are accepted on ",
                      absl::StrJoin(selected, ", ",
                                    [](std::string* out, const IpAddress& ip) {
                                      out->append(ip.ToString());
                                    }),
                      " (nodePortAddresses ", ToString(), ")");
}

}  // namespace kproxy::proxier
