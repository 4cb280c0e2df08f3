#!/usr/bin/env python3
"""Times a one-endpoint partial sync applied with the direct nf_tables writer (IptablesNftWriter,
through test/kernel's nft_writer_probe) against iptables-nft-restore of the same input, at N
Services, in a fresh network namespace (deleted afterwards, also on failure). Needs root.

The table is first loaded with the planner's real full-sync input for bench/generate_cluster.py's
cluster (kube-proxy --dry-run), applied by the direct writer (the kernel test checks it leaves the
same table as iptables-nft-restore; that load is timed too). The partial input flushes and
re-adds one Service's KUBE-SVC chain and its two KUBE-SEP chains, as a partial sync after an
endpoint change does; being idempotent, it is applied RUNS times by each method, PAUSE apart.

The pause matters: nf_tables frees the rules a transaction replaced in a work item after an RCU
grace period, and a transaction adding xt matches/targets (comment, DNAT, ...) first waits for
pending frees (nft_compat). Back-to-back applies therefore wait 4-24 ms (whole ticks) for the
previous one's grace period, with either method; kube-proxy's syncs are >= 1 s apart, so the
default pause (200 ms) measures what a node sees. --pause-ms 0 shows the back-to-back figure.

  sudo python3 bench/nft_writer_bench.py --services 10000 --runs 15 \\
      --probe build-nft/bin/nft_writer_probe --kube-proxy build/bin/kube-proxy
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
REPO = os.path.dirname(HERE)

# The jumps from the built-in chains, as before kube-proxy's first sync: the kernel test's.
sys.path.insert(0, os.path.join(REPO, "test", "kernel"))
from test_nft_writer import BASE  # noqa: E402

# Runs inside the namespace: times `argv < input` RUNS times, prints microseconds per run.
TIMER = r"""
import subprocess, sys, time
argv, path, runs, pause = sys.argv[1:-3], sys.argv[-3], int(sys.argv[-2]), int(sys.argv[-1])
data = open(path, "rb").read()
for run in range(runs):
    if run and pause:
        time.sleep(pause / 1000)
    start = time.perf_counter()
    subprocess.run(argv, input=data, check=True)
    print(int((time.perf_counter() - start) * 1e6))
