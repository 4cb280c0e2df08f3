#!/usr/bin/env python3
"""Kernel faults under a running kube-proxy (iptables mode, real netfilter in a network namespace):
iptables-restore missing from PATH, rejecting its input, or blocked by a held xtables lock; and
another agent flushing the nat table. In each case the rules already installed stay and keep
working, failures are counted in /metrics, retries are rate limited, /healthz turns 503 once a
queued change is older than the health timeout (2 x --iptables-sync-period), and everything
recovers (200, rules rewritten) once the fault is gone.

Skipped as a whole (a failure under CI=true) while the binary is not built.
"""
import fcntl
import os
import shutil
import time
import unittest

import robustness_util as ru
from robustness_util import POD1, POD2, wait_for

SYNC_PERIOD = 1.0  # seconds; health timeout = 2 s
RESTORE_FAILURES = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total"
SYNC_FAILURES = "kubeproxy_sync_proxy_rules_failures_total"
CLIENT = "client"
KPROXY = None


def setUpModule():
    global KPROXY
    KPROXY = ru.kube_proxy_or_skip()


class KernelFaultsTest(unittest.TestCase):
    variant = "nft"

    def setUp(self):
        if not shutil.which(f"iptables-{self.variant}-restore"):
            self.skipTest(f"iptables-{self.variant} not installed")
        self.lab = ru.netns_lab.Lab(ipv6=False, haproxy=False, listeners=True)
        self.lab.setup()
        self.addCleanup(self.lab.close)
        ru.util.flush_node(self.lab)
        self.objects = ru.ObjectsDir()
        self.addCleanup(self.objects.close)
        self.tools = ru.ToolDir(self.variant)
        self.addCleanup(self.tools.close)
        self.objects.write("node", ru.node_a())
        self.objects.write("web-svc", ru.service("web", "10.96.0.50"))
        self.objects.write("web-slice", ru.endpoint_slice("web", [POD1, POD2]))
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.stop()
            if os.environ.get("KPROXY_ROBUST_SHOW_LOG") or not self._outcome.success:
                print("kube-proxy log (tail):\n" + self.daemon.log()[-6000:])

    def start_daemon(self, env=None):
        self.daemon = ru.Daemon(self.lab, KPROXY, self.objects.path, self.variant, path=self.tools.env_path(),
                                extra=[f"--iptables-sync-period={int(SYNC_PERIOD * 1000)}ms",
                                       "--iptables-min-sync-period=0s", "-v=2"], env=env)
        wait_for("kube-proxy healthy", lambda: self.healthz() == 200 or not self.daemon.alive() and "dead", 30)
        self.assertTrue(self.daemon.alive(), self.daemon.log()[-3000:])
        wait_for("web's service chain", lambda: self.web_chains(), 20)

    def healthz(self):
        return ru.http_get(self.lab, f"http://{ru.HEALTHZ}/healthz")[0]

    def nat(self):
        return self.lab.iptables_save(self.variant, 4, "nat")

    def web_chains(self):
        return {c: r for c, r in ru.kube_chains(self.nat()).items() if c.startswith(("KUBE-SVC-", "KUBE-SEP-"))}

    def web_answers(self):
        ok, reply = self.lab.request(CLIENT, "tcp", "10.96.0.50", 80, timeout=2)
        return ok and reply.split()[0] in ("pod1", "pod2")

    def failures(self, metric=RESTORE_FAILURES):
        return ru.metric(self.lab, metric) or 0.0

    def change_web(self, generation):
        # A change of the rules (one more port; annotations alone change nothing) so a sync is queued:
        # health then judges how old it is.
        extra = [(8000 + generation, 8080)]
        self.objects.write("web-slice", ru.endpoint_slice("web", [POD1, POD2], extra_ports=extra))
        self.objects.write("web-svc", ru.service("web", "10.96.0.50", extra_ports=extra))

    def failed_syncs(self):
        return self.daemon.log().count("sync failed:")

    def fault_cycle(self, inject, repair, metric=RESTORE_FAILURES):
        self.start_daemon(getattr(self, "daemon_env", None))
        before = self.web_chains()
        self.assertTrue(self.web_answers(), "web must answer before the fault")
        base_metric = self.failures(metric) if metric else 0.0
        base_sync_failures = self.failures(SYNC_FAILURES)

        inject()
        self.change_web(1)
        wait_for("a failed sync", lambda: self.failed_syncs() > 0, 20)
        # A change that arrives while a sync runs is cleared by that sync's success (as upstream's
        # healthz does); a change made after a failed sync stays queued until a sync succeeds.
        self.change_web(2)
        t0, f0 = time.time(), self.failed_syncs()
        wait_for("/healthz 503", lambda: self.healthz() == 503, 20)
        self.assertEqual(self.web_chains(), before, "the installed rules must stay while restores fail")
        self.assertTrue(self.web_answers(), "the installed rules must keep working while restores fail")
        time.sleep(4)
        # Retries are rate limited (upstream retries after a sync period), not a busy loop.
        elapsed, failed = time.time() - t0, self.failed_syncs() - f0
        self.assertLessEqual(failed, elapsed / SYNC_PERIOD * 2 + 4,
                             f"{failed} failed syncs in {elapsed:.1f}s: retries do not back off")
        self.assertTrue(self.daemon.alive(), "kube-proxy must not exit on restore failures")
        if metric:
            # A sync under a held lock takes a while to fail (each iptables call waits 5 s, as upstream's).
            wait_for(f"{metric} counting the failures", lambda: self.failures(metric) > base_metric, 45)
        wait_for("failed syncs counted", lambda: self.failures(SYNC_FAILURES) > base_sync_failures, 45)

        repair()
        wait_for("/healthz 200 after repair", lambda: self.healthz() == 200, 20)
        wait_for("web's new port in the rules", lambda: "--dport 8002" in self.nat(), 10)
        self.assertTrue(self.web_answers(), "web answers after recovery")
        ok, reply = self.lab.request(CLIENT, "tcp", "10.96.0.50", 8002, timeout=2)
        self.assertTrue(ok, f"the change queued during the fault is applied after recovery: {reply}")
        # After a failure the next sync must be full (the partial state was lost).
        tail = self.daemon.log()[self.daemon.log().rfind("sync failed:"):]
        self.assertRegex(tail, r"Synced proxy rules in [^\n]*\(full", "the first sync after a failure is full")

    def use_the_restore_tool(self):
        # With iptables-nft, restores go straight to nf_tables over netlink and the tool is only the
        # fallback; these faults are the tool's, so they are tested with the direct writes off.
        self.daemon_env = {**(getattr(self, "daemon_env", None) or {}), "KPROXY_IPTABLES_NFT_DIRECT": "0"}

    def test_restore_binary_missing(self):
        self.use_the_restore_tool()
        self.fault_cycle(lambda: self.tools.remove("iptables-restore"),
                         lambda: self.tools.restore("iptables-restore"))

    def test_restore_rejects_the_input(self):
        self.use_the_restore_tool()
        self.fault_cycle(
            lambda: self.tools.replace_with_script(
                "iptables-restore", "cat >/dev/null\necho 'iptables-restore: line 2 failed' >&2\nexit 1"),
            lambda: self.tools.restore("iptables-restore"))

    def test_flushed_nat_table_is_repaired_within_a_sync_period(self):
        self.start_daemon()
        before = self.web_chains()
        # What firewalld does on reload: flush and delete every chain of the nat table.
        self.lab.exec("node", [f"iptables-{self.variant}", "-t", "nat", "-F"])
        self.lab.exec("node", [f"iptables-{self.variant}", "-t", "nat", "-X"])
        self.assertFalse(self.web_chains())
        t0 = time.time()
        wait_for("web's chains rewritten", lambda: self.web_chains() == before, 10 * SYNC_PERIOD + 5)
        took = time.time() - t0
        # The canary is checked every sync period; allow one more period plus a restore.
        self.assertLess(took, 3 * SYNC_PERIOD + 3, f"repair took {took:.1f}s")
        self.assertTrue(self.web_answers())
        self.assertEqual(self.healthz(), 200)



class KernelFaultsLegacyTest(KernelFaultsTest):
    variant = "legacy"

    def setUp(self):
        super().setUp()
        # iptables-legacy honours XTABLES_LOCKFILE: a private lock instead of the host's /run/xtables.lock.
        self.lockfile = os.path.join(self.lab.tmp, "xtables.lock")
        open(self.lockfile, "w").close()
        self.daemon_env = {"XTABLES_LOCKFILE": self.lockfile}
        self.lock_fd = None

    def start_daemon(self, env=None):
        super().start_daemon(self.daemon_env)

    def hold_lock(self):
        self.lock_fd = os.open(self.lockfile, os.O_RDWR)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)

    def release_lock(self):
        fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
        os.close(self.lock_fd)
        self.lock_fd = None

    def test_xtables_lock_held_past_the_wait(self):
        self.addCleanup(lambda: self.lock_fd is not None and self.release_lock())
        # The first iptables call of the sync to hit the lock fails it, usually the jump rules'
        # (before any restore, as upstream's): the sync-failure counter counts it; the
        # restore-failure counter only when the restore itself was the one refused.
        self.fault_cycle(self.hold_lock, self.release_lock, metric=SYNC_FAILURES)


if __name__ == "__main__":
    unittest.main()
