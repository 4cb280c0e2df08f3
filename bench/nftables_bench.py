#!/usr/bin/env python3
"""nftables mode at scale: one endpoint added to / removed from an existing Service, and one
Service added / removed, at N Services x 10 endpoints, read from the daemon's own partial-sync
histogram (kubeproxy_sync_partial_proxy_rules_duration_seconds: plan + diff + encode + kernel
commit, no process started), plus the full sync and peak RSS.

Each N runs `kube-proxy --proxy-mode=nftables --objects=DIR` in a fresh network namespace with
metrics on 127.0.0.1; a change is a small extra file in DIR (an EndpointSlice with one more
endpoint, or a Service with its slice) written and later removed; the sync's duration is the
histogram's _sum difference across exactly one more _count.

Usage (root): python3 bench/nftables_bench.py --kube-proxy build/bin/kube-proxy [--sizes 1000,10000]
              [--changes 9]"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 10249


def ns_run(ns, argv, **kw):
    return subprocess.run(["ip", "netns", "exec", ns] + argv, check=True, capture_output=True, text=True, **kw)


def metrics(ns):
    out = ns_run(ns, ["python3", "-c", f"import urllib.request;print(urllib.request.urlopen("
                                        f"'http://127.0.0.1:{PORT}/metrics',timeout=5).read().decode())"]).stdout
    values = {}
    for line in out.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{[^}]*\})?\s+([0-9.e+-]+)$", line)
        if m and m.group(1) not in values:
            values[m.group(1)] = float(m.group(2))
    return values


PROC = [None]


def wait_count(ns, name, above, timeout=1800):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if PROC[0] is not None and PROC[0].poll() is not None:
            raise RuntimeError("kube-proxy exited; see its log")
        try:
            m = metrics(ns)
            if m.get(name + "_count", 0) > above:
                return m
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.2)
    raise TimeoutError(name)


def one_change(ns, objects, write, remove_after):
    """Applies one change (write() makes files) and returns the partial sync's duration (s)."""
    name = "kubeproxy_sync_partial_proxy_rules_duration_seconds"
    before = metrics(ns)
    write()
    after = wait_count(ns, name, before.get(name + "_count", 0))
    took = after[name + "_sum"] - before.get(name + "_sum", 0)
    count = after[name + "_count"] - before.get(name + "_count", 0)
    return took / count, count


