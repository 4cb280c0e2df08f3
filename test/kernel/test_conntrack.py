#!/usr/bin/env python3
"""Real-kernel tests of NetlinkConntrackClient: a UDP flow DNAT'd on the node is listed with both
tuples and deleted over ctnetlink, after which the next datagram follows the current rules."""
import shutil
import unittest

import kernel_test_util as util
import netns_lab

CASES = {
    4: dict(vip="10.96.0.53", pod1="10.244.1.2", pod2="10.244.1.3", client="10.244.1.10",
            pod1_target="10.244.1.2:5353", pod2_target="10.244.1.3:5353", plen=32),
    6: dict(vip="fd00:10:96::53", pod1="fd00:10:244:1::2", pod2="fd00:10:244:1::3", client="fd00:10:244:1::a",
            pod1_target="[fd00:10:244:1::2]:5353", pod2_target="[fd00:10:244:1::3]:5353", plen=128),
}


def dnat_rules(case, target):
    return ("*nat\n"
            ":KUBE-TEST - [0:0]\n"
            f"-A KUBE-TEST -d {case['vip']}/{case['plen']} -p udp -m udp --dport 53 -j DNAT --to-destination {target}\n"
            "COMMIT\n")


def join(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class ConntrackKernelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns_lab.require_root()
        cls.probe = util.probe_path()
        cls.lab = netns_lab.Lab(ipv6=True, haproxy=False, listeners=True)
        cls.lab.setup()

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def probe_cmd(self, family, *args, input=None, check=True):
        return self.lab.exec("node", [self.probe, "--family", str(family), "--variant", "nft"] + list(args),
                             input=input, check=check)

    def install(self, family, target):
        case = CASES[family]
        self.probe_cmd(family, "restore", input=dnat_rules(case, target))
        self.probe_cmd(family, "ensure-rule", "nat", "PREROUTING", "-j", "KUBE-TEST")

    def test_lists_and_deletes_a_dnatted_udp_flow(self):
        for family in (4, 6):
            with self.subTest(family=family):
                case = CASES[family]
                util.flush_node(self.lab)
                self.install(family, case["pod1_target"])
                sport = 40053 + family
                ok, reply = self.lab.request("client", "udp", case["vip"], 53, sport=sport)
                self.assertTrue(ok, reply)
                self.assertEqual(reply.split()[:2], ["pod1", case["client"]])

                want = (f"udp {join(case['client'], sport)} {join(case['vip'], 53)} "
                        f"{join(case['pod1'], 5353)} {join(case['client'], sport)}")
                listed = self.probe_cmd(family, "conntrack-list", "udp").stdout.splitlines()
                self.assertIn(want, listed)
                self.assertNotIn(want, self.probe_cmd(family, "conntrack-list", "tcp").stdout.splitlines())
                other = 6 if family == 4 else 4
                self.assertNotIn(want, self.probe_cmd(other, "conntrack-list", "udp").stdout.splitlines())

                # The rules now point at pod2, but the flow still goes to pod1: that is the stale entry.
                self.install(family, case["pod2_target"])
                ok, reply = self.lab.request("client", "udp", case["vip"], 53, sport=sport)
                self.assertTrue(ok, reply)
                self.assertEqual(reply.split()[0], "pod1")

                deleted = self.probe_cmd(family, "conntrack-delete", "udp", case["client"], str(sport),
                                         case["vip"], "53").stdout
                self.assertEqual(deleted, "1\n")
                self.assertNotIn(want, self.probe_cmd(family, "conntrack-list", "udp").stdout.splitlines())
                if shutil.which("conntrack"):
                    tool = self.lab.exec("node", ["conntrack", "-L", "-f", "ipv6" if family == 6 else "ipv4",
                                                  "-p", "udp", "--orig-dst", case["vip"]], check=False).stdout
                    self.assertNotIn(f"sport={sport} ", tool)
                # Deleting what is gone is not an error (ENOENT).
                again = self.probe_cmd(family, "conntrack-delete", "udp", case["client"], str(sport),
                                       case["vip"], "53").stdout
                self.assertEqual(again, "0\n")

                ok, reply = self.lab.request("client", "udp", case["vip"], 53, sport=sport)
                self.assertTrue(ok, reply)
                self.assertEqual(reply.split()[0], "pod2")

    def test_stale_flow_cleaner_removes_only_flows_to_gone_endpoints(self):
        for family in (4, 6):
            with self.subTest(family=family):
                case = CASES[family]
                util.flush_node(self.lab)
                self.install(family, case["pod1_target"])
                ok, reply = self.lab.request("client", "udp", case["vip"], 53, sport=41000)
                self.assertTrue(ok, reply)
                self.install(family, case["pod2_target"])
                ok, reply = self.lab.request("client", "udp", case["vip"], 53, sport=41001)
                self.assertTrue(ok, reply)
                self.assertEqual(reply.split()[0], "pod2")
                # Only pod2 serves now: the flow DNAT'd to pod1 is stale, pod2's is kept.
                n = self.probe_cmd(family, "conntrack-clean-stale", "udp", case["vip"], "53", case["pod2"]).stdout
                self.assertEqual(n, "1\n")
                listed = self.probe_cmd(family, "conntrack-list", "udp").stdout
                self.assertNotIn(join(case["client"], 41000), listed)
                self.assertIn(join(case["client"], 41001), listed)
                ok, reply = self.lab.request("client", "udp", case["vip"], 53, sport=41000)
                self.assertEqual(reply.split()[0], "pod2")


if __name__ == "__main__":
    unittest.main()
