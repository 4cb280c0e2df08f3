#include "backends/ipvs/ipvs_cleanup.h"

#include "backends/iptables/iptables_cleanup.h"
#include "backends/iptables/iptables_restore_runner.h"
#include "backends/ipvs/ipset_restore_writer.h"
#include "backends/ipvs/netlink_ipvs_client.h"
#include "backends/ipvs/netlink_link_manager.h"
#include "proxier/ipvs/ipvs_planner.h"

namespace kproxy::backends::ipvs {

absl::Status CleanupIpvs(IpvsClient& ipvs, LinkManager& links, IpsetWriter& ipsets, iptables::IptablesRunner* ipt) {
  absl::Status first;
  auto note = [&](absl::Status s) {
    if (!s.ok() && first.ok()) first = std::move(s);
  };
  if (ipt != nullptr) note(iptables::CleanupIptables(*ipt));
  auto services = ipvs.ListServices();
  if (services.ok()) {
    for (const auto& svc : *services) {
      absl::Status s = ipvs.DeleteService(svc.server.key);
      if (!absl::IsNotFound(s)) note(s);
    }
  } else {
    note(services.status());
  }
  absl::Status s = links.DeleteLink(proxier::ipvs::kDummyDevice);
  if (!absl::IsNotFound(s)) note(s);
  note(ipsets.DestroySets("KUBE-"));
  return first;
}

absl::Status CleanupIpvs(iptables::IptablesRunner* ipt) {
  absl::Status first;
  if (ipt != nullptr) {
    first = iptables::CleanupIptables(*ipt);
    // The other family's rules reference its KUBE-6-* / KUBE-* sets too; an ipset in use cannot be
    // destroyed, so clean that family's chains first (idempotent if the caller does it later).
    const proxier::IpFamily other =
        ipt->family() == proxier::IpFamily::kIPv4 ? proxier::IpFamily::kIPv6 : proxier::IpFamily::kIPv4;
    auto* restore = dynamic_cast<iptables::IptablesRestoreRunner*>(ipt);
    auto other_runner = iptables::IptablesRestoreRunner::Create(
        other, restore != nullptr ? restore->variant() : iptables::IptablesVariant::kAuto);
    if (other_runner.ok()) {
      // A family without kernel tables (no ip6tables modules) has nothing to remove.
      (void)iptables::CleanupIptables(**other_runner);
    }
  }
  IpsetRestoreWriter ipsets;
  auto links = NetlinkLinkManager::Create();
  auto ipvs = NetlinkIpvsClient::Create();
  if (ipvs.ok() && links.ok()) {
    absl::Status s = CleanupIpvs(**ipvs, **links, ipsets, nullptr);
    return first.ok() ? s : first;
  }
  // No IPVS in this kernel: there are no virtual servers, but the link and ipsets may still exist.
  if (links.ok()) {
    absl::Status s = (*links)->DeleteLink(proxier::ipvs::kDummyDevice);
    if (!s.ok() && !absl::IsNotFound(s) && first.ok()) first = s;
  }
  absl::Status s = ipsets.DestroySets("KUBE-");
  return first.ok() ? s : first;
}

}  // namespace kproxy::backends::ipvs
