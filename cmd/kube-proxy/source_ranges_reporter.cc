#include "cmd/kube-proxy/source_ranges_reporter.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kproxy::daemon {

std::optional<std::string> SourceRangesReporter::Observe(const proxier::Service& service) {
  const proxier::ServiceName name{service.metadata.namespace_name, service.metadata.name};
  {
    absl::MutexLock lock(&mu_);
    if (service.invalid_source_ranges.empty()) {
      reported_.erase(name);
      return std::nullopt;
    }
    auto [it, inserted] = reported_.try_emplace(name, service.invalid_source_ranges);
    if (!inserted && it->second == service.invalid_source_ranges) return std::nullopt;
    it->second = service.invalid_source_ranges;
  }
  std::string message = absl::StrCat(
      "Service ", name.ToString(), ": loadBalancerSourceRanges entries that are not CIDRs are ignored: ",
      absl::StrJoin(service.invalid_source_ranges, ", ",
                    [](std::string* out, const std::string& s) { absl::StrAppend(out, "\"", s, "\""); }));
  std::set<proxier::IpFamily> valid;
  for (const proxier::Cidr& cidr : service.load_balancer_source_ranges) valid.insert(cidr.family());
  std::set<proxier::IpFamily> closed;
  for (const proxier::LoadBalancerIngress& ingress : service.load_balancer_ingress) {
    if (ingress.ip.has_value() && !valid.count(ingress.ip->family())) closed.insert(ingress.ip->family());
  }
  if (!service.load_balancer_source_ranges.empty()) {
    absl::StrAppend(&message, "; the valid ranges apply: ",
                    absl::StrJoin(service.load_balancer_source_ranges, ", ",
                                  [](std::string* out, const proxier::Cidr& c) { out->append(c.ToString()); }));
  }
  for (proxier::IpFamily family : closed) {
    absl::StrAppend(&message, "; no valid ", proxier::IpFamilyName(family),
                    " range is left, so its load-balancer IPs of that family admit no source (fail closed)");
  }
  return message;
}

void SourceRangesReporter::Forget(const proxier::Service& service) {
  absl::MutexLock lock(&mu_);
  reported_.erase({service.metadata.namespace_name, service.metadata.name});
}

}  // namespace kproxy::daemon
