#!/usr/bin/env bash
# Scale benchmark (never run by ctest; numbers are reported, not asserted). Needs root: every
# kernel measurement runs in a network namespace this script creates and deletes.
#
#   bench/scale.sh [BUILD_DIR]   # default build-scale
#   env: SIZES="1000 10000 30000" M=10 RUNS=3 RUNS_LARGE=1 (runs for N >= 30000) VARIANT=legacy|nft
#        APPLY_MAX=1000: the kernel is only written for N <= APPLY_MAX; larger N run the driver
#        against a null runner (our own work only) and `kube-proxy --dry-run` for the peak RSS.
# Writing the kernel is what takes time here: iptables-legacy-restore of the 10k-Service input
# takes about a minute on this machine, iptables-nft-restore ~30 s already for 1k (RESULTS.md), so
# the default run stays within minutes; `SIZES=10000 APPLY_MAX=10000 RUNS=1` measures 10k for real.
#
# For each N: generates N Services x M endpoints (bench/generate_cluster.py), then RUNS times, each
# in fresh namespaces:
#   - bin/scale_driver --apply: full sync through IptablesProxier + real iptables-restore, pure
#     plan/render timings, partial syncs after one endpoint added / one Service added, IPVS plan+diff;
#   - bare `iptables-restore --noflush` of the identical full input (the driver's full.restore);
#   - `kube-proxy --proxy-mode=iptables --objects=DIR --once` under /usr/bin/time -v (wall, peak RSS).
# Prints one markdown table of medians (also written to $OUT/table.md).
set -euo pipefail
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
BUILD=${1:-$REPO/build-scale}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export SCALE_REPO=$REPO SCALE_BUILD=$BUILD
export SIZES=${SIZES:-"1000 10000 30000"} M=${M:-10} RUNS=${RUNS:-3} RUNS_LARGE=${RUNS_LARGE:-1}
export VARIANT=${VARIANT:-legacy} APPLY_MAX=${APPLY_MAX:-1000}
[ "$(id -u)" = 0 ] || { echo "scale.sh: needs root (network namespaces)" >&2; exit 1; }
for b in scale_driver kube-proxy; do
  [ -x "$BUILD/bin/$b" ] || { echo "scale.sh: $BUILD/bin/$b missing (ninja -C $BUILD $b)" >&2; exit 1; }
done
exec python3 - <<'PY'
import os, re, shutil, statistics, subprocess, sys, tempfile, time

repo, build = os.environ["SCALE_REPO"], os.environ["SCALE_BUILD"]
sizes = [int(x) for x in os.environ["SIZES"].split()]
m, runs, runs_large = int(os.environ["M"]), int(os.environ["RUNS"]), int(os.environ["RUNS_LARGE"])
variant = os.environ["VARIANT"]
apply_max = int(os.environ["APPLY_MAX"])
prefix = f"kpscale-{os.getpid()}-"
created = []
tmp = tempfile.mkdtemp(prefix="kproxy-scale-")


def netns():
    name = f"{prefix}{len(created)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    created.append(name)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


def drop(name):
    subprocess.run(["ip", "netns", "del", name], check=False)
    if name in created:
        created.remove(name)


def cleanup():
    for name in list(created):
        drop(name)
    shutil.rmtree(tmp, ignore_errors=True)


def timed(argv, stdin=None):
    t = time.monotonic()
    p = subprocess.run(argv, stdin=stdin, capture_output=True, text=True)
    ms = (time.monotonic() - t) * 1000
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return ms, p


def kv(text):
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


results = {}
runs_of = {}
try:
    for n in sizes:
        objects = os.path.join(tmp, f"objects-{n}")
        subprocess.run([sys.executable, os.path.join(repo, "bench/generate_cluster.py"), "-n", str(n), "-m", str(m),
                        objects], check=True)
        out = os.path.join(tmp, f"out-{n}")
        samples = {}
        runs_of[n] = runs_large if n >= 30000 else runs
        applied = n <= apply_max
        for r in range(runs_of[n]):
            ns = netns()
            argv = ["ip", "netns", "exec", ns, os.path.join(build, "bin/scale_driver"), f"--objects={objects}",
                    f"--out={out}", "--reps=5"]
            if applied:
                argv += ["--apply", f"--variant={variant}"]
            _, p = timed(argv)
            drop(ns)
            d = kv(p.stdout)
            d["our_work_ms"] = d["full_sync_ms"] - d["full_sync_restore_ms"]
            kp = [os.path.join(build, "bin/kube-proxy"), "--proxy-mode=iptables", f"--objects={objects}",
                  "--hostname-override=node-a", "--cluster-cidr=10.128.0.0/14", "--conntrack-max-per-core=0",
                  f"--iptables-variant={variant}", "--v=0"]
            if applied:
                tool = "iptables-nft-restore" if variant == "nft" else "iptables-legacy-restore"
                ns = netns()
                with open(os.path.join(out, "full.restore")) as f:
                    d["bare_restore_ms"], _ = timed(["ip", "netns", "exec", ns, tool, "--noflush"], stdin=f)
                drop(ns)
                kp.append("--once")
            else:
                kp.append("--dry-run")
            ns = netns()
            with open(os.devnull, "w") as null:
                t = time.monotonic()
                p = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/time", "-v"] + kp, stdout=null,
                                   stderr=subprocess.PIPE, text=True)
                kp_ms = (time.monotonic() - t) * 1000
            drop(ns)
            if p.returncode != 0:
                raise RuntimeError(f"kube-proxy failed:\n{p.stderr[-2000:]}")
            # kube-proxy's own peak (it logs it): `time -v` reports the largest of the process and its
            # children, and iptables-legacy-restore alone peaks at ~280 MB for the 10k input.
            rss = (re.search(r"peak RSS of this process: (\d+) KiB", p.stderr)
                   or re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr))
            d["kube_proxy_once_ms" if applied else "kube_proxy_dry_run_ms"] = kp_ms
            d["kube_proxy_rss_mb"] = int(rss.group(1)) / 1024 if rss else float("nan")
            for k, v in d.items():
                if isinstance(v, float):
                    samples.setdefault(k, []).append(v)
            print(f"N={n} run {r + 1}/{runs_of[n]}: full sync {d['full_sync_ms']:.0f} ms"
                  + (f", bare restore {d['bare_restore_ms']:.0f} ms" if applied else " (not applied)"), file=sys.stderr)
        results[n] = {k: statistics.median(v) for k, v in samples.items()}
        if applied:
            res = results[n]
            res["full_over_bare"] = res["full_sync_ms"] / res["bare_restore_ms"]
            res["work_plus_bare_over_bare"] = (res["our_work_ms"] + res["bare_restore_ms"]) / res["bare_restore_ms"]
