#!/usr/bin/env python3
"""Real-kernel tests of IptablesRestoreRunner, DetectVariant and CleanupIptables, driven through
kproxy_backends_probe inside the lab's node namespace, for iptables-nft and iptables-legacy,
IPv4 and IPv6."""
import unittest

import kernel_test_util as util
import netns_lab

RULES = {
    4: ("*nat\n"
        ":KUBE-SERVICES - [0:0]\n"
        ":KUBE-SVC-TEST - [0:0]\n"
        "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment \"ns/svc:http cluster IP\" -j KUBE-SVC-TEST\n"
        "-A KUBE-SVC-TEST -m statistic --mode random --probability 0.5 -p tcp -j DNAT --to-destination 10.244.1.2:80\n"
        "-A KUBE-SVC-TEST -p tcp -j DNAT --to-destination 10.244.1.3:80\n"
        "COMMIT\n"),
    6: ("*nat\n"
        ":KUBE-SERVICES - [0:0]\n"
        ":KUBE-SVC-TEST - [0:0]\n"
        "-A KUBE-SERVICES -d fd00:10:96::10/128 -p tcp -m tcp --dport 80 -m comment --comment \"ns/svc:http cluster IP\" -j KUBE-SVC-TEST\n"
        "-A KUBE-SVC-TEST -m statistic --mode random --probability 0.5 -p tcp -j DNAT --to-destination [fd00:10:244:1::2]:80\n"
        "-A KUBE-SVC-TEST -p tcp -j DNAT --to-destination [fd00:10:244:1::3]:80\n"
        "COMMIT\n"),
}

# What upstream kube-proxy (iptables and IPVS mode) and kubelet leave behind.
UPSTREAM_LEFTOVERS = {
    4: ("*nat\n"
        ":KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n"
        ":KUBE-MARK-DROP - [0:0]\n:KUBE-SVC-ABCDEF - [0:0]\n:KUBE-SEP-GHIJKL - [0:0]\n:KUBE-EXT-ABCDEF - [0:0]\n"
        ":KUBE-LOAD-BALANCER - [0:0]\n:KUBE-NODE-PORT - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n"
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
        "-A POSTROUTING -s 172.17.0.0/16 -j MASQUERADE\n"
        "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-ABCDEF\n"
        "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
        "-A KUBE-EXT-ABCDEF -j KUBE-SVC-ABCDEF\n"
        "-A KUBE-SVC-ABCDEF -j KUBE-SEP-GHIJKL\n"
        "-A KUBE-SEP-GHIJKL -s 10.244.1.2/32 -j KUBE-MARK-MASQ\n"
        "-A KUBE-SEP-GHIJKL -p tcp -j DNAT --to-destination 10.244.1.2:80\n"
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
        "-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000\n"
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
        "-A KUBE-POSTROUTING -j MASQUERADE --random-fully\n"
        "COMMIT\n"
        "*filter\n"
        ":KUBE-FIREWALL - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-SERVICES - [0:0]\n"
        ":KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
        ":KUBE-IPVS-FILTER - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n"
        "-A INPUT -j KUBE-FIREWALL\n"
        "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n"
        "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n"
        "-A INPUT -j KUBE-IPVS-FILTER\n"
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
        "-A OUTPUT -j KUBE-FIREWALL\n"
        "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP\n"
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
        "COMMIT\n"
        "*mangle\n"
        ":KUBE-PROXY-CANARY - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n"
        "COMMIT\n"),
}
UPSTREAM_LEFTOVERS[6] = (UPSTREAM_LEFTOVERS[4]
                         .replace("172.17.0.0/16", "fd00:17::/64")
                         .replace("10.96.0.10/32", "fd00:10:96::10/128")
                         .replace("10.244.1.2/32", "fd00:10:244:1::2/128")
                         .replace("10.244.1.2:80", "[fd00:10:244:1::2]:80"))
KEPT = {"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", "KUBE-MARK-DROP"}


def rules_of(save):
    """The chain declarations (without counters) and rules of a save output, comparable over time."""
    out = []
    for line in save.splitlines():
        if line.startswith(":"):
            out.append(" ".join(line.split()[:2]))
        elif line.startswith("-A ") or line.startswith("*"):
            out.append(line)
    return out


def chains_of(save):
    return {line.split()[0][1:] for line in save.splitlines() if line.startswith(":")}


class IptablesRunnerKernelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns_lab.require_root()
        cls.probe = util.probe_path()
        cls.lab = netns_lab.Lab(ipv6=True, haproxy=False, listeners=False)
        cls.lab.setup()

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def setUp(self):
        util.flush_node(self.lab)

    def probe_cmd(self, variant, family, *args, input=None, check=True):
        return self.lab.exec("node", [self.probe, "--family", str(family), "--variant", variant] + list(args),
                             input=input, check=check)

    def each(self):
        for variant in util.variants():
            for family in (4, 6):
                with self.subTest(variant=variant, family=family):
                    util.flush_node(self.lab)
                    yield variant, family

    def test_restore_installs_chains_and_rules(self):
        for variant, family in self.each():
            self.probe_cmd(variant, family, "restore", input=RULES[family])
            save = self.lab.iptables_save(variant, family, "nat")
            self.assertIn(":KUBE-SVC-TEST - ", save)
            self.assertIn("--comment \"ns/svc:http cluster IP\" -j KUBE-SVC-TEST", save)
            self.assertIn("--mode random --probability 0.50000000000", save)
            chains = self.probe_cmd(variant, family, "list-chains", "nat").stdout.split()
            self.assertEqual(sorted(chains),
                             sorted(["INPUT", "OUTPUT", "POSTROUTING", "PREROUTING", "KUBE-SERVICES", "KUBE-SVC-TEST"]))
            # --noflush: restoring again is fine and does not duplicate rules.
            self.probe_cmd(variant, family, "restore", input=RULES[family])
            self.assertEqual(self.lab.iptables_save(variant, family, "nat").count("-j DNAT"), 2)
            # The other variant does not see these rules.
            other = "legacy" if variant == "nft" else "nft"
            if other in util.variants():
                self.assertNotIn("KUBE-SVC-TEST", self.lab.iptables_save(other, family, "nat"))

    def test_failed_restore_names_the_line_and_changes_nothing(self):
        bad = ("*nat\n"
               ":KUBE-SVC-TEST - [0:0]\n"
               "-A KUBE-SVC-TEST -j KUBE-SEP-DOES-NOT-EXIST\n"
               "COMMIT\n")
        for variant, family in self.each():
            self.probe_cmd(variant, family, "restore", input=RULES[family])
            p = self.probe_cmd(variant, family, "restore", input=bad, check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertRegex(p.stderr, r"input line [34] ")
            self.assertIn("restore", p.stderr)
            # Atomic per table: KUBE-SVC-TEST kept its rules (the flush was rolled back).
            self.assertEqual(self.lab.iptables_save(variant, family, "nat").count("-j DNAT"), 2)

    def test_ensure_chain_and_rule_are_idempotent(self):
        rule = ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]
        for variant, family in self.each():
            for _ in range(2):
                self.probe_cmd(variant, family, "ensure-chain", "nat", "KUBE-SERVICES")
                self.probe_cmd(variant, family, "ensure-rule", "nat", "PREROUTING", *rule)
            save = self.lab.iptables_save(variant, family, "nat")
            self.assertEqual(save.count("-A PREROUTING "), 1, save)
            self.assertIn("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES", save)
            p = self.probe_cmd(variant, family, "ensure-rule", "nat", "KUBE-NOPE", "-j", "ACCEPT", check=False)
            self.assertNotEqual(p.returncode, 0)

    def test_canary_disappears_when_the_table_is_flushed(self):
        for variant, family in self.each():
            tool = ("ip6tables" if family == 6 else "iptables") + f"-{variant}"
            for table in ("mangle", "nat", "filter"):
                self.probe_cmd(variant, family, "ensure-chain", table, "KUBE-PROXY-CANARY")
                self.assertEqual(self.probe_cmd(variant, family, "chain-exists", table, "KUBE-PROXY-CANARY").stdout,
                                 "true\n")
            # `iptables -t mangle -F` alone keeps (empty) chains; firewalld-style -F + -X removes it.
            self.lab.exec("node", [tool, "-t", "mangle", "-F"])
            self.assertEqual(self.probe_cmd(variant, family, "chain-exists", "mangle", "KUBE-PROXY-CANARY").stdout,
                             "true\n")
            self.lab.exec("node", [tool, "-t", "mangle", "-X"])
            self.assertEqual(self.probe_cmd(variant, family, "chain-exists", "mangle", "KUBE-PROXY-CANARY").stdout,
                             "false\n")
            self.assertEqual(self.probe_cmd(variant, family, "chain-exists", "nat", "KUBE-PROXY-CANARY").stdout,
                             "true\n")
            if variant == "nft":
                self.lab.exec("node", ["nft", "flush", "ruleset"])
                self.assertEqual(self.probe_cmd(variant, family, "chain-exists", "nat", "KUBE-PROXY-CANARY").stdout,
                                 "false\n")

    def test_cleanup_removes_kube_proxy_chains_and_keeps_kubelets(self):
        for variant, family in self.each():
            self.probe_cmd(variant, family, "restore", input=UPSTREAM_LEFTOVERS[family])
            self.probe_cmd(variant, family, "cleanup")
            save = self.lab.iptables_save(variant, family)
            kube = {c for c in chains_of(save) if c.startswith("KUBE-")}
            self.assertEqual(kube, KEPT, save)
            for line in save.splitlines():
                if line.startswith("-A "):
                    target = line.split(" -j ")[-1].split()[0] if " -j " in line else ""
                    if target.startswith("KUBE-"):
                        self.assertIn(target, KEPT, line)
            self.assertIn("-A POSTROUTING -s ", save)  # someone else's rule survives
            self.probe_cmd(variant, family, "cleanup")  # idempotent
            self.assertEqual(rules_of(self.lab.iptables_save(variant, family)), rules_of(save))

    def test_detect_variant_follows_existing_rules(self):
        if sorted(util.variants()) != ["legacy", "nft"]:
            self.skipTest("needs both variants")
        util.flush_node(self.lab)
        self.assertEqual(self.lab.exec("node", [self.probe, "detect-variant"]).stdout, "nft\n")
        self.probe_cmd("legacy", 4, "restore", input=UPSTREAM_LEFTOVERS[4])
        self.assertEqual(self.lab.exec("node", [self.probe, "detect-variant"]).stdout, "legacy\n")
        # kubelet's hint chain in nft wins over more legacy rules.
        self.probe_cmd("nft", 4, "ensure-chain", "mangle", "KUBE-IPTABLES-HINT")
        self.assertEqual(self.lab.exec("node", [self.probe, "detect-variant"]).stdout, "nft\n")


if __name__ == "__main__":
    unittest.main()
