#!/usr/bin/env python3
"""Real-kernel equivalence test of the nftables mode's writer (NetlinkNftablesWriter, no `nft`
process): for a rich generated cluster (dual-stack, NodePort, LB with source ranges, session
affinity, SCTP, externalIPs, Services without endpoints), the `nft -f` script that
`kube-proxy --proxy-mode=nftables --dry-run` prints is loaded with nft in namespace A, and
`kube-proxy --proxy-mode=nftables --once` writes the same ruleset through netlink in namespace B:
`nft list table` and the rules' expressions (`nft --debug=netlink list table`) must be identical,
for ip and ip6, and stay so when kube-proxy starts again on the existing table (a restart reuses
it) and when an upstream-shaped table of the same name was there before.

Skipped as a whole (marker KPROXY-KERNEL-SUITE-SKIPPED) while the binary is not built."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import kernel_test_util as util
import test_nft_writer
from test_nft_writer import Namespace

KPROXY = None


def setUpModule():
    global KPROXY
    KPROXY = util.kube_proxy_or_skip_suite()
    if not shutil.which("nft"):
        raise unittest.SkipTest("KPROXY-KERNEL-SUITE-SKIPPED: nft not installed")


def scripts_by_family(dry_run_output):
    """The `nft -f` script of each family ("IPv4"/"IPv6") from --dry-run's output."""
    text = dry_run_output.split("nothing was written) ===\n", 1)[1]
    out, family = {}, None
    for line in text.splitlines(keepends=True):
        m = re.match(r"# (IPv[46])$", line.strip())
        if m:
            family = m.group(1)
            out[family] = ""
        elif family:
            out[family] += line
    return out


def listing(ns, family, debug=False):
    argv = ["nft"] + (["--debug=netlink"] if debug else []) + ["list", "table", family, "kube-proxy"]
    text = re.sub(r"__set\d+", "__set", ns.run(argv).stdout)
    # Rule handles (on --debug=netlink's rule headers) are the kernel's numbering.
    text = re.sub(r"^(ip6? kube-proxy \S+)( \d+)+$", r"\1", text, flags=re.M)
    # A hash set lists its elements in the order of its (randomly seeded) buckets.
    out, run = [], []
    for line in text.splitlines():
        if line.startswith("\telement "):
            run.append(line)
            continue
        out += sorted(run) + [line]
        run = []
    return "\n".join(out + sorted(run)) + "\n"


class NftablesWriterEquivalenceTest(unittest.TestCase):
    def setUp(self):
        self.objects = tempfile.mkdtemp(prefix="kproxy-nft-objects-")
        self.addCleanup(shutil.rmtree, self.objects, True)
        test_nft_writer.make_cluster(self.objects)
        with open(os.path.join(self.objects, "node.json")) as f:
            node = json.load(f)
        self.args = [f"--objects={self.objects}", f"--hostname-override={node['metadata']['name']}",
                     "--cluster-cidr=10.128.0.0/14,fd00:10:128::/56", "--conntrack-max-per-core=0"]

    def kube_proxy(self, ns, *extra):
        r = ns.run([KPROXY, "--proxy-mode=nftables", *self.args, *extra], check=False)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return r

    def assert_same(self, a, b, in_any_order=False):
        # in_any_order: chains (and rules' expression blocks) listed in creation order may differ
        # when the table existed before; their lines must still be the same.
        norm = (lambda text: sorted(text.splitlines())) if in_any_order else (lambda text: text)
        for family in ("ip", "ip6"):
            self.assertEqual(norm(listing(a, family)), norm(listing(b, family)), family)
            self.assertEqual(norm(listing(a, family, debug=True)), norm(listing(b, family, debug=True)), family)

    def test_ipv6_affinity_rule_is_accepted_by_the_kernel(self):
        with Namespace() as b:
            self.kube_proxy(b, "--once")
            self.assertRegex(listing(b, "ip6"), r"update @affinity-\S+ \{ ip6 saddr : ip6 daddr \}")
            self.assertRegex(listing(b, "ip6"), r"dnat to ip6 saddr map @\S+:ip6 saddr map @\S+")

    def test_writer_leaves_the_same_tables_as_nft_f_of_the_dry_run_script(self):
        dry = subprocess.run([KPROXY, "--proxy-mode=nftables", *self.args, "--dry-run"], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(dry.returncode, 0, dry.stderr[-3000:])
        scripts = scripts_by_family(dry.stdout)
        self.assertEqual(set(scripts), {"IPv4", "IPv6"})
        with Namespace() as a, Namespace() as b:
            for script in scripts.values():
                a.run(["nft", "-f", "-"], stdin=script)
            r = self.kube_proxy(b, "--once")
            self.assertIn("full sync", r.stderr)
            listed = listing(b, "ip")
            for needle in ("service-ips", "typeof numgen random mod 720720", "affinity", "sctp"):
                self.assertIn(needle, listed)
            self.assert_same(a, b)
            # A restart reuses the table: a full sync against what is there, same result.
            self.kube_proxy(b, "--once")
            self.assert_same(a, b)

    def test_a_table_in_upstreams_layout_is_replaced_on_start(self):
        import test_mode_leftovers
        dry = subprocess.run([KPROXY, "--proxy-mode=nftables", *self.args, "--dry-run"], capture_output=True,
                             text=True, timeout=120)
        scripts = scripts_by_family(dry.stdout)
        with Namespace() as a, Namespace() as b:
            for script in scripts.values():
                a.run(["nft", "-f", "-"], stdin=script)
            b.run(["nft", "-f", "-"], stdin=test_mode_leftovers.UPSTREAM_TABLE)
            self.kube_proxy(b, "--once")
            # Upstream's chains were flushed, then deleted by a transaction of their own.
            self.assertNotIn("chain endpoint-5OJB2KTY", listing(b, "ip"))
            self.assert_same(a, b, in_any_order=True)


if __name__ == "__main__":
    unittest.main()