finally:
    cleanup()

rows = [
    ("Service ports x endpoints (generated)", "services", "{:.0f} Services"),
    ("plan, full (ms)", "full_plan_ms", "{:.1f}"),
    ("render, full (ms)", "full_render_ms", "{:.1f}"),
    ("restore input, full (bytes)", "full_restore_bytes", "{:,.0f}"),
    ("restore input, full (lines)", "full_restore_lines", "{:,.0f}"),
    ("our full sync, wall (ms)", "full_sync_ms", "{:.0f}"),
    ("  of which iptables-restore (ms)", "full_sync_restore_ms", "{:.0f}"),
    ("  our own work: plan, render, jumps, chain listing (ms)", "our_work_ms", "{:.0f}"),
    ("bare iptables-restore --noflush, same input, other netns (ms)", "bare_restore_ms", "{:.0f}"),
    ("ratio our full sync / bare restore", "full_over_bare", "{:.3f}"),
    ("ratio (our own work + bare restore) / bare restore", "work_plus_bare_over_bare", "{:.3f}"),
    ("kube-proxy --once, whole process (ms)", "kube_proxy_once_ms", "{:.0f}"),
    ("kube-proxy --dry-run, whole process (ms)", "kube_proxy_dry_run_ms", "{:.0f}"),
    ("kube-proxy peak RSS (MB)", "kube_proxy_rss_mb", "{:.1f}"),
    ("scale_driver peak RSS (MB)", "peak_rss_mb", "{:.1f}"),
    ("1 endpoint added: restore input (bytes)", "endpoint_change_bytes", "{:,.0f}"),
    ("1 endpoint added: restore input (lines)", "endpoint_change_lines", "{:.0f}"),
    ("1 endpoint added: sync end to end (ms)", "endpoint_change_sync_ms", "{:.1f}"),
    ("  of which iptables-restore (ms)", "endpoint_change_restore_ms", "{:.1f}"),
    ("1 Service added: restore input (bytes)", "service_add_bytes", "{:,.0f}"),
    ("1 Service added: sync end to end (ms)", "service_add_sync_ms", "{:.1f}"),
    ("  of which iptables-restore (ms)", "service_add_restore_ms", "{:.1f}"),
    ("IPVS plan+diff, full (ms)", "ipvs_full_plan_diff_ms", "{:.1f}"),
    ("IPVS operations, full", "ipvs_full_ops", "{:,.0f}"),
    ("IPVS plan+diff, 1 endpoint added (ms)", "ipvs_endpoint_change_plan_diff_ms", "{:.1f}"),
    ("IPVS operations, 1 endpoint added", "ipvs_endpoint_change_ops", "{:.0f}"),
    ("IPVS plan+diff, 1 Service added (ms)", "ipvs_service_add_plan_diff_ms", "{:.1f}"),
    ("IPVS operations, 1 Service added", "ipvs_service_add_ops", "{:.0f}"),
]
lines = [f"iptables variant: {variant}; M = {m} endpoints per Service; medians of "
         + ", ".join(f"{runs_of[n]} run(s) at N = {n}" for n in sizes)
         + f"; kernel written for N <= {apply_max} (n/a rows: not measured at that N)", "",
         "| | " + " | ".join(f"N = {n:,}" for n in sizes) + " |",
         "|---|" + "---:|" * len(sizes)]
for label, key, fmt in rows:
    cells = []
    for n in sizes:
        v = results[n].get(key)
        cells.append("n/a" if v is None else fmt.format(v))
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
print("\n".join(lines))
PY
