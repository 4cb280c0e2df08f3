#!/usr/bin/env python3
"""Credentials from the kubeconfig (bearer token, client key) never reach kube-proxy's output, even
at -v=10: the daemon runs against test/api/fake_apiserver.py (HTTPS, token and client-certificate
auth) in a network namespace until it has programmed the Service, and its whole log is searched
for the secrets (raw, base64 and PEM forms).

Skipped (a failure under CI=true) while the binary is not built or not root."""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import json
import unittest

import robustness_util as ru

FAKE = os.path.join(ru.HERE, "..", "api", "fake_apiserver.py")
TOKEN = "kproxy-robust-SECRET-token-5f1e2d3c4b5a69788796a5b4c3d2e1f0"
KPROXY = None


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def setUpModule():
    global KPROXY
    KPROXY = ru.kube_proxy_or_skip()
    if not shutil.which("openssl") or not shutil.which("curl"):
        raise unittest.SkipTest("openssl/curl missing")


class CredentialsNotLoggedTest(unittest.TestCase):
    def setUp(self):
        self.ns = f"kptrob{os.getpid()}-api"
        self.tmp = tempfile.mkdtemp(prefix="kproxy-robust-api-")
        self.procs = []
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.addCleanup(self.cleanup)
        self.ip("ip", "link", "set", "lo", "up")

    def cleanup(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)
        pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        shutil.rmtree(self.tmp, True)

    def ip(self, *argv, check=True):
        return subprocess.run(["ip", "netns", "exec", self.ns] + list(argv), capture_output=True, text=True,
                              check=check, timeout=30)

    def test_token_and_client_key_never_logged_at_v10(self):
        fake = subprocess.Popen(["ip", "netns", "exec", self.ns, ru.netns_lab.PYTHON, FAKE, "--tls-dir", self.tmp,
                                 "--token", TOKEN, "--bookmark-interval", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.procs.append(fake)
        line = fake.stdout.readline()
        self.assertTrue(line.startswith("PORT "), f"fake apiserver did not start: {line!r}")
        url = f"https://127.0.0.1:{int(line.split()[1])}"

        def apply(obj):
            self.ip("curl", "-sf", "--cacert", os.path.join(self.tmp, "ca.crt"), "-X", "POST", "-d", json.dumps(obj),
                    url + "/_control/apply")
        svc = ru.service("web", "10.96.0.10")
        svc["metadata"]["resourceVersion"] = "1"
        apply(svc)
        apply(ru.endpoint_slice("web", ["10.0.0.5"]))
        apply({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-a"},
               "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]}})

        key_pem = read(os.path.join(self.tmp, "client.key"))
        cert_pem = read(os.path.join(self.tmp, "client.crt"))
        key_b64 = base64.b64encode(key_pem.encode()).decode()
        kubeconfig = os.path.join(self.tmp, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                    f"clusters:\n- name: k\n  cluster:\n    server: {url}\n"
                    f"    certificate-authority: {os.path.join(self.tmp, 'ca.crt')}\n"
                    "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                    "users:\n- name: u\n  user:\n"
                    f"    token: {TOKEN}\n"
                    f"    client-certificate-data: {base64.b64encode(cert_pem.encode()).decode()}\n"
                    f"    client-key-data: {key_b64}\n")
        log_path = os.path.join(self.tmp, "kube-proxy.log")
        with open(log_path, "w") as log:
            kp = subprocess.Popen(["ip", "netns", "exec", self.ns, KPROXY, "--kubeconfig", kubeconfig,
                                   "--hostname-override", "node-a", "--proxy-mode", "iptables",
                                   "--iptables-variant=nft", "--conntrack-max-per-core=0", "-v=10"],
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(kp)
        try:
            ru.wait_for("the Service's rules", lambda: "10.96.0.10" in self.ip(
                "iptables-nft-save", "-t", "nat", check=False).stdout or kp.poll() is not None, 40)
            time.sleep(2)  # a few watch round trips and bookmarks at -v=10
        finally:
            if kp.poll() is None:
                os.killpg(kp.pid, signal.SIGTERM)
                kp.wait(10)
        log = read(log_path)
        self.assertIn("10.96.0.10", self.ip("iptables-nft-save", "-t", "nat").stdout,
                      f"kube-proxy did not program the Service:\n{log[-3000:]}")
        self.assertGreater(len(log.splitlines()), 20, "-v=10 should log plenty")
        key_body = [l for l in key_pem.splitlines() if l and not l.startswith("-----")]
        secrets = {"token": TOKEN, "token prefix": TOKEN[:24], "client-key-data": key_b64[:40],
                   "PEM key line": key_body[1] if len(key_body) > 1 else key_body[0],
                   "token base64": base64.b64encode(TOKEN.encode()).decode()[:24]}
        leaked = [name for name, s in secrets.items() if s in log]
        self.assertEqual(leaked, [], f"credentials in the -v=10 log: {leaked}")


if __name__ == "__main__":
    unittest.main()
