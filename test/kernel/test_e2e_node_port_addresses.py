#!/usr/bin/env python3
"""--nodeport-addresses on the real kernel (issue 15): the kube-proxy daemon runs in iptables mode in
the lab's node namespace with --nodeport-addresses=10.99.0.0/24, and an outside client (ext, routed
through the outside router) connects to NodePort 30080 on the node's addresses:

  - the node's own 192.0.2.129 is outside the CIDR: no NodePort there (the connection is refused),
    even when no address of the node matches at all (the old code then opened every address);
  - an address inside the CIDR answers (DNAT to the pods);
  - an address added with `ip addr add` while the daemon runs gets the NodePort after the next sync;
  - route_localnet is left alone (the CIDR leaves out loopback).

Both iptables-nft and iptables-legacy, and nftables mode (its table `ip kube-proxy`). Skipped as a whole (KPROXY-KERNEL-SUITE-SKIPPED) while the
binary is not built.
"""
import json
import os
import re
import shutil
import tempfile
import time
import unittest

import kernel_test_util as util
import netns_lab
from netns_lab import NODE_IP, PODS

KPROXY = None
CIDR = "10.99.0.0/24"
INSIDE_AT_START, ADDED_LATER = "10.99.0.5", "10.99.0.6"
NODE_PORT = 30080


def setUpModule():
    global KPROXY
    KPROXY = util.kube_proxy_or_skip_suite()


def objects():
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "node-a"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]}}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "np", "namespace": "default", "uid": "uid-np",
                        "creationTimestamp": "2026-11-20T09:30:00Z"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.80", "clusterIPs": ["10.96.0.80"],
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": "np"},
                    "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
                    "internalTrafficPolicy": "Cluster",
                    "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080,
                               "nodePort": NODE_PORT}]}}
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "np-abcde", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "np"}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": [PODS[p][0]], "nodeName": "node-a",
                          "conditions": {"ready": True, "serving": True, "terminating": False}}
                         for p in ("pod1", "pod2")],
           "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}
    return [node, svc, eps]


