#!/usr/bin/env python3
"""Real-kernel tests of the direct nf_tables writer (IptablesNftWriter, via nft_writer_probe): the
same restore input applied with iptables-nft-restore in namespace A and with the writer in
namespace B must leave byte-identical tables — iptables-nft-save, nft --debug=netlink and a raw
netlink dump of every expression (nft_raw_dump.py) — for the planner's real full-sync output over
a rich generated cluster (dual-stack, NodePort, LB with source ranges, ETP Local, session affinity,
UDP, SCTP, externalIPs, Services without endpoints) and for a partial sync, IPv4 and IPv6.
Prints how many planner lines the translator rejected (they would fall back to iptables-nft-restore)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import kernel_test_util as util
import netns_lab
import nft_raw_dump

HERE = os.path.dirname(os.path.realpath(__file__))
TOOLS = {4: "iptables-nft", 6: "ip6tables-nft"}
NFT_FAMILY = {4: "ip", 6: "ip6"}

# What exists before kube-proxy's first sync (the jumps from the built-in chains), so both tables
# exist and the jump graph the kernel validates is the real one.
BASE = ("*nat\n"
        ":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
        "COMMIT\n"
        "*filter\n"
        ":KUBE-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-FIREWALL - [0:0]\n"
        "-A INPUT -j KUBE-FIREWALL\n"
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n"
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
        "COMMIT\n")


def writer_probe_path():
    p = os.environ.get("KPROXY_NFT_WRITER_PROBE", "")
    if not p:
        for build in ("build-nft", "build"):
            candidate = os.path.join(util.REPO, build, "bin", "nft_writer_probe")
            if os.access(candidate, os.X_OK):
                p = candidate
                break
    if not p or not os.access(p, os.X_OK):
        raise unittest.SkipTest("nft_writer_probe not built")
    return p


class Namespace:
    """A fresh, uniquely named network namespace, deleted on exit even when the test fails."""
    count = 0

    def __enter__(self):
        Namespace.count += 1
        self.name = f"nftw-{os.getpid()}-{Namespace.count}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        return False

    def run(self, argv, stdin=None, check=True):
        r = subprocess.run(["ip", "netns", "exec", self.name] + argv, input=stdin, capture_output=True,
                           text=True, timeout=600)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} in {self.name}: exit {r.returncode}: {r.stderr.strip()}")
        return r


def make_cluster(outdir):
    """bench/generate_cluster.py's 50 Services, made dual-stack and given every feature it lacks."""
    subprocess.run([sys.executable, os.path.join(util.REPO, "bench", "generate_cluster.py"), "-n", "50", "-m", "3",
                    outdir], check=True)
    load = lambda name: json.load(open(os.path.join(outdir, name)))
    services, slices, node = load("services.json"), load("endpointslices.json"), load("node.json")
    node["spec"]["podCIDRs"] = ["10.128.0.0/14", "fd00:10:128::/56"]
    node["status"]["addresses"].append({"type": "InternalIP", "address": "fd00:192:0:2::129"})
    by_service = lambda name: [e for e in slices["items"]
                               if e["metadata"]["labels"]["kubernetes.io/service-name"] == name]
    for i, svc in enumerate(services["items"]):
        spec, name = svc["spec"], svc["metadata"]["name"]
        if i % 3 == 0:  # dual-stack with IPv6 endpoints
            spec["ipFamilies"], spec["ipFamilyPolicy"] = ["IPv4", "IPv6"], "RequireDualStack"
            spec["clusterIPs"] = [spec["clusterIP"], "fd00:10:96::%x" % (i + 1)]
            for source in by_service(name)[:1]:
                v6 = json.loads(json.dumps(source))
                v6["metadata"]["name"] += "-v6"
                v6["metadata"]["uid"] += "-v6"
                v6["addressType"] = "IPv6"
                for j, endpoint in enumerate(v6["endpoints"]):
                    endpoint["addresses"] = ["fd00:10:244:%x::%x" % (i, j + 2)]
                slices["items"].append(v6)
            if svc.get("status", {}).get("loadBalancer"):
                svc["status"]["loadBalancer"]["ingress"].append({"ip": "fd00:203::%x" % (i + 1)})
                if "loadBalancerSourceRanges" in spec:
                    spec["loadBalancerSourceRanges"].append("fd00:198:51::/48")
        if i % 7 == 1:
            spec["externalIPs"] = ["198.51.100.%d" % (i + 1)]
        if i % 11 == 2:
            for port in spec["ports"]:
                port["protocol"] = "SCTP"
            for e in by_service(name):
                for port in e["ports"]:
                    port["protocol"] = "SCTP"
        if i % 13 == 4:
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 600}}
        if i % 17 == 5 and spec["type"] == "LoadBalancer":
            spec["loadBalancerSourceRanges"] = ["192.0.2.0/24", "203.0.113.0/25"]
        if i % 19 == 6:  # no endpoints: REJECT and DROP rules in filter
            slices["items"] = [e for e in slices["items"]
                               if e["metadata"]["labels"]["kubernetes.io/service-name"] != name]
    for name, value in (("services.json", services), ("endpointslices.json", slices), ("node.json", node)):
        json.dump(value, open(os.path.join(outdir, name), "w"))


