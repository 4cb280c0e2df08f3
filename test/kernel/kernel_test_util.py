"""Shared helpers of the kernel tests: locating the built binaries, and flushing the node's tables."""
import os
import shutil
import unittest

import netns_lab

# realpath: the tests may run from a tree of symlinks; the repo is where the files really are.
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))


def probe_path():
    """The kproxy_backends_probe binary (set by CTest), or SkipTest."""
    p = os.environ.get("KPROXY_PROBE", "")
    if not p or not os.access(p, os.X_OK):
        raise unittest.SkipTest("KPROXY_PROBE not set or not executable (run through ctest)")
    return p


def kube_proxy_path():
    """KPROXY_BIN, else build/bin/kube-proxy of the repo; SkipTest when neither exists."""
    for p in (os.environ.get("KPROXY_BIN", ""), os.path.join(REPO, "build", "bin", "kube-proxy")):
        if p and os.access(p, os.X_OK):
            return p
    raise unittest.SkipTest("kube-proxy binary not built (set KPROXY_BIN)")


def kube_proxy_or_skip_suite():
    """kube_proxy_path() for a whole suite (root required), or SkipTest. test/testing/run_py_suite.py
    reports a suite whose tests all skipped as skipped, and fails it under CI=true."""
    netns_lab.require_root()
    return kube_proxy_path()


def variants():
    """The iptables variants whose tools are installed."""
    return [v for v in ("nft", "legacy") if shutil.which(f"iptables-{v}-restore")]


def flush_node(lab):
    """Empties every table of both variants and families in the node namespace."""
    for fam in ("iptables", "ip6tables"):
        for table in ("nat", "filter", "mangle", "raw"):
            lab.exec("node", [f"{fam}-legacy", "-w", "5", "-t", table, "-F"], check=False)
            lab.exec("node", [f"{fam}-legacy", "-w", "5", "-t", table, "-X"], check=False)
    if shutil.which("nft"):
        lab.exec("node", ["nft", "flush", "ruleset"], check=False)
