#!/usr/bin/env python3
"""Upstream kube-proxy's packet-flow tables (pkg/proxy/iptables/proxier_test.go: TestClusterIPGeneral,
TestNodePorts, TestExternalIPs*, TestLoadBalancer*, TestExternalTrafficPolicyLocal/Cluster,
TestInternalTrafficPolicy, TestTerminatingEndpoints*, TestSessionAffinity, TestMasqueradeRule,
TestHealthCheckNodePort, TestLoadBalancerIngressRouteTypeProxy) replayed with real traffic:
`kube-proxy --proxy-mode=iptables --once` in the lab's node namespace, then TCP/UDP connections from
the right place, asserting which endpoint answered (the set over several connections), whether the
source was masqueraded (the listener reports the peer it saw), REJECT (refused at once) vs DROP
(timeout) vs not intercepted (a witness listener behind the node, or on the node, answered).

One topology per test class; between cases the node's tables and conntrack are flushed and
kube-proxy --once runs again. Every class runs with iptables-nft and iptables-legacy.

Topology added to netns_lab's (see netns_lab.py) for these tables:
  remote 10.244.2.10 / fd00:10:244:2::a — a pod on another node (node-b): endpoint and source,
      reached from the node through the outside router.
  outside — routes the cluster IP range 10.96.0.0/16 and the LB/external IP range 192.0.2.0/25
      (fd00:10:96::/112, 2001:db8:2::/64) to the node for off-node clients; packets for those
      ranges that come FROM the node are redirected to the "outside" witness listener, so a
      connection the node does not intercept is answered by "outside" instead of vanishing.
  node — a witness listener "node" on the node-port range: an un-intercepted node port answers "node".
"""
import json
import os
import shutil
import tempfile
import time
import unittest

import kernel_test_util as util
import netns_lab
from netns_lab import EXT_IP, EXT_IP6, ELB_IP, ELB_IP6, NODE_IP, NODE_IP6, POD_GW, POD_GW6, PODS

KPROXY = None
REMOTE_IP, REMOTE_IP6 = "10.244.2.10", "fd00:10:244:2::a"
POD1, POD1_6 = PODS["pod1"]
POD2, POD2_6 = PODS["pod2"]
ENDPOINT_IPS = {"pod1": PODS["pod1"], "pod2": PODS["pod2"], "remote": (REMOTE_IP, REMOTE_IP6)}
ENDPOINT_NODE = {"pod1": "node-a", "pod2": "node-a", "remote": "node-b"}
# The addresses each source owns: a peer outside this set means the source was masqueraded.
OWN = {
    "client": set(PODS["client"]), "pod1": set(PODS["pod1"]), "pod2": set(PODS["pod2"]),
    "remote": {REMOTE_IP, REMOTE_IP6}, "ext": {EXT_IP, EXT_IP6}, "elb": {ELB_IP, ELB_IP6},
    "node": {NODE_IP, NODE_IP6, "127.0.0.1", "::1"},
}
NODE_PORTS = list(range(30001, 30013)) + [30100, 30101]
WITNESS_PORTS = (80, 81, 53)


def setUpModule():
    global KPROXY
    KPROXY = util.kube_proxy_or_skip_suite()


# ---- objects -----------------------------------------------------------------------------------
def node_a():
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "node-a"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"]},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP},
                                     {"type": "InternalIP", "address": NODE_IP6}]}}


def P(name, proto, port, target, node_port=None):
    return (name, proto, port, target, node_port)


def svc(name, cluster_ip, ports, svc_type="ClusterIP", etp="Cluster", itp="Cluster", external_ips=(),
        lb=(), ranges=None, affinity=False, hc_port=None, annotations=None):
    """lb: [ip] or [(ip, ipMode)]."""
    fam = "IPv6" if ":" in cluster_ip else "IPv4"
    spec = {"type": svc_type, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ipFamilies": [fam],
            "ipFamilyPolicy": "SingleStack", "selector": {"app": name},
            "sessionAffinity": "ClientIP" if affinity else "None", "internalTrafficPolicy": itp,
            "ports": []}
    for n, proto, p, target, np in ports:
        entry = {"name": n, "protocol": proto, "port": p, "targetPort": target}
        if np:
            entry["nodePort"] = np
        spec["ports"].append(entry)
    if affinity:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if svc_type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = etp
    if external_ips:
        spec["externalIPs"] = list(external_ips)
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = list(ranges)
    if hc_port:
        spec["healthCheckNodePort"] = hc_port
    obj = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "ns1", "uid": f"uid-{name}",
                        "creationTimestamp": "2026-11-20T09:30:00Z", "annotations": annotations or {}},
           "spec": spec}
    if lb:
        ingress = []
        for item in lb:
            ip, mode = item if isinstance(item, tuple) else (item, None)
            ingress.append({"ip": ip, **({"ipMode": mode} if mode else {})})
        obj["status"] = {"loadBalancer": {"ingress": ingress}}
    return obj


def slice_(svc_name, ports, endpoints, family=4, suffix="a"):
    """ports: [(name, proto, port)]; endpoints: [(role, state)] with state ready | serving-terminating |
    terminating (neither ready nor serving)."""
    conds = {"ready": (True, True, False), "serving-terminating": (False, True, True),
             "terminating": (False, False, True)}
    eps = []
    for role, state in endpoints:
        ready, serving, terminating = conds[state]
        eps.append({"addresses": [ENDPOINT_IPS[role][0 if family == 4 else 1]], "nodeName": ENDPOINT_NODE[role],
                    "conditions": {"ready": ready, "serving": serving, "terminating": terminating}})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc_name}-{suffix}{family}", "namespace": "ns1",
                         "labels": {"kubernetes.io/service-name": svc_name}},
            "addressType": "IPv4" if family == 4 else "IPv6",
            "endpoints": eps, "ports": [{"name": n, "protocol": pr, "port": p} for n, pr, p in ports]}


# ---- expectations ------------------------------------------------------------------------------
REJECT, DROP = "REJECT", "DROP"


