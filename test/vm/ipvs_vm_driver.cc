// ipvs_vm_driver: runs one IpvsProxier sync over an --objects directory, the way
// `kube-proxy --proxy-mode=ipvs --objects=DIR --once` does, for the VM test (which then inspects
// the kernel). Also `--cleanup`. Prints "SYNC ok <detail>", one "CONFLICT ..." line per conflict.
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "apiclient/object_file_source.h"
#include "backends/iptables/iptables_restore_runner.h"
#include "backends/ipvs/ipvs_cleanup.h"
#include "backends/ipvs/ipvs_proxier.h"
#include "proxier/proxy_state.h"

namespace {

using namespace kproxy;  // NOLINT

int Fail(const absl::Status& s) {
  std::printf("SYNC error %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string objects;
  std::string node_ip = "192.0.2.129";
  std::string hostname = "node-a";
  bool cleanup = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--objects=")) objects = std::string(a);
    else if (absl::ConsumePrefix(&a, "--node-ip=")) node_ip = std::string(a);
    else if (absl::ConsumePrefix(&a, "--hostname-override=")) hostname = std::string(a);
    else if (a == "--cleanup") cleanup = true;
    else {
      std::fprintf(stderr, "usage: %s --objects=DIR [--node-ip=IP] [--hostname-override=NAME] | --cleanup\n", argv[0]);
      return 2;
    }
  }
  auto runner = backends::iptables::IptablesRestoreRunner::Create(proxier::IpFamily::kIPv4,
                                                                  backends::iptables::IptablesVariant::kLegacy);
  if (!runner.ok()) return Fail(runner.status());
  if (cleanup) {
    absl::Status s = backends::ipvs::CleanupIpvs(runner->get());
    if (!s.ok()) return Fail(s);
    std::printf("CLEANUP ok\n");
    return 0;
  }

  proxier::ProxyState state(proxier::IpFamily::kIPv4, hostname, [] { return absl::Now(); }, [] {});
  apiclient::ObjectFileSourceOptions source_options;
  source_options.path = objects;
  source_options.node_name = hostname;
  source_options.on_rejected = [](absl::string_view file, absl::string_view message) {
    std::printf("REJECTED %s: %s\n", std::string(file).c_str(), std::string(message).c_str());
  };
  auto source = apiclient::ObjectFileSource::Create(source_options, &state, &state, nullptr);
  if (!source.ok()) return Fail(source.status());
  if (absl::Status s = (*source)->LoadOnce(); !s.ok()) return Fail(s);

  auto kernel = backends::ipvs::CreateNetlinkIpvsKernel();
  if (!kernel.ok()) return Fail(kernel.status());
  backends::ipvs::IpvsFamily family;
  family.state = &state;
  family.node.node_name = hostname;
  family.node.family = proxier::IpFamily::kIPv4;
  auto ip = proxier::IpAddress::Parse(node_ip);
  if (!ip.ok()) return Fail(ip.status());
  family.node.node_ips = {*ip};
  family.iptables = runner->get();
  backends::ipvs::IpvsProxierOptions options;
  options.on_conflicts = [](proxier::IpFamily, const std::vector<proxier::PassThroughConflict>& conflicts) {
    for (const auto& c : conflicts) {
      std::printf("CONFLICT %s enforced_pass_through=%d decided_by=%s: %s\n", c.service.ToString().c_str(),
                  c.enforced_pass_through ? 1 : 0, c.decided_by.ToString().c_str(), c.message.c_str());
    }
  };
  auto proxier = backends::ipvs::IpvsProxier::Create({family}, std::move(*kernel), options);
  if (!proxier.ok()) return Fail(proxier.status());
  auto report = (*proxier)->Sync();
  if (!report.ok()) return Fail(report.status());
  std::printf("SYNC ok %s\n", report->detail.c_str());
  return 0;
}