def run_size(kube_proxy, n, changes):
    objects = tempfile.mkdtemp(prefix=f"kproxy-nftbench-{n}-")
    ns = f"kpnftbench-{os.getpid()}-{n}"
    subprocess.run([sys.executable, os.path.join(HERE, "generate_cluster.py"), "--services", str(n),
                    "--endpoints", "10", objects], check=True)
    with open(os.path.join(objects, "services.json")) as f:
        services = json.load(f)["items"]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    log = open(os.path.join(objects, "..", f"kproxy-nftbench-{n}.log"), "w")
    proc = None
    try:
        ns_run(ns, ["ip", "link", "set", "lo", "up"])
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/time", "-v", kube_proxy,
                                 "--proxy-mode=nftables", f"--objects={objects}", "--hostname-override=node-a",
                                 f"--metrics-bind-address=127.0.0.1:{PORT}", "--conntrack-max-per-core=0",
                                 "--healthz-bind-address=127.0.0.1:10256", "--v=2"],
                                stdout=log, stderr=log, start_new_session=True)
        PROC[0] = proc
        t0 = time.time()
        m = wait_count(ns, "kubeproxy_sync_full_proxy_rules_duration_seconds", 0)
        full = m["kubeproxy_sync_full_proxy_rules_duration_seconds_sum"]
        ready = time.time() - t0
        time.sleep(2)
        # Endpoint churn: ClusterIP Services with one port, one more endpoint in its own slice.
        targets = [s for s in services if s["spec"]["type"] == "ClusterIP" and len(s["spec"]["ports"]) == 1][:changes]
        add, remove, svc_add, svc_remove = [], [], [], []
        for i, svc in enumerate(targets):
            meta = svc["metadata"]
            port = svc["spec"]["ports"][0]
            extra = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                     "metadata": {"name": meta["name"] + "-extra", "namespace": meta["namespace"],
                                  "labels": {"kubernetes.io/service-name": meta["name"]}},
                     "addressType": "IPv4",
                     "endpoints": [{"addresses": [f"10.200.{i // 250}.{i % 250 + 1}"], "nodeName": "node-b",
                                    "conditions": {"ready": True, "serving": True, "terminating": False}}],
                     "ports": [{"name": port["name"], "protocol": port["protocol"], "port": port["targetPort"]}]}
            path = os.path.join(objects, f"extra-{i}.json")

            def write(path=path, extra=extra):
                with open(path + ".tmp", "w") as f:
                    json.dump(extra, f)
                os.rename(path + ".tmp", path)
            add.append(one_change(ns, objects, write, False)[0])
            remove.append(one_change(ns, objects, lambda path=path: os.unlink(path), False)[0])
        for i in range(max(3, changes // 3)):
            name = f"bench-new-{i}"
            svc = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": name, "namespace": "bench", "uid": f"uid-{name}",
                                "creationTimestamp": "2026-11-20T09:30:00Z"},
                   "spec": {"type": "ClusterIP", "clusterIP": f"10.99.{i}.1", "clusterIPs": [f"10.99.{i}.1"],
                            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": name},
                            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}}
            eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": name + "-x", "namespace": "bench",
                                "labels": {"kubernetes.io/service-name": name}},
                   "addressType": "IPv4",
                   "endpoints": [{"addresses": [f"10.201.{i}.{j + 1}"], "nodeName": "node-b",
                                  "conditions": {"ready": True, "serving": True, "terminating": False}}
                                 for j in range(10)],
                   "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}
            path = os.path.join(objects, f"new-{i}.json")

            def write_svc(path=path, svc=svc, eps=eps):
                with open(path + ".tmp", "w") as f:
                    json.dump({"apiVersion": "v1", "kind": "List", "items": [svc, eps]}, f)
                os.rename(path + ".tmp", path)
            svc_add.append(one_change(ns, objects, write_svc, False)[0])
            svc_remove.append(one_change(ns, objects, lambda path=path: os.unlink(path), False)[0])
        table = ns_run(ns, ["nft", "list", "table", "ip", "kube-proxy"]).stdout if n <= 1000 else ""
        return {"n": n, "ready_s": ready, "full_s": full, "endpoint_add_ms": [x * 1000 for x in add],
                "endpoint_remove_ms": [x * 1000 for x in remove], "service_add_ms": [x * 1000 for x in svc_add],
                "service_remove_ms": [x * 1000 for x in svc_remove], "table_lines": len(table.splitlines())}
    finally:
        if proc is not None:
            # Stop kube-proxy itself first, so /usr/bin/time reports its peak RSS, then the rest.
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "kube-proxy":
                            os.kill(int(pid), 15)
                except OSError:
                    pass
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=60)
        log.close()
        subprocess.run(["ip", "netns", "del", ns], check=False)
        with open(log.name) as f:
            rss = re.findall(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        shutil.rmtree(objects, True)
        if rss:
            print(f"N={n}: peak RSS {int(rss[0]) / 1024:.0f} MB")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kube-proxy", required=True)
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--changes", type=int, default=9)
    a = p.parse_args()
    for n in [int(x) for x in a.sizes.split(",")]:
        r = run_size(os.path.abspath(a.kube_proxy), n, a.changes)
        med = lambda xs: statistics.median(xs) if xs else float("nan")
        print(f"N={n}: first (full) sync {r['full_s']:.3f} s (ready after {r['ready_s']:.1f} s); "
              f"one endpoint added: median {med(r['endpoint_add_ms']):.2f} ms, removed: {med(r['endpoint_remove_ms']):.2f} ms; "
              f"one Service added: {med(r['service_add_ms']):.1f} ms, removed: {med(r['service_remove_ms']):.1f} ms")
        print("  " + json.dumps(r))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
