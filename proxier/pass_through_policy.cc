#include "proxier/pass_through_policy.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kproxy::proxier {
namespace {

absl::string_view ServiceTypeName(ServiceType type) {
  switch (type) {
    case ServiceType::kClusterIP: return "ClusterIP";
    case ServiceType::kNodePort: return "NodePort";
    case ServiceType::kLoadBalancer: return "LoadBalancer";
    case ServiceType::kExternalName: return "ExternalName";
  }
  return "ClusterIP";
}

bool Contains(const std::vector<IpAddress>& ips, const IpAddress& ip) {
  return std::find(ips.begin(), ips.end(), ip) != ips.end();
}

// One ELB: the ServicePorts on it and which of their LB IPs belong to it.
struct ElbGroup {
  // Empty for an elb.id group: all LB IPs of its members belong to it.
  std::optional<IpAddress> ip;
  std::vector<ServicePortName> members;
};

// The IPs of `port` that belong to `group`.
std::vector<IpAddress> GroupIps(const ServicePort& port, const ElbGroup& group) {
  if (group.ip.has_value()) return {*group.ip};
  std::vector<IpAddress> ips = port.load_balancer_vips;
  ips.insert(ips.end(), port.pass_through_vips.begin(), port.pass_through_vips.end());
  return ips;
}

// A Service's own setting for a group: pass-through unless one of its group IPs is bound
// locally. nullopt when the Service has no IP in the group (it has no say).
std::optional<bool> SettingOf(const ServicePort& port, const ElbGroup& group) {
  bool any = false;
  for (const IpAddress& ip : GroupIps(port, group)) {
    if (Contains(port.load_balancer_vips, ip)) return false;
    if (Contains(port.pass_through_vips, ip)) any = true;
  }
  if (!any) return std::nullopt;
  return true;
}

struct Voter {
  ServiceName service;
  absl::Time created;
  bool setting;
};

}  // namespace

PassThroughDecision DecidePassThrough(const Service& service) {
  PassThroughDecision decision;
  auto it = service.metadata.annotations.find(kPassThroughAnnotation);
  if (it == service.metadata.annotations.end()) return decision;
  const std::string& value = it->second;
  const std::string annotation = absl::StrCat("annotation ", kPassThroughAnnotation, "=\"", value, "\"");
  if (service.type != ServiceType::kLoadBalancer) {
    decision.reason = absl::StrCat(annotation, " ignored: Service type is ",
                                   ServiceTypeName(service.type), ", not LoadBalancer");
    return decision;
  }
  const std::string lower = absl::AsciiStrToLower(value);
  decision.reason = annotation;
  if (lower == "true" || lower == "onlylocal") {
    decision.enabled = true;
  } else if (lower != "false") {
    decision.warning = absl::StrCat("Service ", service.metadata.namespace_name, "/",
                                    service.metadata.name, ": annotation ", kPassThroughAnnotation,
                                    " has unsupported value \"", value, "\"; pass-through disabled");
  }
  return decision;
}

bool IngressIpModeIsProxy(const LoadBalancerIngress& ingress) {
  return ingress.ip.has_value() && ingress.ip_mode.has_value() && *ingress.ip_mode != "VIP";
}

bool IngressGetsLocalRules(const LoadBalancerIngress& ingress, const PassThroughDecision& decision) {
  if (!ingress.ip.has_value()) return false;
  if (IngressIpModeIsProxy(ingress)) return false;
  return !decision.enabled;
}

ElbConsistencyResult EnforceElbConsistency(const ServicePortMap& services) {
  ElbConsistencyResult result;
  result.services = services;

  // Ordered by key so that output and conflict order never depend on hashing.
  std::map<std::string, ElbGroup> groups;
  for (const auto& [name, port] : services) {
    if (port == nullptr || port->type != ServiceType::kLoadBalancer) continue;
    if (!port->elb_id.empty()) {
      groups[absl::StrCat("elb.id=", port->elb_id)].members.push_back(name);
      continue;
    }
    std::vector<IpAddress> ips = port->load_balancer_vips;
    ips.insert(ips.end(), port->pass_through_vips.begin(), port->pass_through_vips.end());
    for (const IpAddress& ip : ips) {
      ElbGroup& group = groups[absl::StrCat("ingress IP ", ip.ToString())];
      group.ip = ip;
      if (group.members.empty() || group.members.back() != name) group.members.push_back(name);
    }
  }

  for (const auto& [elb, group] : groups) {
    // Every port of a Service carries the same LB IPs, so the first port speaks for the Service.
    std::vector<Voter> voters;
    for (const ServicePortName& member : group.members) {
      if (!voters.empty() && voters.back().service == member.service) continue;
      const ServicePort& port = *services.at(member);
      std::optional<bool> setting = SettingOf(port, group);
      if (!setting.has_value()) continue;
      voters.push_back({member.service, port.creation_timestamp, *setting});
    }
    if (voters.empty()) continue;
    const bool agree = std::all_of(voters.begin(), voters.end(),
                                   [&](const Voter& v) { return v.setting == voters[0].setting; });
    if (agree) continue;
    const Voter& decider = *std::min_element(voters.begin(), voters.end(), [](const Voter& a, const Voter& b) {
      return std::tie(a.created, a.service) < std::tie(b.created, b.service);
    });
    const bool enforced = decider.setting;

    for (const ServicePortName& member : group.members) {
      const std::shared_ptr<const ServicePort>& current = result.services.at(member);
      auto updated = std::make_shared<ServicePort>(*current);
      std::vector<IpAddress>& from = enforced ? updated->load_balancer_vips : updated->pass_through_vips;
      std::vector<IpAddress>& to = enforced ? updated->pass_through_vips : updated->load_balancer_vips;
      bool moved = false;
      for (const IpAddress& ip : GroupIps(*current, group)) {
        auto it = std::find(from.begin(), from.end(), ip);
        if (it == from.end()) continue;
        from.erase(it);
        to.push_back(ip);
        moved = true;
      }
      if (moved) result.services[member] = std::move(updated);
    }

    for (const Voter& voter : voters) {
      if (voter.setting == enforced) continue;
      PassThroughConflict conflict;
      conflict.service = voter.service;
      conflict.elb = elb;
      conflict.decided_by = decider.service;
      conflict.enforced_pass_through = enforced;
      const std::string name = voter.service.ToString();
      conflict.message = absl::StrCat(
          "Service ", name, ": ELB ", elb, " is shared with ", decider.service.ToString(),
          ", which decides pass-through=", enforced ? "true" : "false", "; ", name, "'s setting (",
          voter.setting ? "true" : "false",
          ") is overridden because IPVS binds the address for all ports");
      result.conflicts.push_back(std::move(conflict));
    }
  }

  std::sort(result.conflicts.begin(), result.conflicts.end(),
            [](const PassThroughConflict& a, const PassThroughConflict& b) {
              return std::tie(a.service, a.elb) < std::tie(b.service, b.elb);
            });
  return result;
}

}  // namespace kproxy::proxier
