#!/usr/bin/env python3
"""scripts/demo end to end: `scripts/demo --ci` with the built kube-proxy must exit 0 with the four
rows of the seed document's check (pass-through via the ELB 0 -> 1, annotation removed answered in
the node with the ELB unchanged, annotation back +1, ipMode: Proxy +1), and leave nothing behind,
also when it is stopped with SIGTERM half-way.

Skipped (marker KPROXY-KERNEL-SUITE-SKIPPED) while the kube-proxy binary is not built.
"""
import os
import re
import signal
import subprocess
import time
import unittest

import kernel_test_util as util
import netns_lab

DEMO = os.path.join(util.REPO, "scripts", "demo")
KPROXY = None

# "  1  elb.pass-through: ... (seed)  none  0  200 "Welcome to nginx!"  pod2 (203.0.113.10)  1 (+1)  ok: via the ELB"
ROW = re.compile(r"^  (\d)  (.+?)\s{2,}(none|DNAT)\s+(\d+)\s+(\d{3}) \"(.*?)\"\s+(pod[12]) \((\S+)\)\s+"
                 r"(\d+) \(([+-]\d+)\)\s+(ok: .*|FAILED: .*)$")


def setUpModule():
    global KPROXY
    KPROXY = util.kube_proxy_or_skip_suite()


def demo_env():
    return dict(os.environ, KPROXY_BIN=KPROXY, PYTHONDONTWRITEBYTECODE="1")


def namespaces_with(prefix):
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [l.split()[0] for l in out.splitlines() if l.startswith(prefix)]


def lab_prefix(output):
    m = re.search(r"\(netns (kptlab\d+-\d+-)node\)", output)
    return m.group(1) if m else None


def processes_mentioning(text):
    """PIDs whose command line contains text (the demo's temp dir is in every daemon's argv)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


class DemoTest(unittest.TestCase):
    def test_ci_run_holds_every_row_of_the_seed_check_and_cleans_up(self):
        p = subprocess.run([DEMO, "--ci"], capture_output=True, text=True, timeout=240, env=demo_env(),
                           stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        rows = {}
        for line in p.stdout.splitlines():
            m = ROW.match(line)
            if m:
                rows[int(m.group(1))] = m.groups()
        self.assertEqual(sorted(rows), [1, 2, 3, 4], out)
        for n, (_, state, rule, before, status, title, pod, peer, after, delta, verdict) in rows.items():
            self.assertEqual((status, title), ("200", "Welcome to nginx!"), f"row {n}:\n{out}")
            self.assertTrue(verdict.startswith("ok: "), f"row {n}:\n{out}")
            self.assertEqual(int(after) - int(before), int(delta), f"row {n}:\n{out}")
        # Row 1 is the document's 0 -> 1 through the ELB, the source the Pod saw being the ELB's.
        self.assertEqual(rows[1][2:4], ("none", "0"), out)
        self.assertEqual((rows[1][8], rows[1][9], rows[1][7]), ("1", "+1", netns_lab.ELB_IP), out)
        # Row 2: a local rule, answered in the node, the ELB count unchanged.
        self.assertEqual((rows[2][2], rows[2][9]), ("DNAT", "+0"), out)
        self.assertNotEqual(rows[2][7], netns_lab.ELB_IP, out)
        # Rows 3 and 4: no rule, +1 each.
        for n in (3, 4):
            self.assertEqual((rows[n][2], rows[n][9], rows[n][7]), ("none", "+1", netns_lab.ELB_IP), out)
        self.assertIn("ipMode: Proxy", rows[4][1])
        self.assertIn("demo: OK", p.stdout)
        prefix = lab_prefix(p.stdout)
        self.assertIsNotNone(prefix, out)
        self.assertEqual(namespaces_with(prefix), [])

    def test_sigterm_half_way_removes_namespaces_and_daemons(self):
        p = subprocess.Popen([DEMO, "--ci"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=demo_env(), stdin=subprocess.DEVNULL, start_new_session=True)
        out = ""
        deadline = time.time() + 60
        # The daemon line is printed once nginx, haproxy and kube-proxy are all running.
        while time.time() < deadline and "runs, as a daemon" not in out:
            line = p.stdout.readline()
            if not line:
                break
            out += line
        out += p.stdout.readline() + p.stdout.readline()  # the command line and the objects dir
        prefix = lab_prefix(out)
        tmp = re.search(r"\((/\S+)/objects\)", out)
        self.assertIsNotNone(prefix, out)
        self.assertIsNotNone(tmp, out)
        self.assertTrue(namespaces_with(prefix), out)
        self.assertTrue(processes_mentioning(tmp.group(1)), "nginx/kube-proxy not found running")
        os.kill(p.pid, signal.SIGTERM)
        rest, _ = p.communicate(timeout=60)
        out += rest
        self.assertEqual(p.returncode, 128 + signal.SIGTERM, out)
        self.assertIn("cleaned up", out)
        self.assertEqual(namespaces_with(prefix), [])
        self.assertEqual(processes_mentioning(tmp.group(1)), [], out)
        self.assertFalse(os.path.exists(tmp.group(1)), out)

    def test_ipvs_mode_without_the_vm_driver_names_the_fix(self):
        # The full IPVS run is the VM tier's (vm_ipvs_pass_through); here only its refusal.
        env = dict(demo_env(), KPROXY_VM_DRIVER="/nonexistent/ipvs_vm_driver")
        p = subprocess.run([DEMO, "--mode", "ipvs"], capture_output=True, text=True, timeout=30, env=env,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("/nonexistent/ipvs_vm_driver is not built", p.stdout)
        self.assertIn("scripts/build.sh", p.stdout)

    def test_missing_binary_names_the_fix(self):
        env = dict(demo_env(), KPROXY_BIN="/nonexistent/kube-proxy")
        p = subprocess.run([DEMO, "--ci"], capture_output=True, text=True, timeout=30, env=env,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("scripts/build.sh", p.stdout)


if __name__ == "__main__":
    unittest.main()
