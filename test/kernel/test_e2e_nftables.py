#!/usr/bin/env python3
"""nftables mode with real traffic: upstream's nftables packet-flow tables
(pkg/proxy/nftables/proxier_test.go: TestClusterIPGeneral, TestNodePorts, TestLoadBalancer,
TestInternalExternalMasquerade, TestExternalTrafficPolicy*, TestInternalTrafficPolicy,
TestTerminatingEndpoints*, TestNoEndpointsReject, session affinity, pass-through and
ipMode: Proxy, IPv6) replayed as test_e2e_flows.py does for iptables mode, with `kube-proxy
--proxy-mode=nftables --once` (the writer talks netlink; no nft process) in the lab's node
namespace; and switches iptables -> nftables -> iptables with the ClusterIP answering after each.

Where upstream's nftables mode differs from iptables mode the flows say so: a ClusterIP on a port
no Service defines is rejected, and there are no localhost NodePorts.
"""
import json
import os
import subprocess
import threading
import time
import unittest

import kernel_test_util as util
import netns_lab
import test_e2e_flows
from netns_lab import NODE_IP
from test_e2e_flows import DROP, REJECT, P, flow, slice_, svc, to


def setUpModule():
    test_e2e_flows.KPROXY = util.kube_proxy_or_skip_suite()


