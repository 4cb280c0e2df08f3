// kproxy_backends_probe: a command-line handle on the real iptables runner, cleanup and conntrack
// client, so the Python kernel tests can drive them inside a network namespace (ip netns exec).
//
//   probe [--family 4|6] [--variant auto|legacy|nft] COMMAND ARGS...
//     restore                    (input on stdin)
//     list-chains TABLE
//     chain-exists TABLE CHAIN   (prints true/false)
//     ensure-chain TABLE CHAIN
//     ensure-rule TABLE CHAIN ARG...
//     cleanup
//     detect-variant
//     conntrack-list tcp|udp     (one entry per line: proto osrc:osport odst:odport rsrc:rsport rdst:rdport)
//     conntrack-delete tcp|udp OSRC OSPORT ODST ODPORT
//     conntrack-clean-stale udp CLUSTER_IP PORT [SERVING_ENDPOINT_IP...]
//                                (CleanStaleUdpFlows for one UDP Service; prints how many were deleted)
// Exit status 0 on success; errors on stderr.
#include <algorithm>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "backends/conntrack/netlink_conntrack_client.h"
#include "backends/conntrack/stale_flow_cleaner.h"
#include "backends/iptables/iptables_cleanup.h"
#include "backends/iptables/iptables_restore_runner.h"
#include "backends/iptables/iptables_variant.h"

namespace {

using kproxy::backends::iptables::Table;

bool ParseTable(const std::string& s, Table& t) {
  if (s == "nat") t = Table::kNat;
  else if (s == "filter") t = Table::kFilter;
  else if (s == "mangle") t = Table::kMangle;
  else return false;
  return true;
}

int Fail(const absl::Status& s) {
  std::cerr << s << "\n";
  return 1;
}

int Usage() {
  std::cerr << "usage: kproxy_backends_probe [--family 4|6] [--variant auto|legacy|nft] COMMAND ...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ipt = kproxy::backends::iptables;
  namespace ct = kproxy::backends::conntrack;
  using kproxy::proxier::IpAddress;
  using kproxy::proxier::IpFamily;
  using kproxy::proxier::Protocol;

  std::vector<std::string> args(argv + 1, argv + argc);
  IpFamily family = IpFamily::kIPv4;
  ipt::IptablesVariant variant = ipt::IptablesVariant::kAuto;
  size_t i = 0;
  while (i + 1 < args.size() && args[i].rfind("--", 0) == 0) {
    if (args[i] == "--family") {
      family = args[i + 1] == "6" ? IpFamily::kIPv6 : IpFamily::kIPv4;
    } else if (args[i] == "--variant") {
      auto v = ipt::ParseIptablesVariant(args[i + 1]);
      if (!v.ok()) return Fail(v.status());
      variant = *v;
    } else {
      return Usage();
    }
    i += 2;
  }
  if (i >= args.size()) return Usage();
  const std::string cmd = args[i++];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());