def cluster_ip_general_objects():
    """TestClusterIPGeneral's Services: two endpoints on three ports, one endpoint, none."""
    return [
        svc("svc1", "10.96.0.41", [P("http", "TCP", 80, 8080), P("dns-udp", "UDP", 53, 5353),
                                   P("dns-tcp", "TCP", 53, 80)]),
        slice_("svc1", [("http", "TCP", 8080), ("dns-udp", "UDP", 5353), ("dns-tcp", "TCP", 80)],
               [("pod1", "ready"), ("remote", "ready")], suffix="h"),
        svc("single", "10.96.0.40", [P("http", "TCP", 80, 80)]),
        slice_("single", [("http", "TCP", 80)], [("pod2", "ready")]),
        svc("empty", "10.96.0.42", [P("http", "TCP", 80, 80)]),
    ]


def cluster_ip_general_common_flows():
    """TestClusterIPGeneral's flows that iptables and nftables modes share."""
    return [
        flow("pod to cluster IP", "client", "10.96.0.41", 80, to("pod1", "remote")),
        flow("pod on another node to cluster IP", "remote", "10.96.0.41", 80,
             to("pod1", "remote", masq={"pod1": False, "remote": True})),
        flow("hairpin: an endpoint to its own service", "pod1", "10.96.0.41", 80,
             to("pod1", "remote", masq={"pod1": True, "remote": False})),
        flow("off-cluster source to cluster IP", "ext", "10.96.0.41", 80, to("pod1", "remote", masq=True)),
        flow("node to cluster IP", "node", "10.96.0.41", 80, to("pod1", "remote", masq={"pod1": True,
                                                                                          "remote": None})),
        flow("single endpoint", "client", "10.96.0.40", 80, to("pod2")),
        flow("TCP and UDP on the same port (UDP)", "client", "10.96.0.41", 53, to("pod1", "remote"), proto="udp"),
        flow("TCP and UDP on the same port (TCP)", "client", "10.96.0.41", 53, to("pod1", "remote")),
        flow("no endpoints: REJECT", "client", "10.96.0.42", 80, REJECT),
        flow("no endpoints from the node: REJECT", "node", "10.96.0.42", 80, REJECT),
    ]


def to(*names, masq=False, one=False):
    """The connection lands on one of `names` (every one of them seen over the tries unless one=True:
    session affinity, exactly one seen); masq: True/False/None (don't care), or a dict per name."""
    per = masq if isinstance(masq, dict) else {n: masq for n in names}
    return {"eps": per, "one": one}


def flow(name, src, dst, port, want, proto="tcp", own=None):
    """own: the source's own addresses for this flow, when not OWN[src]."""
    return {"name": name, "src": src, "dst": dst, "port": port, "want": want, "proto": proto, "own": own}