class NodePortAddressesTest(unittest.TestCase):
    variant = "nft"

    def setUp(self):
        if not shutil.which(f"iptables-{self.variant}-restore"):
            self.skipTest(f"iptables-{self.variant} not installed")
        self.lab = netns_lab.Lab(ipv6=False, haproxy=False, listeners=True)
        self.lab.setup()
        self.addCleanup(self.lab.close)
        # Off-node clients reach the CIDR through the outside router, like the node's own IP.
        self.lab.exec("outside", ["ip", "route", "add", CIDR, "via", NODE_IP])
        self.objects = tempfile.mkdtemp(prefix="kproxy-objects-")
        self.addCleanup(shutil.rmtree, self.objects, True)
        for i, obj in enumerate(objects()):
            with open(os.path.join(self.objects, f"{i:02d}-{obj['kind'].lower()}.json"), "w") as f:
                json.dump(obj, f)

    def add_address(self, ip):
        self.lab.exec("node", ["ip", "addr", "add", f"{ip}/32", "dev", "eth0"])

    # What the rules hold once the Service is programmed.
    programmed = "-j KUBE-SVC-"

    def daemon_argv(self):
        return [KPROXY, "--proxy-mode=iptables", f"--objects={self.objects}", "--hostname-override=node-a",
                "--cluster-cidr=10.244.0.0/16", "--conntrack-max-per-core=0",
                f"--iptables-variant={self.variant}", f"--nodeport-addresses={CIDR}",
                "--iptables-sync-period=1s", "--iptables-min-sync-period=0s"]

    def start_daemon(self):
        proc, log = self.lab.start("node", self.daemon_argv(), f"kube-proxy-{type(self).__name__}.log")
        self.log = log
        deadline = time.time() + 30
        while time.time() < deadline:
            self.assertIsNone(proc.poll(), f"kube-proxy exited:\n{self.read_log()}")
            if self.programmed in self.nat():
                return proc
            time.sleep(0.2)
        self.fail(f"kube-proxy wrote no Service rules within 30s:\n{self.read_log()}")

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def nat(self):
        return self.lab.exec("node", [f"iptables-{self.variant}-save", "-t", "nat"], check=False).stdout

    def node_port(self, ip, timeout=2.0):
        return self.lab.request("ext", "tcp", ip, NODE_PORT, timeout=timeout)

    def assert_answers(self, ip):
        ok, reply = self.node_port(ip)
        self.assertTrue(ok, f"NodePort on {ip}: {reply}\n{self.nat()}")
        self.assertIn(reply.split()[0], ("pod1", "pod2"))

    def wait_for_node_port(self, ip, timeout=15):
        """Until the NodePort on ip answers (the daemon syncs every second), then as assert_answers."""
        deadline = time.time() + timeout
        while time.time() < deadline and not self.node_port(ip, timeout=1.0)[0]:
            time.sleep(0.3)
        self.assert_answers(ip)

    def assert_closed(self, ip):
        ok, reply = self.node_port(ip)
        self.assertFalse(ok, f"NodePort on {ip} answered ({reply}) though {ip} is outside {CIDR}\n{self.nat()}")

    def route_localnet(self):
        return self.lab.exec("node", ["sysctl", "-n", "net.ipv4.conf.all.route_localnet"]).stdout.strip()

    def test_no_matching_address_means_no_node_port_until_one_is_added(self):
        self.start_daemon()
        self.assert_closed(NODE_IP)
        nat = self.nat()
        self.assertNotIn("-j KUBE-NODEPORTS", nat, "no address matches: no NodePort entry point")
        self.assertIn("-A KUBE-NODEPORTS", nat)  # the NodePort itself is programmed
        self.assertEqual(self.route_localnet(), "0", "route_localnet must be left alone")
        # The Service works otherwise: its cluster IP answers from a pod.
        ok, reply = self.lab.request("client", "tcp", "10.96.0.80", 80)
        self.assertTrue(ok, reply)

        self.add_address(ADDED_LATER)
        self.wait_for_node_port(ADDED_LATER)
        self.assert_closed(NODE_IP)
        self.assertRegex(self.nat(), rf"-A KUBE-SERVICES -d {re.escape(ADDED_LATER)}/32 .*-j KUBE-NODEPORTS")
        self.assertIn(f"NodePorts of IPv4 are accepted on {ADDED_LATER}", self.read_log())

    def test_only_addresses_inside_the_cidr_get_node_ports(self):
        self.add_address(INSIDE_AT_START)
        self.start_daemon()
        self.assert_answers(INSIDE_AT_START)
        self.assert_closed(NODE_IP)
        self.add_address(ADDED_LATER)
        self.wait_for_node_port(ADDED_LATER)
        self.assert_answers(INSIDE_AT_START)
        self.assert_closed(NODE_IP)


class NodePortAddressesLegacyTest(NodePortAddressesTest):
    """The same cases with iptables-legacy."""
    variant = "legacy"


class NodePortAddressesNftablesTest(NodePortAddressesTest):
    """The same cases in nftables mode: the addresses are selected again at each sync there too, and
    none selected means no NodePort on any address (not `fib daddr type local`)."""
    variant = "nft"
    programmed = "service-"

    def daemon_argv(self):
        # The sync period of nftables mode has no flag of its own: a config file sets it.
        config = self.objects + "-config.yaml"
        with open(config, "w") as f:
            f.write("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                    "mode: nftables\nclusterCIDR: 10.244.0.0/16\nconntrack:\n  maxPerCore: 0\n"
                    f"nodePortAddresses: [\"{CIDR}\"]\n"
                    "nftables:\n  syncPeriod: 1s\n  minSyncPeriod: 0s\n")
        self.addCleanup(os.remove, config)
        return [KPROXY, f"--config={config}", f"--objects={self.objects}", "--hostname-override=node-a"]

    def nat(self):
        return self.lab.exec("node", ["nft", "list", "table", "ip", "kube-proxy"], check=False).stdout

    def test_no_matching_address_means_no_node_port_until_one_is_added(self):
        self.start_daemon()
        self.assert_closed(NODE_IP)
        self.assertNotIn("fib daddr type local", self.nat(), "no address matches: not every address")
        self.assertEqual(self.route_localnet(), "0", "route_localnet must be left alone")
        ok, reply = self.lab.request("client", "tcp", "10.96.0.80", 80)
        self.assertTrue(ok, reply)

        self.add_address(ADDED_LATER)
        self.wait_for_node_port(ADDED_LATER)
        self.assert_closed(NODE_IP)
        self.assertIn(f"NodePorts of IPv4 are accepted on {ADDED_LATER}", self.read_log())


if __name__ == "__main__":
    unittest.main()