  if (cmd == "detect-variant") {
    std::cout << ipt::IptablesVariantName(ipt::DetectVariant()) << "\n";
    return 0;
  }
  if (cmd.rfind("conntrack-", 0) == 0) {
    auto client = ct::NetlinkConntrackClient::Create(family);
    if (!client.ok()) return Fail(client.status());
    if (rest.empty()) return Usage();
    Protocol proto = rest[0] == "tcp" ? Protocol::kTCP : Protocol::kUDP;
    if (cmd == "conntrack-list") {
      auto entries = (*client)->List(proto);
      if (!entries.ok()) return Fail(entries.status());
      for (const ct::ConntrackEntry& e : *entries) {
        std::cout << kproxy::proxier::ProtocolLowerName(e.protocol) << " "
                  << e.orig_source.JoinPort(e.orig_source_port) << " "
                  << e.orig_destination.JoinPort(e.orig_destination_port) << " "
                  << e.reply_source.JoinPort(e.reply_source_port) << " "
                  << e.reply_destination.JoinPort(e.reply_destination_port) << "\n";
      }
      return 0;
    }
    if (cmd == "conntrack-delete" && rest.size() == 5) {
      ct::ConntrackEntry e;
      e.protocol = proto;
      auto src = IpAddress::Parse(rest[1]);
      auto dst = IpAddress::Parse(rest[3]);
      int sport = 0, dport = 0;
      if (!src.ok() || !dst.ok() || !absl::SimpleAtoi(rest[2], &sport) || !absl::SimpleAtoi(rest[4], &dport)) {
        return Usage();
      }
      e.orig_source = *src;
      e.orig_destination = *dst;
      e.orig_source_port = static_cast<uint16_t>(sport);
      e.orig_destination_port = static_cast<uint16_t>(dport);
      auto n = (*client)->Delete({e});
      if (!n.ok()) return Fail(n.status());
      std::cout << *n << "\n";
      return 0;
    }
    if (cmd == "conntrack-clean-stale" && rest.size() >= 3) {
      kproxy::proxier::ProxySnapshot snap;
      snap.family = family;
      auto sp = std::make_shared<kproxy::proxier::ServicePort>();
      sp->name.service = {"probe", "svc"};
      sp->name.protocol = Protocol::kUDP;
      sp->protocol = Protocol::kUDP;
      sp->family = family;
      auto vip = IpAddress::Parse(rest[1]);
      int port = 0;
      if (!vip.ok() || !absl::SimpleAtoi(rest[2], &port)) return Usage();
      sp->cluster_ip = *vip;
      sp->port = port;
      snap.services[sp->name] = sp;
      for (size_t k = 3; k < rest.size(); ++k) {
        auto ip = IpAddress::Parse(rest[k]);
        if (!ip.ok()) return Usage();
        auto ep = std::make_shared<kproxy::proxier::Endpoint>();
        ep->ip = *ip;
        ep->ready = ep->serving = true;
        snap.endpoints[sp->name].push_back(ep);
      }
      kproxy::proxier::NodeContext node;
      node.family = family;
      auto n = ct::CleanStaleUdpFlows(**client, snap, node);
      if (!n.ok()) return Fail(n.status());
      std::cout << *n << "\n";
      return 0;
    }
    return Usage();
  }

  auto runner = ipt::IptablesRestoreRunner::Create(family, variant);
  if (!runner.ok()) return Fail(runner.status());
  ipt::IptablesRestoreRunner& r = **runner;
  Table table = Table::kFilter;
  if (cmd == "restore") {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    absl::Status s = r.Restore(input);
    return s.ok() ? 0 : Fail(s);
  }
  if (cmd == "cleanup") {
    absl::Status s = ipt::CleanupIptables(r);
    return s.ok() ? 0 : Fail(s);
  }
  if (rest.empty() || !ParseTable(rest[0], table)) return Usage();
  if (cmd == "list-chains") {
    auto chains = r.ListChains(table);
    if (!chains.ok()) return Fail(chains.status());
    std::vector<std::string> sorted(chains->begin(), chains->end());
    std::sort(sorted.begin(), sorted.end());
    for (const std::string& c : sorted) std::cout << c << "\n";
    return 0;
  }
  if (rest.size() < 2) return Usage();
  if (cmd == "chain-exists") {
    auto e = r.ChainExists(table, rest[1]);
    if (!e.ok()) return Fail(e.status());
    std::cout << (*e ? "true" : "false") << "\n";
    return 0;
  }
  if (cmd == "ensure-chain") {
    absl::Status s = r.EnsureChain(table, rest[1]);
    return s.ok() ? 0 : Fail(s);
  }
  if (cmd == "ensure-rule") {
    std::vector<std::string> rule(rest.begin() + 2, rest.end());
    absl::Status s = r.EnsureRule(table, rest[1], rule);
    return s.ok() ? 0 : Fail(s);
  }
  return Usage();
}