def full_sync_inputs(kube_proxy, objects, extra_flags=()):
    """{4: input, 6: input} from kube-proxy --dry-run (its full-sync restore input per family)."""
    r = subprocess.run([kube_proxy, "--proxy-mode=iptables", f"--objects={objects}", "--dry-run",
                        "--hostname-override=node-a", "--cluster-cidr=10.128.0.0/14,fd00:10:128::/56",
                        *extra_flags], capture_output=True, text=True, timeout=120, check=True)
    text = r.stdout.split("=== what a full sync would write", 1)[1]
    out = {}
    for family, body in re.findall(r"^# IPv(4|6)\n(.*?)(?=^# IPv|\Z)", text, re.S | re.M):
        out[int(family)] = body
    return out


def partial_sync_input(full):
    """What a partial sync after an endpoint removal writes: KUBE-SERVICES flushed and re-added,
    one Service's SVC chain and surviving SEP chain rewritten, the removed endpoint's SEP chain
    flushed and deleted (-X). Also the filter table's KUBE-SERVICES."""
    nat = full.split("*nat\n", 1)[1]
    rules = [l for l in nat.splitlines() if l.startswith("-A ")]
    jumps = {}
    for line in rules:
        m = re.match(r"-A (KUBE-SVC-\S+) .*-j (KUBE-SEP-\S+)$", line)
        if m:
            jumps.setdefault(m.group(1), []).append(m.group(2))
    def referenced_only_from(sep, svc):
        return all(l.startswith((f"-A {svc} ", f"-A {sep} ")) for l in rules if sep in l)
    svc, seps = next((s, j) for s, j in jumps.items()
                     if len(j) >= 2 and referenced_only_from(j[1], s) and referenced_only_from(j[0], s))
    kept, removed = seps[0], seps[1]
    lines = ["*nat", ":KUBE-SERVICES - [0:0]", f":{svc} - [0:0]", f":{kept} - [0:0]", f":{removed} - [0:0]"]
    lines += [l for l in rules if l.startswith("-A KUBE-SERVICES ")]
    lines += [l for l in rules if l.startswith(f"-A {svc} ") and removed not in l]
    lines += [l for l in rules if l.startswith(f"-A {kept} ")]
    lines += [f"-X {removed}", "COMMIT"]
    filter_section = full.split("*filter\n", 1)[1].split("COMMIT\n", 1)[0]
    lines += ["*filter", ":KUBE-SERVICES - [0:0]"]
    lines += [l for l in filter_section.splitlines() if l.startswith("-A KUBE-SERVICES ")]
    lines += ["COMMIT"]
    return "\n".join(lines) + "\n", removed


def normalized_state(ns, family):
    """The three views of both tables, with what legitimately differs (dates, handles) removed."""
    views = {}
    save = ns.run([f"{TOOLS[family]}-save"]).stdout
    views["save"] = "\n".join(re.sub(r"\[\d+:\d+\]", "[0:0]", l) for l in save.splitlines()
                              if not l.startswith("#"))
    for table in ("nat", "filter"):
        debug = ns.run(["nft", "--debug=netlink", "list", "table", NFT_FAMILY[family], table]).stdout
        # "ip nat KUBE-SVC-X 12 11" -> "ip nat KUBE-SVC-X" (handle, position).
        views[f"nft {table}"] = "\n".join(re.sub(r"^(ip6? \S+ \S+)( \d+)+$", r"\1", l) for l in debug.splitlines())
        views[f"raw {table}"] = ns.run([sys.executable, os.path.join(HERE, "nft_raw_dump.py"), NFT_FAMILY[family],
                                        table]).stdout
    return views


class NftWriterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netns_lab.require_root()
        for tool in ("iptables-nft-restore", "ip6tables-nft-restore", "nft"):
            if not shutil.which(tool):
                raise unittest.SkipTest(f"{tool} not installed")
        cls.probe = writer_probe_path()
        cls.kube_proxy = util.kube_proxy_or_skip_suite()
        cls.tmp = tempfile.mkdtemp(prefix="kproxy-nftw-")
        objects = os.path.join(cls.tmp, "cluster")
        make_cluster(objects)
        for f in os.listdir(os.path.join(util.REPO, "manifests", "examples")):
            if f != "node-a.yaml":  # the generated node-a is the richer one
                shutil.copy(os.path.join(util.REPO, "manifests", "examples", f), objects)
        cls.full = full_sync_inputs(cls.kube_proxy, objects)
        # Other local-traffic detectors and masquerade-all give the other rule forms.
        cls.full_interface = full_sync_inputs(cls.kube_proxy, objects, [
            "--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=veth", "--masquerade-all"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, "tmp", ""), ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def coverage(self, family, name, text):
        r = subprocess.run([self.probe, str(family), "coverage", self.write(name, text)], capture_output=True,
                           text=True, check=True)
        print(f"\n[coverage IPv{family} {name}] {r.stdout.strip()}", file=sys.stderr)
        m = re.match(r"lines (\d+) translated (\d+) rejected (\d+)", r.stdout)
        return int(m.group(3))

    def assert_same_result(self, family, steps):
        """Applies each input with iptables-nft-restore in one namespace and with the writer in
        another (after the same BASE), and compares the tables after every step."""
        with Namespace() as a, Namespace() as b:
            for ns in (a, b):
                ns.run([f"{TOOLS[family]}-restore", "--noflush"], stdin=BASE)
            for name, text in steps:
                a.run([f"{TOOLS[family]}-restore", "--noflush", "--counters"], stdin=text)
                b.run([self.probe, str(family), "apply", self.write(name, text)])
                want, got = normalized_state(a, family), normalized_state(b, family)
                for view in want:
                    self.assertTrue(want[view].strip(), f"{view} is empty")
                    self.assertEqual(want[view], got[view], f"IPv{family} {name}: {view} differs")

    def check_family(self, family):
        full = self.full[family]
        partial, removed = partial_sync_input(full)
        rejected = sum(self.coverage(family, n, t) for n, t in (
            ("full", full), ("partial", partial), ("full-interface", self.full_interface[family])))
        self.assertEqual(rejected, 0, "planner lines the translator rejects would fall back to iptables-nft-restore")
        self.assertIn(f"-X {removed}", partial)
        self.assert_same_result(family, [(f"full{family}", full), (f"partial{family}", partial),
                                         (f"full-interface{family}", self.full_interface[family])])

    def test_ipv4_full_and_partial_sync_match_iptables_nft_restore(self):
        self.check_family(4)

    def test_ipv6_full_and_partial_sync_match_iptables_nft_restore(self):
        self.check_family(6)

    def test_hand_written_forms_match_iptables_nft_restore(self):
        # Forms the planner emits only with some flags, and edge cases of the encoding.
        text = ("*nat\n:KUBE-T - [0:0]\n:KUBE-U - [0:0]\n"
                "-A KUBE-T -d 10.0.0.1 -o eth0 -s 10.0.0.2 -i cni0 -p tcp -j RETURN\n"
                "-A KUBE-T -m comment --comment \"a b  c\" ! -p udp -j RETURN\n"
                "-A KUBE-T -m statistic --mode random --probability 0.0000100000 -j KUBE-U\n"
                "-A KUBE-T -m statistic --mode random --probability 0.9999999999 -j KUBE-U\n"
                "-A KUBE-T -m mark --mark 0x4000 -j RETURN\n"
                "-A KUBE-T ! -i veth+ -s 10.1.2.0/23 ! -d 10.0.0.0/8 -j RETURN\n"
                "-A KUBE-T -m recent --name X --mask 255.255.255.0 --rsource --update --seconds 5 -j RETURN\n"
                "-A KUBE-T -m recent --name Y --rdest --remove\n"
                "-A KUBE-T -m conntrack --ctstate NEW,UNTRACKED,SNAT -j RETURN\n"
                "-A KUBE-T -m addrtype ! --src-type LOCAL --dst-type LOCAL -j RETURN\n"
                "-A KUBE-T -j MARK --set-xmark 0x4000/0xffffffff\n"
                "-A KUBE-T -p udp -j DNAT --to-destination 10.0.0.1\n"
                "-A KUBE-T -j MASQUERADE\n"
                "-A KUBE-T -m mark --mark 0x4000/0xffffffff -j RETURN\n"
                "-A KUBE-T -s 0.0.0.0/0 -d 10.0.0.0/32 -j KUBE-U\n"
                "-X KUBE-U\n"
                "COMMIT\n")
        # -X of a chain still referenced fails in the kernel for both; drop it for the comparison.
        text = text.replace("-A KUBE-T -s 0.0.0.0/0 -d 10.0.0.0/32 -j KUBE-U\n", "")
        text = text.replace("-A KUBE-T -m statistic --mode random --probability 0.0000100000 -j KUBE-U\n", "")
        text = text.replace("-A KUBE-T -m statistic --mode random --probability 0.9999999999 -j KUBE-U\n",
                            "-A KUBE-T -m statistic --mode random --probability 0.9999999999 -j RETURN\n")
        self.assertEqual(self.coverage(4, "hand4", text), 0)
        self.assert_same_result(4, [("hand4", text)])

    def test_hand_written_ipv6_forms_match_ip6tables_nft_restore(self):
        text = ("*nat\n:KUBE-T - [0:0]\n:KUBE-U - [0:0]\n"
                "-A KUBE-T -s fd00::/57 ! -d ::1/128 -j KUBE-U\n"
                "-A KUBE-T -d fd00:1::/64 -i cni0 -m sctp -p sctp -j RETURN\n"
                "-A KUBE-T -m recent --name KUBE-SEP-ABC --mask ffff:ffff:ffff:ffff:: --rcheck --seconds 10 "
                "--reap -j RETURN\n"
                "-A KUBE-T -p tcp -j DNAT --to-destination fd00::1\n"
                "-A KUBE-T -p tcp -j DNAT --to-destination [fd00::1]\n"
                "-A KUBE-T -m comment --comment \"x y\" -j MASQUERADE --random-fully\n"
                "-A KUBE-T -m conntrack ! --ctstate INVALID -j RETURN\n"
                "COMMIT\n"
                "*filter\n:KUBE-V - [0:0]\n"
                "-A KUBE-V -m tcp -p tcp -d fd00::10 --dport 443 -j REJECT\n"
                "-A KUBE-V -m mark --mark 0x8000/0x8000 -j DROP\n"
                "COMMIT\n")
        self.assertEqual(self.coverage(6, "hand6", text), 0)
        self.assert_same_result(6, [("hand6", text), ("hand6-again", text)])

    def test_delete_chain_after_flushing_its_references(self):
        # The planner's stale-chain pattern: flush the chain, flush the referencing chain, -X.
        setup = ("*nat\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-B - [0:0]\n"
                 "-A KUBE-SVC-A -j KUBE-SEP-B\n-A KUBE-SEP-B -p tcp -j DNAT --to-destination 10.0.0.2:80\nCOMMIT\n")
        delete = "*nat\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-B - [0:0]\n-X KUBE-SEP-B\nCOMMIT\n"
        self.assert_same_result(4, [("setup", setup), ("delete", delete)])

    def test_kernel_error_names_the_line_and_changes_nothing(self):
        with Namespace() as ns:
            ns.run(["iptables-nft-restore", "--noflush"], stdin=BASE)
            before = normalized_state(ns, 4)
            text = "*nat\n:KUBE-SVC-NEW - [0:0]\n-A KUBE-SVC-NEW -j KUBE-SEP-MISSING\nCOMMIT\n"
            r = ns.run([self.probe, "4", "apply", self.write("bad", text)], check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("at input line 3 (-A KUBE-SVC-NEW -j KUBE-SEP-MISSING)", r.stderr)
            self.assertIn("ENOENT", r.stderr)
            self.assertIn("NEWRULE ip nat KUBE-SVC-NEW", r.stderr)
            self.assertEqual(normalized_state(ns, 4), before)

    def test_missing_table_is_a_failed_precondition(self):
        with Namespace() as ns:
            r = ns.run([self.probe, "6", "apply", self.write("empty", "*nat\n:KUBE-X - [0:0]\nCOMMIT\n")],
                       check=False)
            self.assertEqual(r.returncode, 4, r.stderr)
            self.assertIn("does not exist", r.stderr)


if __name__ == "__main__":
    unittest.main()