"""


def full_input(kube_proxy, services, endpoints, workdir):
    objects = os.path.join(workdir, "cluster")
    subprocess.run([sys.executable, os.path.join(HERE, "generate_cluster.py"), "-n", str(services), "-m",
                    str(endpoints), objects], check=True)
    r = subprocess.run([kube_proxy, "--proxy-mode=iptables", f"--objects={objects}", "--dry-run",
                        "--hostname-override=node-a", "--cluster-cidr=10.128.0.0/14"], capture_output=True,
                       text=True, check=True)
    text = r.stdout.split("=== what a full sync would write", 1)[1]
    return re.search(r"^# IPv4\n(.*?)(?=^# IPv|\Z)", text, re.S | re.M).group(1)


def partial_input(full):
    rules = [l for l in full.split("*nat\n", 1)[1].splitlines() if l.startswith("-A ")]
    jumps = {}
    for line in rules:
        m = re.match(r"-A (KUBE-SVC-\S+) .*-j (KUBE-SEP-\S+)$", line)
        if m:
            jumps.setdefault(m.group(1), []).append(m.group(2))
    # The Service with the fewest endpoints (at least two); its SVC chain and two SEP chains.
    svc, seps = min(((s, j) for s, j in jumps.items() if len(j) >= 2), key=lambda item: len(item[1]))
    seps = seps[:2]
    lines = ["*nat", f":{svc} - [0:0]"] + [f":{sep} - [0:0]" for sep in seps]
    for chain in [svc] + seps:
        lines += [l for l in rules if l.startswith(f"-A {chain} ")]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--pause-ms", type=int, default=200)
    ap.add_argument("--tool-full", action="store_true",
                    help="also time iptables-nft-restore of the full-sync input (in a second namespace; slow)")
    ap.add_argument("--probe", default=os.path.join(REPO, "build-nft", "bin", "nft_writer_probe"))
    ap.add_argument("--kube-proxy", default=os.path.join(REPO, "build", "bin", "kube-proxy"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kproxy-nft-bench-") as workdir:
        full = full_input(a.kube_proxy, a.services, a.endpoints, workdir)
        partial = partial_input(full)
        paths = {}
        # The kernel's floor for any change at this table size: one chain flushed and one plain jump
        # rule added (no xt match or target), nf_tables' smallest transaction that still makes it
        # re-validate the table. Applied last: it replaces one SEP chain's rules.
        one_sep = re.search(r"^:(KUBE-SEP-\S+) ", partial, re.M).group(1)
        one_rule = f"*nat\n:{one_sep} - [0:0]\n-A {one_sep} -j KUBE-MARK-MASQ\nCOMMIT\n"
        for name, text in (("full", full), ("partial", partial), ("base", BASE), ("one_rule", one_rule)):
            paths[name] = os.path.join(workdir, name)
            with open(paths[name], "w") as f:
                f.write(text)
        ns = f"nftbench-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            run = lambda argv, **kw: subprocess.run(["ip", "netns", "exec", ns] + argv, check=True, **kw)
            run(["iptables-nft-restore", "--noflush"], input=BASE.encode())
            start = time.perf_counter()
            run([a.probe, "4", "apply", paths["full"]])
            full_seconds = time.perf_counter() - start
            rules = int(run(["sh", "-c", "iptables-nft-save -t nat | grep -c '^-A'"], capture_output=True,
                            text=True).stdout)
            direct = [int(x) for x in run([a.probe, "4", "time", paths["partial"], str(a.runs), str(a.pause_ms)], capture_output=True,
                                          text=True).stdout.split()]
            tool = [int(x) for x in run([sys.executable, "-c", TIMER, "iptables-nft-restore", "--noflush", "--counters",
                                         paths["partial"], str(a.runs), str(a.pause_ms)], capture_output=True, text=True).stdout.split()]
            floor = [int(x) for x in run([a.probe, "4", "time", paths["one_rule"], str(a.runs), str(a.pause_ms)],
                                         capture_output=True, text=True).stdout.split()]
            tool_full_seconds = None
            if a.tool_full:
                tool_ns = f"{ns}-tool"
                subprocess.run(["ip", "netns", "add", tool_ns], check=True)
                try:
                    subprocess.run(["ip", "netns", "exec", tool_ns, "iptables-nft-restore", "--noflush"],
                                   input=BASE.encode(), check=True)
                    start = time.perf_counter()
                    subprocess.run(["ip", "netns", "exec", tool_ns, "iptables-nft-restore", "--noflush", "--counters"],
                                   input=full.encode(), check=True)
                    tool_full_seconds = time.perf_counter() - start
                finally:
                    subprocess.run(["ip", "netns", "del", tool_ns], check=False)
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
    print(f"services={a.services} endpoints/service={a.endpoints}: full-sync input {len(full.splitlines())} lines, "
          f"nat table {rules} rules; full sync via direct writer {full_seconds:.2f} s (incl. process start)")
    if tool_full_seconds is not None:
        print(f"full sync via iptables-nft-restore {tool_full_seconds:.2f} s")
    print(f"partial sync input: {len(partial.splitlines())} lines, runs {a.pause_ms} ms apart")
    for name, times in (("direct nf_tables writer", direct), ("iptables-nft-restore", tool),
                        ("kernel floor: 1 jump rule", floor)):
        print(f"  {name:26s} median {statistics.median(times) / 1000:9.2f} ms  "
              f"min {min(times) / 1000:9.2f} ms  max {max(times) / 1000:9.2f} ms  ({len(times)} runs)")


    print(f"ratio direct writer / kernel floor: {statistics.median(direct) / statistics.median(floor):.2f}")


if __name__ == "__main__":
    main()
