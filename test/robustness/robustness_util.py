"""Shared helpers of the robustness suites: a kube-proxy daemon (not --once) in the lab's node
namespace with a private PATH of iptables tools that a test can break and repair, and HTTP probes
of its /healthz and /metrics from inside the namespace."""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kernel"))

import kernel_test_util as util  # noqa: E402
import netns_lab  # noqa: E402
from netns_lab import NODE_IP  # noqa: E402

POD1, POD2 = netns_lab.PODS["pod1"][0], netns_lab.PODS["pod2"][0]
HEALTHZ = "127.0.0.1:10256"
METRICS = "127.0.0.1:10249"
TOOLS = ["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"]


kube_proxy_or_skip = util.kube_proxy_or_skip_suite


# ---- objects -----------------------------------------------------------------------------------
def node_a():
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-a", "labels": {"kubernetes.io/hostname": "node-a"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]}}


def service(name, cluster_ip, port=80, target=80, annotations=None, namespace="default", extra_ports=()):
    ports = [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target}]
    ports += [{"name": f"p{p}", "protocol": "TCP", "port": p, "targetPort": t} for p, t in extra_ports]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "annotations": annotations or {}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": name},
                     "ports": ports}}


def endpoint_slice(svc, endpoints, port=80, slice_name=None, namespace="default", extra_ports=()):
    """endpoints: [(ip, ready, serving, terminating)] or [ip]."""
    eps = []
    for e in endpoints:
        ip, ready, serving, terminating = (e, True, True, False) if isinstance(e, str) else e
        eps.append({"addresses": [ip], "nodeName": "node-a",
                    "conditions": {"ready": ready, "serving": serving, "terminating": terminating}})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name or f"{svc}-abcde", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": "http", "protocol": "TCP", "port": port}] +
                     [{"name": f"p{p}", "protocol": "TCP", "port": t} for p, t in extra_ports]}


class ObjectsDir:
    """A --objects folder; write() replaces one named file atomically (rename), so the polling
    file source never reads half a file."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="kproxy-robust-objects-")

    def write(self, name, obj):
        tmp = os.path.join(self.path, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.rename(tmp, os.path.join(self.path, f"{name}.json"))

    def remove(self, name):
        try:
            os.unlink(os.path.join(self.path, f"{name}.json"))
        except FileNotFoundError:
            pass

    def close(self):
        shutil.rmtree(self.path, True)


class ToolDir:
    """A private PATH entry holding the iptables tools of one variant under their plain and variant
    names (symlinks to the real ones), so a test can remove or replace one while the daemon runs."""

    def __init__(self, variant):
        self.variant = variant
        self.path = tempfile.mkdtemp(prefix="kproxy-robust-tools-")
        for tool in TOOLS:
            self.restore(tool)

    def real(self, tool):
        fam, _, suffix = tool.partition("-")
        name = f"{fam}-{self.variant}" + (f"-{suffix}" if suffix else "")
        return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")

    def _links(self, tool):
        fam, _, suffix = tool.partition("-")
        return [tool, f"{fam}-{self.variant}" + (f"-{suffix}" if suffix else "")]

    def restore(self, tool):
        for link in self._links(tool):
            p = os.path.join(self.path, link)
            if os.path.lexists(p):
                os.unlink(p)
            os.symlink(self.real(tool), p)

    def remove(self, tool):
        for link in self._links(tool):
            p = os.path.join(self.path, link)
            if os.path.lexists(p):
                os.unlink(p)

    def replace_with_script(self, tool, body):
        for link in self._links(tool):
            p = os.path.join(self.path, link)
            tmp = p + ".new"
            with open(tmp, "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(tmp, 0o755)
            os.rename(tmp, p)

    def env_path(self):
        # /usr/sbin and /sbin (where the real tools live) are left out on purpose.
        return f"{self.path}:/usr/bin:/bin"

    def close(self):
        shutil.rmtree(self.path, True)


class Daemon:
    """kube-proxy running in the node namespace of `lab` (own session, output to a file)."""

    def __init__(self, lab, binary, objects_dir, variant="nft", path=None, extra=(), env=None):
        self.lab = lab
        argv = ["env", f"PATH={path or os.environ.get('PATH', '')}"]
        for k, v in (env or {}).items():
            argv.append(f"{k}={v}")
        argv += [binary, "--proxy-mode=iptables", f"--objects={objects_dir}", "--hostname-override=node-a",
                 "--cluster-cidr=10.244.0.0/16", "--conntrack-max-per-core=0",
                 f"--iptables-variant={variant}", f"--healthz-bind-address={HEALTHZ}",
                 f"--metrics-bind-address={METRICS}"] + list(extra)
        self.argv = argv
        self.proc, self.log_path = lab.start("node", argv, f"kube-proxy-{time.time_ns()}.log")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


_HTTP = r"""
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=3)
    print(r.status); sys.stdout.write(r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode(errors="replace"))
except Exception as e:
    print(0); sys.stdout.write(repr(e))
"""


def http_get(lab, url):
    """(status, body) of GET url from the node namespace; status 0 when it could not connect."""
    p = lab.exec("node", [netns_lab.PYTHON, "-c", _HTTP, url], check=False, timeout=15)
    first, _, body = p.stdout.partition("\n")
    try:
        return int(first), body
    except ValueError:
        return 0, p.stdout + p.stderr


def metric(lab, name):
    """The sum of a metric's samples (all label sets), or None when it is absent."""
    status, body = http_get(lab, f"http://{METRICS}/metrics")
    if status != 200:
        return None
    total, seen = 0.0, False
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


def wait_for(what, fn, timeout=20.0, interval=0.2):
    """Polls fn() until truthy; returns its value, or raises AssertionError naming what."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def kube_chains(save_text):
    """{chain: [rules]} of the KUBE-* chains in iptables-save output (counters stripped)."""
    chains = {}
    for line in save_text.splitlines():
        if line.startswith(":KUBE-"):
            chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A KUBE-"):
            chains.setdefault(line.split()[1], []).append(line)
    return chains
