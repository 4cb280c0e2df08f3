#!/usr/bin/env python3
"""Leftovers between proxy modes on the real kernel: a `kube-proxy` nftables table in upstream's
nftables-mode layout (left by another proxy, here written with `nft -f`) DNATs the examples'
ClusterIP to an address nobody answers on; starting kube-proxy in iptables mode must delete it (in
families ip and ip6, as upstream's platformCleanup) so the ClusterIP answers through iptables, and
`--cleanup` removes it as well.

Skipped as a whole (marker KPROXY-KERNEL-SUITE-SKIPPED) while the binary is not built.
"""
import os
import shutil
import unittest

import kernel_test_util as util
import netns_lab

EXAMPLES = os.path.join(util.REPO, "manifests", "examples")
CLUSTER_IP = "10.96.128.10"
KPROXY = None

# A small table in upstream's nftables-mode layout (pkg/proxy/nftables): base chains at upstream's
# hooks and priorities, the service-ips verdict map, a per-Service chain with a numgen vmap over
# per-endpoint chains, mark-for-masquerade. Its only endpoint, 10.244.1.99, does not exist.
UPSTREAM_TABLE = """
table ip kube-proxy {
  comment "rules for kube-proxy"
  set cluster-ips { type ipv4_addr; comment "Active ClusterIPs"; elements = { 10.96.128.10 } }
  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"; }
  chain mark-for-masquerade { meta mark set meta mark or 0x4000; }
  chain masquerading {
    meta mark & 0x4000 == 0 return
    meta mark set meta mark xor 0x4000
    masquerade fully-random
  }
  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }
  chain nat-prerouting { type nat hook prerouting priority -100; policy accept; jump services; }
  chain nat-output { type nat hook output priority -100; policy accept; jump services; }
  chain nat-postrouting { type nat hook postrouting priority 100; policy accept; jump masquerading; }
  chain endpoint-5OJB2KTY-default/nginx/tcp/service0__10.244.1.99/80 {
    ip saddr 10.244.1.99 jump mark-for-masquerade
    meta l4proto tcp dnat to 10.244.1.99:80
  }
  chain service-2BUO3CD5-default/nginx/tcp/service0 {
    numgen random mod 1 vmap { 0 : goto endpoint-5OJB2KTY-default/nginx/tcp/service0__10.244.1.99/80 }
  }
}
add element ip kube-proxy service-ips { 10.96.128.10 . tcp . 80 : goto service-2BUO3CD5-default/nginx/tcp/service0 }
table ip6 kube-proxy {
  comment "rules for kube-proxy"
  chain services { }
  chain nat-output { type nat hook output priority -100; policy accept; jump services; }
}
"""


def setUpModule():
    global KPROXY
    KPROXY = util.kube_proxy_or_skip_suite()
    if not shutil.which("nft"):
        raise unittest.SkipTest("KPROXY-KERNEL-SUITE-SKIPPED: nft not installed")


class ModeLeftoversTest(unittest.TestCase):
    def setUp(self):
        self.lab = netns_lab.Lab(ipv6=False, haproxy=False, listeners=True)
        self.lab.setup()
        self.addCleanup(self.lab.close)
        self.lab.exec("node", ["nft", "-f", "-"], input=UPSTREAM_TABLE)

    def tables(self):
        return self.lab.exec("node", ["nft", "list", "tables"]).stdout

    def kube_proxy(self, *args):
        return self.lab.exec("node", [KPROXY, *args], check=False, timeout=60)

    def test_upstream_table_acts_on_the_cluster_ip_before_kube_proxy_starts(self):
        # The premise: the left-over table captures the ClusterIP (DNAT to a dead endpoint).
        ok, reply = self.lab.request("client", "tcp", CLUSTER_IP, 80, timeout=1.0)
        self.assertFalse(ok, reply)
        self.assertIn("table ip kube-proxy", self.tables())

    def test_iptables_mode_start_deletes_the_tables_and_the_cluster_ip_answers(self):
        p = self.kube_proxy("--proxy-mode=iptables", f"--objects={EXAMPLES}", "--hostname-override=node-a",
                            "--once", "--cluster-cidr=10.244.0.0/16", "--conntrack-max-per-core=0",
                            "--iptables-variant=nft")
        self.assertEqual(p.returncode, 0, p.stderr)
        tables = self.tables()
        self.assertNotIn("ip kube-proxy", tables)
        self.assertNotIn("ip6 kube-proxy", tables)
        for _ in range(6):
            ok, reply = self.lab.request("client", "tcp", CLUSTER_IP, 80, timeout=2.0)
            self.assertTrue(ok, reply)
            self.assertIn(reply.split()[0], {"pod1", "pod2"})
        # A second start finds nothing to delete and still succeeds.
        p = self.kube_proxy("--proxy-mode=iptables", f"--objects={EXAMPLES}", "--hostname-override=node-a",
                            "--once", "--cluster-cidr=10.244.0.0/16", "--conntrack-max-per-core=0",
                            "--iptables-variant=nft")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_cleanup_deletes_the_tables(self):
        p = self.kube_proxy("--cleanup")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("kube-proxy", self.tables())


if __name__ == "__main__":
    unittest.main()
