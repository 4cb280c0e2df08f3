#include "cmd/kube-proxy/dry_run_summary.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxier/endpoint_selector.h"
#include "proxier/pass_through_policy.h"

namespace kproxy::daemon {
namespace {

using proxier::IpAddress;

std::string Ips(const std::vector<IpAddress>& ips) {
  if (ips.empty()) return "-";
  return absl::StrJoin(ips, ", ", [](std::string* out, const IpAddress& ip) { out->append(ip.ToString()); });
}

std::string Endpoints(const proxier::EndpointList& list) {
  if (list.empty()) return "none";
  return absl::StrJoin(list, ", ", [](std::string* out, const std::shared_ptr<const proxier::Endpoint>& e) {
    absl::StrAppend(out, e->IpPort());
    std::vector<std::string> notes;
    if (e->is_local) notes.push_back("local");
    if (!e->ready) notes.push_back(e->serving ? "serving-terminating" : "not ready");
    if (!notes.empty()) absl::StrAppend(out, " (", absl::StrJoin(notes, ", "), ")");
  });
}

absl::string_view TypeName(proxier::ServiceType t) {
  switch (t) {
    case proxier::ServiceType::kClusterIP: return "ClusterIP";
    case proxier::ServiceType::kNodePort: return "NodePort";
    case proxier::ServiceType::kLoadBalancer: return "LoadBalancer";
    case proxier::ServiceType::kExternalName: return "ExternalName";
  }
  return "?";
}

// One line saying whether the LB IPs get local rules, and why.
std::string PassThroughLine(const proxier::ServicePort& sp) {
  const proxier::PassThroughDecision& d = sp.pass_through;
  if (d.enabled) {
    return absl::StrCat("YES (", d.reason, "): ",
                        sp.pass_through_vips.empty() ? "no ingress IP yet"
                                                     : absl::StrCat(Ips(sp.pass_through_vips), " get no local rule; in-cluster traffic to them goes through the load balancer"));
  }
  if (!sp.pass_through_vips.empty()) {
    return absl::StrCat("YES for ", Ips(sp.pass_through_vips),
                        " (status.loadBalancer.ingress ipMode: Proxy): no local rule; traffic goes through the load balancer");
  }
  std::string why = d.reason.empty() ? (sp.type == proxier::ServiceType::kLoadBalancer
                                            ? std::string("no kubernetes.io/elb.pass-through annotation")
                                            : absl::StrCat("type ", TypeName(sp.type), ", not LoadBalancer"))
                                     : d.reason;
  std::string line = absl::StrCat("no (", why, ")");
  if (!sp.load_balancer_vips.empty()) absl::StrAppend(&line, ": LB IPs are short-cut on the node");
  if (!d.warning.empty()) absl::StrAppend(&line, "\n      WARNING: ", d.warning);
  return line;
}

// IPVS mode: the port's setting was overridden by its ELB's (EnforceElbConsistency), so say what
// really happens and that it is not what the Service asked for.
std::string EnforcedPassThroughLine(const proxier::ServicePort& enforced,
                                    const std::vector<const proxier::PassThroughConflict*>& conflicts) {
  std::string line;
  if (!enforced.pass_through_vips.empty()) {
    line = absl::StrCat("YES for ", Ips(enforced.pass_through_vips),
                        " (enforced for the shared ELB in IPVS mode, overriding this Service's own setting): no local "
                        "rule; traffic goes through the load balancer");
  } else {
    line = absl::StrCat("no (enforced for the shared ELB in IPVS mode, overriding this Service's own setting): LB IPs ",
                        Ips(enforced.load_balancer_vips), " are bound on the node and short-cut");
  }
  for (const proxier::PassThroughConflict* c : conflicts) absl::StrAppend(&line, "\n      CONFLICT: ", c->message);
  return line;
}

}  // namespace

std::string RenderDryRunSummary(const DryRunInput& in) {
  std::string out;
  absl::StrAppend(&out, "=== kproxy dry run: what the proxy understood (", in.mode, " mode) ===\n");
  absl::StrAppend(&out, "Node ", in.node_name, in.node_found ? "" : " (no Node object found: node IPs, zone and pod CIDRs unknown)", "\n");
  for (const DryRunFamily& f : in.families) {
    absl::StrAppend(&out, "  ", proxier::IpFamilyName(f.node.family), ": node IPs ", Ips(f.node.node_ips));
    if (!f.node.zone.empty()) absl::StrAppend(&out, ", zone ", f.node.zone);
    if (!f.node.pod_cidrs.empty()) {
      absl::StrAppend(&out, ", pod CIDRs ",
                      absl::StrJoin(f.node.pod_cidrs, ", ", [](std::string* o, const proxier::Cidr& c) { o->append(c.ToString()); }));
    }
    absl::StrAppend(&out, "\n");
  }
  for (const std::string& p : in.problems) absl::StrAppend(&out, "  skipped: ", p, "\n");

  size_t ports = 0, pass_through = 0;
  std::set<std::string> services;
  for (const DryRunFamily& f : in.families) {
    if (f.snapshot == nullptr) continue;
    // IPVS binds an LB address for all its ports, so each ELB has one setting there: show that one.
    const bool ipvs = in.mode == "ipvs";
    proxier::ElbConsistencyResult enforced;
    if (ipvs) enforced = proxier::EnforceElbConsistency(f.snapshot->services);
    for (const auto& [name, own] : f.snapshot->services) {
      const std::shared_ptr<const proxier::ServicePort>& sp = ipvs ? enforced.services.at(name) : own;
      // EnforceElbConsistency copies exactly the ports it overrides.
      const bool overridden = sp != own;
      ++ports;
      services.insert(name.service.ToString());
      if (overridden ? !sp->pass_through_vips.empty() : (!sp->pass_through_vips.empty() || sp->pass_through.enabled)) {
        ++pass_through;
      }
      absl::StrAppend(&out, "\nService ", name.ToString(), " ", proxier::ProtocolName(sp->protocol), "/", sp->port, " [",
                      TypeName(sp->type), ", ", proxier::IpFamilyName(sp->family), "]\n");
      absl::StrAppend(&out, "  cluster IP:     ", sp->cluster_ip.JoinPort(sp->port), "\n");
      if (sp->node_port != 0) absl::StrAppend(&out, "  node port:      ", sp->node_port, "\n");
      if (!sp->external_ips.empty()) absl::StrAppend(&out, "  external IPs:   ", Ips(sp->external_ips), "\n");
      if (sp->type == proxier::ServiceType::kLoadBalancer || !sp->load_balancer_vips.empty() ||
          !sp->pass_through_vips.empty()) {
        absl::StrAppend(&out, "  LB IPs with local rules:        ", Ips(sp->load_balancer_vips), "\n");
        absl::StrAppend(&out, "  LB IPs left to the balancer:    ", Ips(sp->pass_through_vips), "\n");
      }
      if (overridden) {
        std::vector<const proxier::PassThroughConflict*> conflicts;
        for (const auto& c : enforced.conflicts) {
          if (c.service == name.service) conflicts.push_back(&c);
        }
        absl::StrAppend(&out, "  pass-through:   ", EnforcedPassThroughLine(*sp, conflicts), "\n");
      } else {
        absl::StrAppend(&out, "  pass-through:   ", PassThroughLine(*sp), "\n");
      }
      absl::StrAppend(&out, "  policies:       externalTrafficPolicy=", sp->external_policy_local ? "Local" : "Cluster",
                      ", internalTrafficPolicy=", sp->internal_policy_local ? "Local" : "Cluster");
      if (sp->session_affinity_client_ip) absl::StrAppend(&out, ", sessionAffinity=ClientIP(", sp->sticky_max_age_seconds, "s)");
      absl::StrAppend(&out, "\n");
      proxier::CategorizedEndpoints eps = proxier::CategorizeEndpoints(f.snapshot->EndpointsOf(name), *sp, f.node);
      absl::StrAppend(&out, "  endpoints (all):     ", Endpoints(f.snapshot->EndpointsOf(name)), "\n");
      if (sp->UsesClusterEndpoints()) absl::StrAppend(&out, "  cluster endpoints:   ", Endpoints(eps.cluster_endpoints), "\n");
      if (sp->UsesLocalEndpoints()) absl::StrAppend(&out, "  local endpoints:     ", Endpoints(eps.local_endpoints), "\n");
      if (eps.all_reachable_endpoints.empty()) {
        absl::StrAppend(&out, "  -> no usable endpoint: traffic is ", eps.has_any_endpoints ? "dropped" : "rejected", "\n");
      }
    }
  }
  absl::StrAppend(&out, "\nSummary: ", services.size(), " Service(s), ", ports, " Service port(s), ", pass_through,
                  " port(s) with pass-through (LB IPs left to the load balancer)\n");
  return out;
}

}  // namespace kproxy::daemon