class FlowTestBase(unittest.TestCase):
    """One lab per class; run(objects, flows) replays one upstream table."""
    variant = "nft"
    mode = "iptables"
    ipv6 = True
    # nftables mode has no localhost NodePorts (upstream): such flows reach the node's own listener.
    localhost_node_ports = True

    @classmethod
    def setUpClass(cls):
        cls.lab = netns_lab.Lab(ipv6=cls.ipv6, haproxy=False, listeners=True)
        cls.lab.setup()
        try:
            cls._extend_lab(cls.lab)
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    @staticmethod
    def _extend_lab(lab):
        # remote: a pod on node-b, behind the outside router.
        lab._add_ns("remote")
        lab._veth("outside", "remote0", "remote", "eth0")
        lab._addr("outside", "remote0", "10.244.2.1/24")
        lab._addr("remote", "eth0", REMOTE_IP + "/24")
        lab._route("remote", "default", "via", "10.244.2.1")
        lab._addr("outside", "remote0", "fd00:10:244:2::1/64")
        lab._addr("remote", "eth0", REMOTE_IP6 + "/64")
        lab._route("remote", "default", "via", "fd00:10:244:2::1")
        # outside: service ranges go to the node, except what the node itself sends there (witness).
        # (A local route in another table would not do: the kernel refuses such an address as the
        # source of the reply, so the witness takes these packets with a REDIRECT instead.)
        for fam, tool, ranges, nh in (("-4", "iptables", ("10.96.0.0/16", "192.0.2.0/25"), NODE_IP),
                                      ("-6", "ip6tables", ("fd00:10:96::/112", "2001:db8:2::/64"), NODE_IP6)):
            for r in ranges:
                lab.exec("outside", ["ip", fam, "route", "add", r, "via", nh])
                lab.exec("outside", [tool, "-w", "5", "-t", "nat", "-A", "PREROUTING", "-i", "node0", "-d", r,
                                     "-j", "REDIRECT"])
        lab.start_listener("remote", "remote", netns_lab.POD_PORTS)
        lab.start_listener("outside", "outside", WITNESS_PORTS)
        lab.start_listener("node", "node", NODE_PORTS)
        lab.wait_ipv6_ready()  # again: the links added above
        for src, dst in (("client", POD1_6), ("client", REMOTE_IP6), ("ext", NODE_IP6), ("client", REMOTE_IP)):
            for _ in range(20):
                if lab.request(src, "tcp", dst, 80 if dst != NODE_IP6 else 30001, timeout=1)[0]:
                    break

    def setUp(self):
        self.objects = tempfile.mkdtemp(prefix="kproxy-flows-")
        self.addCleanup(shutil.rmtree, self.objects, True)

    # ---- one case ---------------------------------------------------------------------------------
    def apply(self, objs, extra=(), cluster_cidr="10.244.0.0/16,fd00:10:244::/48"):
        util.flush_node(self.lab)
        for fam in ("ipv4", "ipv6"):
            self.lab.exec("node", ["conntrack", "-F", "-f", fam], check=False)
        for name in os.listdir(self.objects):
            os.unlink(os.path.join(self.objects, name))
        for i, obj in enumerate([node_a()] + list(objs)):
            with open(os.path.join(self.objects, f"{i:02d}-{obj['kind'].lower()}.json"), "w") as f:
                json.dump(obj, f, indent=1)
        argv = [KPROXY, f"--proxy-mode={self.mode}", f"--objects={self.objects}", "--hostname-override=node-a",
                "--once", "--conntrack-max-per-core=0", f"--iptables-variant={self.variant}"] + list(extra)
        if cluster_cidr:
            argv.append(f"--cluster-cidr={cluster_cidr}")
        p = self.lab.exec("node", argv, check=False, timeout=60)
        self.assertEqual(p.returncode, 0, f"kube-proxy failed:\n{p.stderr}")

    def observe(self, f):
        """A verdict string comparable to the expectation, and the raw replies."""
        want = f["want"]
        if want in (REJECT, DROP):
            before = self.unreachables_sent()
            ok, out = self.lab.request(f["src"], f["proto"], f["dst"], f["port"], timeout=1.0)
            sent = self.unreachables_sent() - before
            if ok:
                return f"answered {out}", [out]
            low = out.lower()
            if "refused" in low:
                return REJECT, [out]
            if "timed out" in low:
                # With conntrack active on the node, this kernel's IPv6 TCP ignores the (received)
                # ICMPv6 port-unreachable that REJECT sends, so the client times out: the node's
                # ICMP counters tell a REJECT from a DROP.
                return (REJECT if sent else DROP), [out]
            return f"error {out}", [out]
        tries = 1 if not want["eps"] else (8 if want["one"] else 6 * len(want["eps"]) + 4)
        argv = [netns_lab.PYTHON, netns_lab.AGENT, f["proto"], f["dst"], str(f["port"]), "--timeout", "2",
                "--count", str(max(tries, 2))]
        p = self.lab.exec(f["src"], argv, check=False, timeout=tries * 3 + 10)
        lines = p.stdout.strip().splitlines()
        return None, lines

    def unreachables_sent(self):
        """Destination-unreachable ICMP/ICMPv6 messages the node has sent (both families)."""
        total = 0
        snmp = self.lab.exec("node", ["cat", "/proc/net/snmp"]).stdout.splitlines()
        for names, values in zip(snmp[::2], snmp[1::2]):
            if names.startswith("Icmp:"):
                total += int(dict(zip(names.split()[1:], values.split()[1:]))["OutDestUnreachs"])
        for line in self.lab.exec("node", ["cat", "/proc/net/snmp6"]).stdout.splitlines():
            if line.startswith("Icmp6OutDestUnreachs"):
                total += int(line.split()[1])
        return total

    def check_flow(self, f):
        """'' when the flow behaves as wanted, else what went wrong."""
        want = f["want"]
        verdict, lines = self.observe(f)
        if want in (REJECT, DROP):
            return "" if verdict == want else f"want {want}, got {verdict}"
        seen = {}
        for line in lines:
            if line.startswith("ERR "):
                return f"want {sorted(want['eps'])}, a try failed: {line}"
            name, peer = line.split()[:2]
            seen.setdefault(name, set()).add(peer)
        problems = []
        if not set(seen) <= set(want["eps"]):
            problems.append(f"answered by {sorted(seen)}, want only {sorted(want['eps'])}")
        if want["one"] and len(seen) != 1:
            problems.append(f"affinity: answered by {sorted(seen)}, want exactly one")
        if not want["one"] and set(seen) != set(want["eps"]):
            problems.append(f"answered by {sorted(seen)}, want all of {sorted(want['eps'])}")
        for name, peers in seen.items():
            m = want["eps"].get(name)
            if m is None:
                continue
            masqueraded = bool(peers - (f["own"] or OWN[f["src"]]))
            if masqueraded != m:
                problems.append(f"{name} saw {sorted(peers)}: masquerade {masqueraded}, want {m}")
        return "; ".join(problems)

    def run_flows(self, flows):
        failures, table = [], []
        for f in flows:
            if not self.localhost_node_ports and f["dst"] in ("127.0.0.1", "::1") and f["port"] >= 30000:
                f = dict(f, name=f["name"] + " (no localhost NodePorts)", want=to("node"))
            why = self.check_flow(f)
            table.append(f"  {'ok  ' if not why else 'FAIL'} {f['name']}: {f['src']} -> {f['dst']}:{f['port']}"
                         f"/{f['proto']}{'  -- ' + why if why else ''}")
            if why:
                failures.append(table[-1])
        if os.environ.get("KPROXY_FLOWS_VERBOSE"):
            print(f"\n[{self.variant}] {self.id()}\n" + "\n".join(table))
        self.assertEqual(failures, [], "\n" + "\n".join(table))