class NftablesFlowTablesTest(test_e2e_flows.FlowTestBase):
    mode = "nftables"
    localhost_node_ports = False

    def test_cluster_ip_general(self):  # TestClusterIPGeneral
        self.apply(test_e2e_flows.cluster_ip_general_objects())
        self.run_flows(test_e2e_flows.cluster_ip_general_common_flows() + [
            flow("cluster IP, undefined port: REJECT (nftables mode)", "client", "10.96.0.41", 81, REJECT),
        ])

    def test_node_ports_load_balancer_and_external_ips(self):  # TestNodePorts, TestLoadBalancer
        self.apply([
            svc("svc1", "10.96.0.43", [P("http", "TCP", 80, 80, 30001)], "LoadBalancer", lb=["192.0.2.52"],
                external_ips=["192.0.2.50"]),
            slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")]),
            svc("empty", "10.96.0.44", [P("http", "TCP", 80, 80, 30002)], "NodePort", external_ips=["192.0.2.51"]),
        ])
        both = ("pod1", "remote")
        self.run_flows([
            flow("node port from outside", "ext", NODE_IP, 30001, to(*both, masq=True)),
            flow("node port from a pod", "client", NODE_IP, 30001, to(*both, masq=True)),
            flow("LB IP from outside", "ext", "192.0.2.52", 80, to(*both, masq=True)),
            flow("LB IP from a pod", "client", "192.0.2.52", 80, to(*both, masq={"pod1": True, "remote": True})),
            flow("external IP from outside", "ext", "192.0.2.50", 80, to(*both, masq=True)),
            flow("external IP, no endpoints: REJECT", "ext", "192.0.2.51", 80, REJECT),
            flow("node port, no endpoints: REJECT", "ext", NODE_IP, 30002, REJECT),
            flow("unused node port: not intercepted", "ext", NODE_IP, 30003, to("node")),
        ])

    def test_external_traffic_policy_local(self):  # TestExternalTrafficPolicyLocal
        self.apply([
            svc("local", "10.96.0.45", [P("http", "TCP", 80, 80, 30004)], "LoadBalancer", etp="Local",
                lb=["192.0.2.53"]),
            slice_("local", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")]),
            svc("remote-only", "10.96.0.46", [P("http", "TCP", 80, 80, 30005)], "LoadBalancer", etp="Local",
                lb=["192.0.2.54"]),
            slice_("remote-only", [("http", "TCP", 80)], [("remote", "ready")]),
        ])
        self.run_flows([
            flow("Local: node port from outside keeps the source, local endpoint only", "ext", NODE_IP, 30004,
                 to("pod1", masq=False)),
            flow("Local: LB IP from outside, local endpoint only", "ext", "192.0.2.53", 80, to("pod1", masq=False)),
            flow("Local: cluster IP still reaches every endpoint", "client", "10.96.0.45", 80, to("pod1", "remote")),
            flow("Local, no local endpoint: node port DROP", "ext", NODE_IP, 30005, DROP),
            flow("Local, no local endpoint: LB IP from a pod goes to the cluster endpoints", "client",
                 "192.0.2.54", 80, to("remote")),
        ])

    # The tables whose flows are the same in both modes.
    _iptables = test_e2e_flows.UpstreamFlowTablesTest
    test_session_affinity = _iptables.test_session_affinity  # TestSessionAffinity
    test_internal_external_masquerade = _iptables.test_internal_external_masquerade
    test_load_balancer_source_ranges = _iptables.test_load_balancer_source_ranges
    test_external_traffic_policy_cluster = _iptables.test_external_traffic_policy_cluster
    test_internal_traffic_policy = _iptables.test_internal_traffic_policy
    test_terminating_endpoints = _iptables.test_terminating_endpoints
    _terminating_table = _iptables._terminating_table
    test_terminating_endpoints_traffic_policy_local = _iptables.test_terminating_endpoints_traffic_policy_local
    test_terminating_endpoints_traffic_policy_cluster = _iptables.test_terminating_endpoints_traffic_policy_cluster

    def test_pass_through_ingress(self):  # TestLoadBalancerIngressRouteTypeProxy + the ELB annotation
        self.apply([
            svc("annotated", "10.96.0.60", [P("http", "TCP", 80, 80, 30004)], "LoadBalancer", lb=["192.0.2.26"],
                ranges=["203.0.113.0/24"], annotations={"kubernetes.io/elb.pass-through": "true"}),
            slice_("annotated", [("http", "TCP", 80)], [("pod1", "ready")]),
            svc("proxy-mode", "10.96.0.61", [P("http", "TCP", 80, 80, 30005)], "LoadBalancer",
                lb=[("192.0.2.27", "Proxy"), "192.0.2.28"]),
            slice_("proxy-mode", [("http", "TCP", 80)], [("remote", "ready")]),
        ])
        self.run_flows([
            flow("annotated VIP from a pod: not intercepted (leaves for the ELB)", "client", "192.0.2.26", 80,
                 to("outside")),
            flow("annotated VIP from the node: not intercepted", "node", "192.0.2.26", 80, to("outside")),
            flow("annotated: node port still works", "ext", NODE_IP, 30004, to("pod1", masq=True)),
            flow("annotated: cluster IP still works", "client", "10.96.0.60", 80, to("pod1")),
            flow("ipMode Proxy VIP from a pod: not intercepted", "client", "192.0.2.27", 80, to("outside")),
            flow("VIP-mode ingress of the same Service from a pod", "client", "192.0.2.28", 80,
                 to("remote", masq=True)),
        ])

    def test_ipv6_cluster_ip_node_port_and_lb(self):
        self.apply([
            svc("svc6", "fd00:10:96::41", [P("http", "TCP", 80, 80, 30001), P("dns", "UDP", 53, 5353)],
                "LoadBalancer", lb=["2001:db8:2::10"]),
            slice_("svc6", [("http", "TCP", 80), ("dns", "UDP", 5353)], [("pod1", "ready"), ("remote", "ready")],
                   family=6),
            svc("pt6", "fd00:10:96::45", [P("http", "TCP", 80, 80, 30009)], "LoadBalancer", lb=["2001:db8:2::13"],
                annotations={"kubernetes.io/elb.pass-through": "true"}),
            slice_("pt6", [("http", "TCP", 80)], [("pod2", "ready")], family=6),
            svc("svc4", "10.96.0.41", [P("http", "TCP", 80, 80)]),
            slice_("svc4", [("http", "TCP", 80)], [("pod2", "ready")]),
        ])
        both = ("pod1", "remote")
        self.run_flows([
            flow("pod to IPv6 cluster IP", "client", "fd00:10:96::41", 80, to(*both)),
            flow("UDP over IPv6", "client", "fd00:10:96::41", 53, to(*both), proto="udp"),
            flow("hairpin over IPv6", "pod1", "fd00:10:96::41", 80, to(*both, masq={"pod1": True, "remote": False})),
            flow("IPv6 LB IP from outside", "ext", "2001:db8:2::10", 80, to(*both, masq=True)),
            flow("IPv6 pass-through VIP: not intercepted", "client", "2001:db8:2::13", 80, to("outside")),
            flow("IPv6 pass-through: cluster IP works", "client", "fd00:10:96::45", 80, to("pod2")),
            flow("IPv4 twin in the same run", "client", "10.96.0.41", 80, to("pod2")),
        ])

    def test_mode_switches_keep_the_cluster_ip_answering(self):  # iptables -> nftables -> iptables
        objs = [svc("svc1", "10.96.0.41", [P("http", "TCP", 80, 80)]),
                slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready"), ("pod2", "ready")])]
        answers = [flow("pod to cluster IP", "client", "10.96.0.41", 80, to("pod1", "pod2"))]
        self.mode = "iptables"
        self.apply(objs)
        self.run_flows(answers)
        for mode, gone, kept in (("nftables", "KUBE-SERVICES", "table ip kube-proxy"),
                                 ("iptables", "table ip kube-proxy", "KUBE-SERVICES")):
            self.mode = mode
            self.run_kube_proxy_keeping_tables()
            ruleset = self.lab.exec("node", ["nft", "list", "ruleset"]).stdout
            self.assertNotIn(gone, ruleset, f"after starting in {mode} mode")
            self.assertIn(kept, ruleset, f"after starting in {mode} mode")
            self.run_flows(answers)

    def test_endpoint_roll_under_continuous_connections_fails_none(self):
        """The daemon (partial syncs: only map elements change) while a client connects without pause:
        pod1 -> pod1+pod2 -> pod1 terminating + pod2 -> pod2 only; no connection may fail."""
        service = svc("roll", "10.96.0.70", [P("http", "TCP", 80, 80)])
        self.apply([service, slice_("roll", [("http", "TCP", 80)], [("pod1", "ready")])])
        slice_path = os.path.join(self.objects, "02-endpointslice.json")
        self.assertTrue(os.path.exists(slice_path))
        daemon, log = self.lab.start("node", [test_e2e_flows.KPROXY, "--proxy-mode=nftables",
                                              f"--objects={self.objects}", "--hostname-override=node-a",
                                              "--conntrack-max-per-core=0", "--metrics-bind-address=127.0.0.1:0",
                                              "--healthz-bind-address=127.0.0.1:0", "--v=2"], "roll.log")
        try:
            time.sleep(2)
            lines, done = [], threading.Event()

            def connect_until_done():
                while not done.is_set():
                    r = subprocess.run(["ip", "netns", "exec", self.lab.ns("client"), netns_lab.PYTHON,
                                        netns_lab.AGENT, "tcp", "10.96.0.70", "80", "--timeout", "2",
                                        "--count", "25"], capture_output=True, text=True, timeout=120)
                    lines.extend(r.stdout.strip().splitlines())
            client = threading.Thread(target=connect_until_done)
            client.start()
            for endpoints in ([("pod1", "ready"), ("pod2", "ready")],
                              [("pod1", "serving-terminating"), ("pod2", "ready")],
                              [("pod2", "ready")]):
                time.sleep(2.5)
                with open(slice_path + ".tmp", "w") as f:
                    json.dump(slice_("roll", [("http", "TCP", 80)], endpoints), f)
                os.rename(slice_path + ".tmp", slice_path)
            time.sleep(2.5)
            done.set()
            client.join(timeout=300)
        finally:
            os.killpg(daemon.pid, 15)
            daemon.wait(timeout=30)
        failed = [line for line in lines if line.startswith("ERR")]
        answered_by = [line.split()[0] for line in lines if not line.startswith("ERR")]
        self.assertEqual(failed, [], f"{len(failed)} of {len(lines)} connections failed")
        self.assertGreater(len(lines), 100)
        self.assertEqual(set(answered_by), {"pod1", "pod2"})
        self.assertEqual(answered_by[-1], "pod2")  # the roll finished before the client did
        with open(log) as f:
            synced = f.read()
        self.assertIn("partial", synced)
        self.assertIn("elements only", synced)

    def run_kube_proxy_keeping_tables(self):
        """kube-proxy --once over the objects of the last apply(), without flushing the node."""
        argv = [test_e2e_flows.KPROXY, f"--proxy-mode={self.mode}", f"--objects={self.objects}",
                "--hostname-override=node-a", "--once", "--conntrack-max-per-core=0",
                "--iptables-variant=nft", "--cluster-cidr=10.244.0.0/16,fd00:10:244::/48"]
        p = self.lab.exec("node", argv, check=False, timeout=60)
        self.assertEqual(p.returncode, 0, f"kube-proxy failed:\n{p.stderr}")


if __name__ == "__main__":
    unittest.main()
