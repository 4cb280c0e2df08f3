#include "cmd/kube-proxy/pass_through_reporter.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxier/pass_through_policy.h"

namespace kproxy::daemon {

PassThroughReporter::Report PassThroughReporter::Observe(const proxier::Service& s) {
  proxier::PassThroughDecision d = proxier::DecidePassThrough(s);
  std::vector<std::string> proxy_mode_ips;
  for (const auto& ing : s.load_balancer_ingress) {
    if (proxier::IngressIpModeIsProxy(ing)) {
      proxy_mode_ips.push_back(ing.ip->ToString());
    }
  }
  std::string summary = d.enabled ? absl::StrCat("pass-through (", d.reason, ")")
                                  : absl::StrCat("no pass-through", d.reason.empty() ? "" : absl::StrCat(" (", d.reason, ")"));
  if (!proxy_mode_ips.empty()) absl::StrAppend(&summary, "; ipMode Proxy for ", absl::StrJoin(proxy_mode_ips, ", "));
  const proxier::ServiceName name{s.metadata.namespace_name, s.metadata.name};
  const bool noteworthy = d.enabled || !d.reason.empty() || !proxy_mode_ips.empty();
  Report report;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = last_.try_emplace(name);
  // A Service seen for the first time is only worth a line when it mentions pass-through at all;
  // a change (including back to "no pass-through") always is.
  if ((inserted && noteworthy) || (!inserted && it->second.first != summary)) {
    report.info = absl::StrCat("Service ", name.ToString(), ": ", summary);
  }
  if (!d.warning.empty() && it->second.second != d.warning) report.warning = d.warning;
  it->second = {summary, d.warning};
  return report;
}

void PassThroughReporter::Forget(const proxier::Service& s) {
  const proxier::ServiceName name{s.metadata.namespace_name, s.metadata.name};
  absl::MutexLock lock(&mu_);
  last_.erase(name);
}

}  // namespace kproxy::daemon