class UpstreamFlowTablesTest(FlowTestBase):
    """IPv4 tables, iptables-nft."""

    def test_cluster_ip_general(self):  # TestClusterIPGeneral
        self.apply(cluster_ip_general_objects())
        self.run_flows(cluster_ip_general_common_flows() + [
            flow("TCP-only port does not match UDP: not intercepted", "client", "10.96.0.41", 80, to("outside"),
                 proto="udp"),
            flow("svc1 does not accept other ports: not intercepted", "client", "10.96.0.41", 81, to("outside")),
            flow("no match: another service's port", "client", "10.96.0.40", 81, to("outside")),
        ])

    def test_internal_external_masquerade(self):  # TestInternalExternalMasquerade: 3 Services x 4 sources x
        # 3 destinations, under base / no local detector / masqueradeAll / both
        objs = []
        for name, cip, np, lb, etp, itp in (("svc1", "10.96.0.71", 30001, "192.0.2.71", "Cluster", "Cluster"),
                                            ("svc2", "10.96.0.72", 30002, "192.0.2.72", "Local", "Cluster"),
                                            ("svc3", "10.96.0.73", 30003, "192.0.2.73", "Cluster", "Local")):
            objs += [svc(name, cip, [P("p80", "TCP", 80, 80, np)], "LoadBalancer", etp=etp, itp=itp, lb=[lb]),
                     slice_(name, [("p80", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")])]
        B, L = ("pod1", "remote"), ("pod1",)
        # (name, source, destination, port, endpoints, masquerade) as upstream's base table.
        base = [
            ("pod to ClusterIP", "client", "10.96.0.71", 80, B, False),
            ("pod to NodePort", "client", NODE_IP, 30001, B, True),
            ("pod to LB", "client", "192.0.2.71", 80, B, True),
            ("node to ClusterIP", "node", "10.96.0.71", 80, B, True),
            ("node to NodePort", "node", NODE_IP, 30001, B, True),
            ("localhost to NodePort", "node", "127.0.0.1", 30001, B, True),
            ("node to LB", "node", "192.0.2.71", 80, B, True),
            ("external to ClusterIP", "ext", "10.96.0.71", 80, B, True),
            ("external to NodePort", "ext", NODE_IP, 30001, B, True),
            ("external to LB", "ext", "192.0.2.71", 80, B, True),
            ("pod to ClusterIP with eTP:Local", "client", "10.96.0.72", 80, B, False),
            ("pod to NodePort with eTP:Local", "client", NODE_IP, 30002, B, False),
            ("pod to LB with eTP:Local", "client", "192.0.2.72", 80, B, False),
            ("node to ClusterIP with eTP:Local", "node", "10.96.0.72", 80, B, True),
            ("node to NodePort with eTP:Local", "node", NODE_IP, 30002, B, True),
            ("localhost to NodePort with eTP:Local", "node", "127.0.0.1", 30002, B, True),
            ("node to LB with eTP:Local", "node", "192.0.2.72", 80, B, True),
            ("external to ClusterIP with eTP:Local", "ext", "10.96.0.72", 80, B, True),
            ("external to NodePort with eTP:Local", "ext", NODE_IP, 30002, L, False),
            ("external to LB with eTP:Local", "ext", "192.0.2.72", 80, L, False),
            ("pod to ClusterIP with iTP:Local", "client", "10.96.0.73", 80, L, False),
            ("pod to NodePort with iTP:Local", "client", NODE_IP, 30003, B, True),
            ("pod to LB with iTP:Local", "client", "192.0.2.73", 80, B, True),
            ("node to ClusterIP with iTP:Local", "node", "10.96.0.73", 80, L, True),
            ("node to NodePort with iTP:Local", "node", NODE_IP, 30003, B, True),
            ("localhost to NodePort with iTP:Local", "node", "127.0.0.1", 30003, B, True),
            ("node to LB with iTP:Local", "node", "192.0.2.73", 80, B, True),
            ("external to ClusterIP with iTP:Local", "ext", "10.96.0.73", 80, L, True),
            ("external to NodePort with iTP:Local", "ext", NODE_IP, 30003, B, True),
            ("external to LB with iTP:Local", "ext", "192.0.2.73", 80, B, True),
        ]
        no_detector = {n: {"masq": False} for n in (
            "node to ClusterIP", "node to ClusterIP with eTP:Local", "node to ClusterIP with iTP:Local",
            "external to ClusterIP", "external to ClusterIP with eTP:Local", "external to ClusterIP with iTP:Local")}
        no_detector.update({"pod to NodePort with eTP:Local": {"eps": L}, "pod to LB with eTP:Local": {"eps": L}})
        masq_all = {n: {"masq": True} for n in ("pod to ClusterIP", "pod to ClusterIP with eTP:Local",
                                                "pod to ClusterIP with iTP:Local")}
        variants = (("base", [], True, {}), ("no LocalTrafficDetector", [], False, no_detector),
                    ("masqueradeAll", ["--masquerade-all"], True, masq_all),
                    # Upstream's overrides here: masqueradeAll's, plus no short-circuit for pods (every
                    # ClusterIP flow is masqueraded anyway, so no-detector's masq overrides do not apply).
                    ("masqueradeAll, no LocalTrafficDetector", ["--masquerade-all"], False,
                     {**masq_all, "pod to NodePort with eTP:Local": {"eps": L},
                      "pod to LB with eTP:Local": {"eps": L}}))
        for label, extra, detector, overrides in variants:
            with self.subTest(label):
                self.apply(objs, extra=extra, cluster_cidr=None if not detector else
                           "10.244.0.0/16,fd00:10:244::/48")
                flows = []
                for name, src, dst, port, eps, masq in base:
                    o = overrides.get(name, {})
                    eps, masq = o.get("eps", eps), o.get("masq", masq)
                    if not detector and src == "ext" and not masq and "remote" in eps:
                        # Unmasqueraded external traffic to the remote endpoint would come back to ext
                        # straight from node-b, bypassing this node's un-DNAT (a real cluster has the
                        # same asymmetry): only the local endpoint is checkable, so skip the row.
                        continue
                    per = {e: (None if (src == "node" and e == "remote" and dst != "127.0.0.1") else masq)
                           for e in eps}
                    flows.append(flow(f"{label}: {name}", src, dst, port, to(*eps, masq=per),
                                      own={"127.0.0.1"} if dst == "127.0.0.1" else None))
                self.run_flows(flows)

    def test_masquerade_all(self):  # TestMasqueradeRule / masqueradeAll
        self.apply([svc("svc1", "10.96.0.41", [P("http", "TCP", 80, 80)]),
                    slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready")])], extra=["--masquerade-all"])
        self.run_flows([flow("pod to cluster IP is masqueraded", "client", "10.96.0.41", 80, to("pod1", masq=True))])

    def _node_port_objects(self):
        return [
            svc("svc1", "10.96.0.43", [P("http", "TCP", 80, 80, 30001)], "NodePort", external_ips=["192.0.2.50"]),
            slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")]),
            svc("empty", "10.96.0.44", [P("http", "TCP", 80, 80, 30002)], "NodePort", external_ips=["192.0.2.51"]),
        ]

    def test_node_ports_and_external_ips(self):  # TestNodePorts, TestExternalIPsReject, TestNonLocalExternalIPs
        self.apply(self._node_port_objects())
        both = ("pod1", "remote")
        self.run_flows([
            flow("node port from outside", "ext", NODE_IP, 30001, to(*both, masq=True)),
            flow("node port from a pod", "client", NODE_IP, 30001, to(*both, masq=True)),
            flow("node port from the node", "node", NODE_IP, 30001, to(*both, masq={"pod1": True, "remote": None})),
            flow("localhost node port", "node", "127.0.0.1", 30001, to(*both, masq=True), own={"127.0.0.1"}),
            flow("node port on the pod gateway address (dst-type LOCAL)", "client", POD_GW, 30001,
                 to(*both, masq=True)),
            flow("external IP from outside", "ext", "192.0.2.50", 80, to(*both, masq=True)),
            flow("external IP from a pod", "client", "192.0.2.50", 80, to(*both, masq={"pod1": True,
                                                                                      "remote": True})),
            flow("external IP from the node", "node", "192.0.2.50", 80, to(*both, masq={"pod1": True,
                                                                                      "remote": None})),
            flow("external IP, other port: not intercepted", "node", "192.0.2.50", 81, to("outside")),
            flow("external IP, no endpoints: REJECT", "ext", "192.0.2.51", 80, REJECT),
            flow("node port, no endpoints: REJECT", "ext", NODE_IP, 30002, REJECT),
            flow("unused node port: not intercepted", "ext", NODE_IP, 30003, to("node")),
        ])

    def test_node_ports_localhost_disabled(self):  # TestNodePortsLocalhost (iptablesLocalhostNodePorts=false)
        self.apply(self._node_port_objects(), extra=["--iptables-localhost-nodeports=false"])
        self.run_flows([
            flow("localhost node port not intercepted", "node", "127.0.0.1", 30001, to("node")),
            flow("node IP node port still works", "ext", NODE_IP, 30001, to("pod1", "remote", masq=True)),
        ])

    def test_node_port_addresses(self):  # TestNodePorts with nodePortAddresses
        self.apply(self._node_port_objects(), extra=["--nodeport-addresses=192.0.2.128/25"])
        self.run_flows([
            flow("node port on the listed address", "ext", NODE_IP, 30001, to("pod1", "remote", masq=True)),
            flow("localhost not listed: not intercepted", "node", "127.0.0.1", 30001, to("node")),
            flow("pod gateway address not listed: not intercepted", "client", POD_GW, 30001, to("node")),
        ])

    def test_node_port_addresses_with_localhost_listed(self):  # TestNodePorts: localhost-nodeports disabled,
        # localhost in nodeport-addresses: still ignored
        self.apply(self._node_port_objects(), extra=["--iptables-localhost-nodeports=false",
                                                     "--nodeport-addresses=192.0.2.128/25,127.0.0.1/32"])
        self.run_flows([
            flow("external to node port", "ext", NODE_IP, 30001, to("pod1", "remote", masq=True)),
            flow("node to node port", "node", NODE_IP, 30001, to("pod1", "remote", masq={"pod1": True,
                                                                                        "remote": None})),
            flow("localhost to node port is ignored", "node", "127.0.0.1", 30001, to("node")),
            flow("secondary node IP ignores node ports", "client", POD_GW, 30001, to("node")),
        ])

    def test_load_balancer_source_ranges(self):  # TestLoadBalancer, TestLoadBalancerSourceRanges/FW
        self.apply([
            svc("svc1", "10.96.0.45", [P("http", "TCP", 80, 80, 30004)], "LoadBalancer",
                lb=["192.0.2.10", "192.0.2.13"], ranges=["203.0.113.0/24", " 192.0.2.128/25"]),
            slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready"), ("pod2", "ready")]),
            svc("open", "10.96.0.46", [P("http", "TCP", 80, 80, 30005)], "LoadBalancer", lb=["192.0.2.11"]),
            slice_("open", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")]),
            svc("empty", "10.96.0.47", [P("http", "TCP", 80, 80, 30006)], "LoadBalancer", lb=["192.0.2.12"]),
        ])
        pods = ("pod1", "pod2")
        self.run_flows([
            flow("allowed source (the LB's range)", "elb", "192.0.2.10", 80, to(*pods, masq=True)),
            flow("allowed source to the second LB IP", "elb", "192.0.2.13", 80, to(*pods, masq=True)),
            flow("denied source: DROP", "ext", "192.0.2.10", 80, DROP),
            flow("denied source to the second LB IP: DROP", "ext", "192.0.2.13", 80, DROP),
            flow("node (range holds the node IP)", "node", "192.0.2.10", 80, to(*pods, masq=True)),
            flow("pod to LB IP (not in the ranges): DROP", "client", "192.0.2.10", 80, DROP),
            flow("node port ignores source ranges", "ext", NODE_IP, 30004, to(*pods, masq=True)),
            flow("cluster IP ignores source ranges", "client", "10.96.0.45", 80, to(*pods)),
            flow("LB without ranges from outside", "ext", "192.0.2.11", 80, to("pod1", "remote", masq=True)),
            flow("LB without ranges from a pod", "client", "192.0.2.11", 80, to("pod1", "remote", masq=True)),
            flow("LB, no endpoints: REJECT", "ext", "192.0.2.12", 80, REJECT),
            flow("LB, other port: not intercepted", "node", "192.0.2.11", 81, to("outside")),
        ])

    def test_load_balancer_invalid_source_range_denies_all(self):
        self.apply([
            svc("svc1", "10.96.0.45", [P("http", "TCP", 80, 80, 30004)], "LoadBalancer", lb=["192.0.2.10"],
                ranges=["not-a-cidr"]),
            slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready")]),
        ])
        self.run_flows([
            flow("any source: DROP", "elb", "192.0.2.10", 80, DROP),
            flow("node port still open", "ext", NODE_IP, 30004, to("pod1", masq=True)),
        ])

    def test_external_traffic_policy_local(self):  # TestExternalTrafficPolicyLocal, TestOnlyLocalExternalIPs,
        # TestHealthCheckNodePort
        def lb(name, cip, lb_ip, ext_ip, np, hc):
            return svc(name, cip, [P("http", "TCP", 80, 80, np)], "LoadBalancer", etp="Local", lb=[lb_ip],
                       external_ips=[ext_ip], hc_port=hc)
        self.apply([
            lb("with-local", "10.96.0.48", "192.0.2.20", "192.0.2.60", 30007, 30100),
            slice_("with-local", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")]),
            lb("remote-only", "10.96.0.49", "192.0.2.21", "192.0.2.61", 30008, 30101),
            slice_("remote-only", [("http", "TCP", 80)], [("remote", "ready")]),
            lb("none", "10.96.0.50", "192.0.2.22", "192.0.2.62", 30009, None),
        ])
        self.run_flows([
            flow("LB from outside: local endpoint, source kept", "ext", "192.0.2.20", 80, to("pod1")),
            flow("LB from the ELB: local endpoint, source kept", "elb", "192.0.2.20", 80, to("pod1")),
            flow("external IP from outside: local, source kept", "ext", "192.0.2.60", 80, to("pod1")),
            flow("node port from outside: local, source kept", "ext", NODE_IP, 30007, to("pod1")),
            flow("LB from a pod: short-circuit to all endpoints", "client", "192.0.2.20", 80,
                 to("pod1", "remote")),
            flow("LB from a pod on another node: all endpoints", "remote", "192.0.2.20", 80,
                 to("pod1", "remote", masq={"pod1": False, "remote": True})),
            flow("LB from the node: all endpoints, masqueraded", "node", "192.0.2.20", 80,
                 to("pod1", "remote", masq={"pod1": True, "remote": None})),
            flow("cluster IP unaffected", "client", "10.96.0.48", 80, to("pod1", "remote")),
            flow("pod to external IP: all endpoints, unmasqueraded", "client", "192.0.2.60", 80,
                 to("pod1", "remote")),
            flow("pod to node port: all endpoints, unmasqueraded", "client", NODE_IP, 30007, to("pod1", "remote")),
            flow("pod on another node to node port: short-circuit too", "remote", NODE_IP, 30007,
                 to("pod1", "remote", masq={"pod1": False, "remote": True})),
            flow("no local endpoint: LB from outside DROP", "ext", "192.0.2.21", 80, DROP),
            flow("no local endpoint: node port DROP", "ext", NODE_IP, 30008, DROP),
            flow("no local endpoint: external IP DROP", "ext", "192.0.2.61", 80, DROP),
            flow("no local endpoint: a pod still reaches", "client", "192.0.2.21", 80, to("remote")),
            flow("no local endpoint: the node still reaches", "node", "192.0.2.21", 80, to("remote", masq=None)),
            flow("no local endpoint: the node reaches the external IP", "node", "192.0.2.61", 80,
                 to("remote", masq=None)),
            flow("no local endpoint: a pod reaches the external IP", "client", "192.0.2.61", 80, to("remote")),
            flow("no endpoints at all: LB REJECT", "ext", "192.0.2.22", 80, REJECT),
            flow("no endpoints at all: node port REJECT", "ext", NODE_IP, 30009, REJECT),
            flow("health check node port: not intercepted", "ext", NODE_IP, 30100, to("node")),
            flow("health check node port from the node: not intercepted", "node", NODE_IP, 30101, to("node")),
        ])

    def test_external_traffic_policy_cluster(self):  # TestExternalTrafficPolicyCluster
        self.apply([
            svc("svc1", "10.96.0.51", [P("http", "TCP", 80, 80, 30010)], "LoadBalancer", lb=["192.0.2.23"],
                external_ips=["192.0.2.63"]),
            slice_("svc1", [("http", "TCP", 80)], [("pod2", "ready"), ("remote", "ready")]),
        ])
        both = ("pod2", "remote")
        self.run_flows([
            flow("LB from outside: every endpoint, masqueraded", "ext", "192.0.2.23", 80, to(*both, masq=True)),
            flow("node port from outside", "ext", NODE_IP, 30010, to(*both, masq=True)),
            flow("external IP from outside", "ext", "192.0.2.63", 80, to(*both, masq=True)),
            flow("LB from a pod", "client", "192.0.2.23", 80, to(*both, masq=True)),
            flow("pod to cluster IP: unmasqueraded", "client", "10.96.0.51", 80, to(*both)),
            flow("pod to external IP: masqueraded", "client", "192.0.2.63", 80, to(*both, masq=True)),
            flow("pod to node port: masqueraded", "client", NODE_IP, 30010, to(*both, masq=True)),
        ])

    def test_internal_traffic_policy(self):  # TestInternalTrafficPolicy
        self.apply([
            svc("with-local", "10.96.0.52", [P("http", "TCP", 80, 80)], itp="Local"),
            slice_("with-local", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")]),
            svc("remote-only", "10.96.0.53", [P("http", "TCP", 80, 80)], itp="Local"),
            slice_("remote-only", [("http", "TCP", 80)], [("remote", "ready")]),
            svc("both-local", "10.96.0.54", [P("http", "TCP", 80, 80, 30011)], "LoadBalancer", etp="Local",
                itp="Local", lb=["192.0.2.24"]),
            slice_("both-local", [("http", "TCP", 80)], [("pod2", "ready"), ("remote", "ready")]),
        ])
        self.run_flows([
            flow("only local endpoints", "client", "10.96.0.52", 80, to("pod1")),
            flow("from the node: local only, masqueraded", "node", "10.96.0.52", 80, to("pod1", masq=True)),
            flow("off-cluster source: local only, masqueraded", "ext", "10.96.0.52", 80, to("pod1", masq=True)),
            flow("no local endpoints: DROP", "client", "10.96.0.53", 80, DROP),
            flow("both Local: cluster IP local only", "client", "10.96.0.54", 80, to("pod2")),
            flow("both Local: LB from outside local only", "ext", "192.0.2.24", 80, to("pod2")),
            flow("both Local: LB from a pod, every endpoint", "client", "192.0.2.24", 80, to("pod2", "remote")),
        ])

    def test_terminating_endpoints(self):  # TestTerminatingEndpointsTrafficPolicyCluster/Local
        self.apply([
            svc("fallback", "10.96.0.55", [P("http", "TCP", 80, 80)]),
            slice_("fallback", [("http", "TCP", 80)], [("pod1", "serving-terminating"), ("pod2", "terminating")]),
            svc("mixed", "10.96.0.56", [P("http", "TCP", 80, 80)]),
            slice_("mixed", [("http", "TCP", 80)], [("pod1", "serving-terminating"), ("pod2", "ready")]),
            svc("dead", "10.96.0.57", [P("http", "TCP", 80, 80)]),
            slice_("dead", [("http", "TCP", 80)], [("pod1", "terminating")]),
            svc("local", "10.96.0.58", [P("http", "TCP", 80, 80, 30012)], "LoadBalancer", etp="Local",
                lb=["192.0.2.25"]),
            slice_("local", [("http", "TCP", 80)], [("pod1", "serving-terminating"), ("remote", "ready")]),
        ])
        self.run_flows([
            flow("serving terminating used when none ready", "client", "10.96.0.55", 80, to("pod1")),
            flow("ready preferred over terminating", "client", "10.96.0.56", 80, to("pod2")),
            flow("not serving: no endpoints, REJECT", "client", "10.96.0.57", 80, REJECT),
            flow("Local: local serving-terminating used from outside", "ext", NODE_IP, 30012, to("pod1")),
            flow("Local: LB from outside the same", "ext", "192.0.2.25", 80, to("pod1")),
            flow("Local: cluster IP uses the ready remote", "client", "10.96.0.58", 80, to("remote")),
        ])

    def _terminating_table(self, etp, cases):
        for label, endpoints, pod_want, ext_want in cases:
            with self.subTest(f"eTP:{etp}: {label}"):
                objs = [svc("svc1", "10.96.0.81", [P("p80", "TCP", 80, 80, 30005)], "LoadBalancer", etp=etp,
                            lb=["192.0.2.81"], hc_port=30100 if etp == "Local" else None)]
                if endpoints:
                    objs.append(slice_("svc1", [("p80", "TCP", 80)], endpoints))
                self.apply(objs)
                self.run_flows([flow(f"eTP:{etp}: {label}: pod to cluster IP", "client", "10.96.0.81", 80, pod_want),
                                flow(f"eTP:{etp}: {label}: external to LB", "ext", "192.0.2.81", 80, ext_want)])

    def test_terminating_endpoints_traffic_policy_local(self):  # TestTerminatingEndpointsTrafficPolicyLocal
        self._terminating_table("Local", [
            ("ready endpoints exist", [("pod1", "ready"), ("pod2", "serving-terminating"), ("remote", "ready")],
             to("pod1", "remote"), to("pod1")),
            ("only terminating endpoints exist (locally)",
             [("pod1", "serving-terminating"), ("pod2", "terminating"), ("remote", "ready")],
             to("remote"), to("pod1")),
            ("terminating endpoints on remote node", [("remote", "serving-terminating")], to("remote"), DROP),
            ("no usable endpoints on any node", [("pod1", "terminating"), ("remote", "terminating")], REJECT, REJECT),
            ("endpoints deleted", [], REJECT, REJECT),
        ])

    def test_terminating_endpoints_traffic_policy_cluster(self):  # TestTerminatingEndpointsTrafficPolicyCluster
        self._terminating_table("Cluster", [
            ("ready endpoints exist", [("pod1", "ready"), ("pod2", "serving-terminating"), ("remote", "ready")],
             to("pod1", "remote"), to("pod1", "remote", masq=True)),
            ("only terminating endpoints exist",
             [("pod1", "serving-terminating"), ("pod2", "terminating"), ("remote", "serving-terminating")],
             to("pod1", "remote"), to("pod1", "remote", masq=True)),
            ("terminating endpoints on remote node", [("remote", "serving-terminating")], to("remote"),
             to("remote", masq=True)),
            ("no usable endpoints on any node", [("pod1", "terminating"), ("remote", "terminating")], REJECT, REJECT),
            ("endpoints deleted", [], REJECT, REJECT),
        ])

    def test_session_affinity(self):  # TestSessionAffinity / ClientIP affinity
        self.apply([
            svc("svc1", "10.96.0.59", [P("http", "TCP", 80, 80, 30003)], "NodePort", affinity=True),
            slice_("svc1", [("http", "TCP", 80)], [("pod1", "ready"), ("pod2", "ready"), ("remote", "ready")]),
        ])
        three = ("pod1", "pod2", "remote")
        self.run_flows([
            flow("a pod sticks to one endpoint", "client", "10.96.0.59", 80, to(*three, one=True)),
            flow("another pod sticks to one endpoint", "pod2", "10.96.0.59", 80,
                 to(*three, one=True, masq={"pod1": False, "pod2": True, "remote": False})),
            flow("node port from outside sticks", "ext", NODE_IP, 30003, to(*three, one=True, masq=True)),
        ])

    def test_pass_through_ingress(self):  # TestLoadBalancerIngressRouteTypeProxy + the ELB annotation
        self.apply([
            svc("annotated", "10.96.0.60", [P("http", "TCP", 80, 80, 30004)], "LoadBalancer", lb=["192.0.2.26"],
                ranges=["203.0.113.0/24"], annotations={"kubernetes.io/elb.pass-through": "true"}),
            slice_("annotated", [("http", "TCP", 80)], [("pod1", "ready")]),
            svc("proxy-mode", "10.96.0.61", [P("http", "TCP", 80, 80, 30005)], "LoadBalancer", etp="Local",
                lb=[("192.0.2.27", "Proxy"), "192.0.2.28", ("192.0.2.30", "VIP")]),
            slice_("proxy-mode", [("http", "TCP", 80)], [("remote", "ready")]),
            svc("no-endpoints", "10.96.0.62", [P("http", "TCP", 80, 80, 30006)], "LoadBalancer",
                lb=["192.0.2.29"], annotations={"kubernetes.io/elb.pass-through": "onlyLocal"}),
        ])
        self.run_flows([
            flow("annotated VIP from a pod: not intercepted", "client", "192.0.2.26", 80, to("outside")),
            flow("annotated VIP from the node: not intercepted", "node", "192.0.2.26", 80, to("outside")),
            flow("annotated: node port still works", "ext", NODE_IP, 30004, to("pod1", masq=True)),
            flow("annotated: cluster IP still works", "client", "10.96.0.60", 80, to("pod1")),
            flow("ipMode Proxy VIP from a pod: not intercepted", "client", "192.0.2.27", 80, to("outside")),
            flow("VIP-mode ingress of the same Service from a pod", "client", "192.0.2.28", 80, to("remote")),
            flow("VIP-mode ingress from outside, Local, none local: DROP", "ext", "192.0.2.28", 80, DROP),
            flow("explicit ipMode VIP from a pod: intercepted", "client", "192.0.2.30", 80, to("remote")),
            flow("ipMode Proxy: node port still programmed (Local: DROP)", "ext", NODE_IP, 30005, DROP),
            flow("pass-through without endpoints: VIP not intercepted", "client", "192.0.2.29", 80, to("outside")),
            flow("pass-through without endpoints: cluster IP REJECT", "client", "10.96.0.62", 80, REJECT),
            flow("pass-through without endpoints: node port REJECT", "ext", NODE_IP, 30006, REJECT),
        ])


class UpstreamFlowTablesLegacyTest(UpstreamFlowTablesTest):
    """The same tables with iptables-legacy."""
    variant = "legacy"


class UpstreamFlowTablesIPv6Test(FlowTestBase):
    """IPv6 (ip6tables) on the dual-stack node: IPv6 cluster IPs with IPv6 EndpointSlices."""

    def test_ipv6_cluster_ip_node_port_and_lb(self):
        self.apply([
            svc("svc6", "fd00:10:96::41", [P("http", "TCP", 80, 80, 30001), P("dns", "UDP", 53, 5353)],
                "LoadBalancer", lb=["2001:db8:2::10"], external_ips=["2001:db8:2::50"]),
            slice_("svc6", [("http", "TCP", 80), ("dns", "UDP", 5353)], [("pod1", "ready"), ("remote", "ready")],
                   family=6),
            svc("empty6", "fd00:10:96::42", [P("http", "TCP", 80, 80, 30002)], "NodePort"),
            svc("local6", "fd00:10:96::43", [P("http", "TCP", 80, 80, 30007)], "LoadBalancer", etp="Local",
                lb=["2001:db8:2::11"], hc_port=30100),
            slice_("local6", [("http", "TCP", 80)], [("pod1", "ready"), ("remote", "ready")], family=6),
            svc("remote6", "fd00:10:96::44", [P("http", "TCP", 80, 80, 30008)], "LoadBalancer", etp="Local",
                lb=["2001:db8:2::12"]),
            slice_("remote6", [("http", "TCP", 80)], [("remote", "ready")], family=6),
            svc("pt6", "fd00:10:96::45", [P("http", "TCP", 80, 80, 30009)], "LoadBalancer", lb=["2001:db8:2::13"],
                annotations={"kubernetes.io/elb.pass-through": "true"}),
            slice_("pt6", [("http", "TCP", 80)], [("pod2", "ready")], family=6),
            # An IPv4 twin in the same run: both families are programmed.
            svc("svc4", "10.96.0.41", [P("http", "TCP", 80, 80)]),
            slice_("svc4", [("http", "TCP", 80)], [("pod2", "ready")]),
        ])
        both = ("pod1", "remote")
        self.run_flows([
            flow("pod to IPv6 cluster IP", "client", "fd00:10:96::41", 80, to(*both)),
            flow("UDP over IPv6", "client", "fd00:10:96::41", 53, to(*both), proto="udp"),
            flow("hairpin over IPv6", "pod1", "fd00:10:96::41", 80, to(*both, masq={"pod1": True, "remote": False})),
            flow("node to IPv6 cluster IP", "node", "fd00:10:96::41", 80, to(*both, masq={"pod1": True,
                                                                                       "remote": None})),
            flow("off-cluster source to IPv6 cluster IP", "ext", "fd00:10:96::41", 80, to(*both, masq=True)),
            flow("IPv6 unknown port: not intercepted", "client", "fd00:10:96::41", 81, to("outside")),
            flow("IPv6 LB from outside", "ext", "2001:db8:2::10", 80, to(*both, masq=True)),
            flow("IPv6 external IP from outside", "ext", "2001:db8:2::50", 80, to(*both, masq=True)),
            flow("IPv6 node port", "ext", NODE_IP6, 30001, to(*both, masq=True)),
            flow("no localhost node ports on IPv6", "node", "::1", 30001, to("node")),
            flow("IPv6 no endpoints: REJECT", "client", "fd00:10:96::42", 80, REJECT),
            flow("IPv6 node port no endpoints: REJECT", "ext", NODE_IP6, 30002, REJECT),
            flow("IPv6 Local LB from outside: source kept", "ext", "2001:db8:2::11", 80, to("pod1")),
            flow("IPv6 Local node port: source kept", "ext", NODE_IP6, 30007, to("pod1")),
            flow("IPv6 Local, none local: DROP", "ext", "2001:db8:2::12", 80, DROP),
            flow("IPv6 Local, none local, from a pod", "client", "2001:db8:2::12", 80, to("remote")),
            flow("IPv6 health check node port: not intercepted", "ext", NODE_IP6, 30100, to("node")),
            flow("IPv6 pass-through LB VIP from a pod: not intercepted", "client", "2001:db8:2::13", 80,
                 to("outside")),
            flow("IPv6 pass-through LB VIP from the node: not intercepted", "node", "2001:db8:2::13", 80,
                 to("outside")),
            flow("IPv6 pass-through: cluster IP still works", "client", "fd00:10:96::45", 80, to("pod2")),
            flow("IPv6 pass-through: node port still works", "ext", NODE_IP6, 30009, to("pod2", masq=True)),
            flow("IPv4 twin", "client", "10.96.0.41", 80, to("pod2")),
        ])


class UpstreamFlowTablesIPv6LegacyTest(UpstreamFlowTablesIPv6Test):
    variant = "legacy"


if __name__ == "__main__":
    unittest.main()
