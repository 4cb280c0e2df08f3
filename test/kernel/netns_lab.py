#!/usr/bin/env python3
"""netns_lab: a throwaway network of namespaces for kproxy's real-kernel tests (stdlib only).

Topology (IPv4; IPv6 in parallel when enabled):

    pod1 10.244.1.2 ─┐                                   ┌─ elb 203.0.113.10 (haproxy :80 -> 192.0.2.129:30080)
    pod2 10.244.1.3 ─┼─ node 192.0.2.129 ── outside 192.0.2.130 (router; routes 10.244.0.0/16 to the node)
    client 10.244.1.10┘   (ip_forward=1,                     └─ ext 198.51.100.2 (an outside client)
                           default via outside)

Pods have /32 addresses and a default route via 10.244.1.1, an address of every node-side veth
(Calico-style routing). Pods run lab_agent.py listeners on TCP and UDP that answer with their own
name and the source address they saw. Everything is named <prefix><role> with prefix
"kptlab<pid>-<n>-", and removed on close(), at exit and on SIGTERM/SIGINT; namespaces left behind by
a killed run (whose pid is gone) are swept when the next lab starts.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, "lab_agent.py")
# Resolve pyenv shims: a recorded PID must be the real interpreter.
PYTHON = os.path.realpath(sys.executable)

NODE_IP = "192.0.2.129"
NODE_IP6 = "2001:db8:1::129"
OUTSIDE_IP = "192.0.2.130"
OUTSIDE_IP6 = "2001:db8:1::130"
ELB_IP = "203.0.113.10"
ELB_IP6 = "2001:db8:113::10"
EXT_IP = "198.51.100.2"
EXT_IP6 = "2001:db8:100::2"
POD_GW = "10.244.1.1"
POD_GW6 = "fd00:10:244:1::1"
PODS = {  # role -> (IPv4, IPv6)
    "pod1": ("10.244.1.2", "fd00:10:244:1::2"),
    "pod2": ("10.244.1.3", "fd00:10:244:1::3"),
    "client": ("10.244.1.10", "fd00:10:244:1::a"),
}
# Listener ports of the pods (the examples' nginx targetPort is 80; 8080/5353 for other cases).
POD_PORTS = (80, 8080, 5353)

_live_labs = []
_counter = [0]


def _cleanup_all(*_):
    for lab in list(_live_labs):
        lab.close()


def _on_signal(signum, frame):
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    try:
        signal.signal(_sig, _on_signal)
    except (ValueError, OSError):  # not the main thread
        pass


def require_root():
    """unittest.SkipTest unless we can create namespaces."""
    import unittest
    if os.geteuid() != 0:
        raise unittest.SkipTest("kernel tests need root")
    if not shutil.which("ip"):
        raise unittest.SkipTest("iproute2 missing")


def _run(argv, input=None, check=True, timeout=30):
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def sweep_stale_namespaces():
    """Removes kptlab<pid>-* namespaces whose creating process is gone."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"kptlab(\d+)-", name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or os.path.exists(f"/proc/{pid}"):
            continue
        _kill_ns_pids(name)
        _run(["ip", "netns", "del", name], check=False)


def _kill_ns_pids(ns):
    pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class Lab:
    """Builds the topology on enter/setup(); close() removes it. Roles: node, outside, elb, ext,
    pod1, pod2, client."""

    def __init__(self, ipv6=True, haproxy=True, listeners=True):
        _counter[0] += 1
        self.prefix = f"kptlab{os.getpid()}-{_counter[0]}-"
        self.ipv6 = ipv6
        self.want_haproxy = haproxy and shutil.which("haproxy") is not None
        self.want_listeners = listeners
        self.tmp = tempfile.mkdtemp(prefix="kproxy-lab-")
        self.namespaces = []
        self.procs = []  # Popen objects, each its own session/process group
        self.haproxy_socket = os.path.join(self.tmp, "haproxy.sock")
        self.closed = False

    # ---- naming and execution -------------------------------------------------------------
    def ns(self, role):
        return self.prefix + role

    def exec(self, role, argv, input=None, check=True, timeout=30):
        """Runs argv inside the role's namespace; returns CompletedProcess (text)."""
        return _run(["ip", "netns", "exec", self.ns(role)] + list(argv), input=input, check=check,
                    timeout=timeout)

    def sh(self, role, *commands):
        for c in commands:
            self.exec(role, c.split())

    def start(self, role, argv, log_name):
        """Starts a daemon in the namespace in its own session (setsid), output to a file."""
        log_path = os.path.join(self.tmp, log_name)
        log = open(log_path, "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role)] + list(argv), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p, log_path

    # ---- setup ----------------------------------------------------------------------------
    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _add_ns(self, role):
        name = self.ns(role)
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self.exec(role, ["ip", "link", "set", "lo", "up"])
        return name

    def _veth(self, role_a, if_a, role_b, if_b):
        _run(["ip", "link", "add", if_a, "netns", self.ns(role_a), "type", "veth", "peer", "name", if_b,
              "netns", self.ns(role_b)])
        self.exec(role_a, ["ip", "link", "set", if_a, "up"])
        self.exec(role_b, ["ip", "link", "set", if_b, "up"])

    def _sysctl(self, role, key, value):
        self.exec(role, ["sysctl", "-qw", f"{key}={value}"])

    def _addr(self, role, dev, cidr):
        v6 = ":" in cidr
        argv = ["ip"] + (["-6"] if v6 else []) + ["addr", "add", cidr, "dev", dev]
        if v6:
            argv.append("nodad")
        self.exec(role, argv)

    def _route(self, role, *spec):
        v6 = any(":" in s for s in spec)
        self.exec(role, ["ip"] + (["-6"] if v6 else []) + ["route", "add"] + list(spec))

    def setup(self):
        sweep_stale_namespaces()
        _live_labs.append(self)
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        for role in ("node", "outside", "elb", "ext") + tuple(PODS):
            self._add_ns(role)
        # rp_filter: the lab's asymmetric paths (pass-through) are legitimate.
        for role in ("node", "outside"):
            self._sysctl(role, "net.ipv4.ip_forward", 1)
            self._sysctl(role, "net.ipv4.conf.all.rp_filter", 0)
            self._sysctl(role, "net.ipv4.conf.default.rp_filter", 0)
            if self.ipv6:
                self._sysctl(role, "net.ipv6.conf.all.forwarding", 1)
        # node <-> outside
        self._veth("node", "eth0", "outside", "node0")
        self._addr("node", "eth0", NODE_IP + "/25")
        self._addr("outside", "node0", OUTSIDE_IP + "/25")
        self._route("node", "default", "via", OUTSIDE_IP)
        self._route("outside", "10.244.0.0/16", "via", NODE_IP)
        # outside <-> elb, outside <-> ext
        self._veth("outside", "elb0", "elb", "eth0")
        self._addr("outside", "elb0", "203.0.113.1/24")
        self._addr("elb", "eth0", ELB_IP + "/24")
        self._route("elb", "default", "via", "203.0.113.1")
        self._veth("outside", "ext0", "ext", "eth0")
        self._addr("outside", "ext0", "198.51.100.1/24")
        self._addr("ext", "eth0", EXT_IP + "/24")
        self._route("ext", "default", "via", "198.51.100.1")
        if self.ipv6:
            self._addr("node", "eth0", NODE_IP6 + "/64")
            self._addr("outside", "node0", OUTSIDE_IP6 + "/64")
            self._route("node", "default", "via", OUTSIDE_IP6)
            self._route("outside", "fd00:10:244::/48", "via", NODE_IP6)
            self._addr("outside", "elb0", "2001:db8:113::1/64")
            self._addr("elb", "eth0", ELB_IP6 + "/64")
            self._route("elb", "default", "via", "2001:db8:113::1")
            self._addr("outside", "ext0", "2001:db8:100::1/64")
            self._addr("ext", "eth0", EXT_IP6 + "/64")
            self._route("ext", "default", "via", "2001:db8:100::1")
        # pods
        for i, (role, (ip4, ip6)) in enumerate(PODS.items()):
            node_if = f"vpod{i}"
            self._veth(role, "eth0", "node", node_if)
            self._sysctl("node", f"net.ipv4.conf.{node_if}.rp_filter", 0)
            self._addr("node", node_if, POD_GW + "/32")
            self._addr(role, "eth0", ip4 + "/32")
            self._route(role, POD_GW, "dev", "eth0", "scope", "link")
            self._route(role, "default", "via", POD_GW, "dev", "eth0")
            self._route("node", ip4 + "/32", "dev", node_if)
            if self.ipv6:
                self._addr("node", node_if, POD_GW6 + "/128")
                self._addr(role, "eth0", ip6 + "/128")
                self._route(role, POD_GW6, "dev", "eth0")
                self._route(role, "default", "via", POD_GW6, "dev", "eth0")
                self._route("node", ip6 + "/128", "dev", node_if)
        if self.ipv6:
            self.wait_ipv6_ready()
        if self.want_listeners:
            for role in ("pod1", "pod2"):
                self.start_listener(role, role, POD_PORTS)
        if self.want_haproxy:
            self.start_haproxy()

    def wait_ipv6_ready(self, timeout=10):
        """IPv6 link-local addresses stay tentative (DAD) for a second or two after the links come up;
        until then neighbour discovery cannot run and the first IPv6 flows time out."""
        deadline = time.time() + timeout
        for ns in list(self.namespaces):
            while self.exec(ns[len(self.prefix):], ["ip", "-6", "addr", "show", "tentative"]).stdout.strip():
                if time.time() > deadline:
                    raise RuntimeError(f"IPv6 addresses still tentative in {ns}")
                time.sleep(0.1)

    def start_listener(self, role, name, ports):
        _, log = self.start(role, [PYTHON, AGENT, "serve", name] + [str(p) for p in ports], f"{role}-listener.log")
        self._wait_for_file_text(log, "ready", f"listener in {role}")

    def start_haproxy(self, backend=f"{NODE_IP}:30080"):
        cfg = os.path.join(self.tmp, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(
                "global\n"
                f"  stats socket {self.haproxy_socket} mode 600 level admin\n"
                "  maxconn 256\n"
                "defaults\n"
                "  mode tcp\n"
                "  timeout connect 2s\n"
                "  timeout client 10s\n"
                "  timeout server 10s\n"
                "frontend elb\n"
                f"  bind {ELB_IP}:80\n"
                "  default_backend nodes\n"
                "backend nodes\n"
                f"  server node-a {backend}\n")
        self.start("elb", ["haproxy", "-db", "-f", cfg], "haproxy.log")
        deadline = time.time() + 10
        while time.time() < deadline:
            if os.path.exists(self.haproxy_socket):
                try:
                    self.haproxy_sessions()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("haproxy did not start: " + open(os.path.join(self.tmp, "haproxy.log")).read())

    @staticmethod
    def _wait_for_file_text(path, text, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(path) as f:
                if text in f.read():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{what} not ready: {open(path).read()}")

    # ---- observations ---------------------------------------------------------------------
    def haproxy_sessions(self):
        """Total sessions (stot) the ELB frontend has accepted."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.haproxy_socket)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        idx_px, idx_sv, idx_stot = header.index("pxname"), header.index("svname"), header.index("stot")
        for line in lines[1:]:
            cols = line.split(",")
            if len(cols) > idx_stot and cols[idx_px] == "elb" and cols[idx_sv] == "FRONTEND":
                return int(cols[idx_stot] or 0)
        raise RuntimeError("no elb FRONTEND row in haproxy stats")

    def request(self, role, proto, host, port, timeout=2.0, sport=0):
        """(ok, reply or error) of one TCP connection / UDP datagram from role."""
        argv = [PYTHON, AGENT, proto, host, str(port), "--timeout", str(timeout)]
        if sport:
            argv += ["--sport", str(sport)]
        p = self.exec(role, argv, check=False, timeout=timeout + 10)
        return (p.returncode == 0, p.stdout.strip() if p.returncode == 0 else p.stderr.strip())

    def iptables_save(self, variant="nft", family=4, table=None):
        tool = ("ip6tables" if family == 6 else "iptables") + f"-{variant}-save"
        argv = [tool] + (["-t", table] if table else [])
        return self.exec("node", argv).stdout

    # ---- teardown -------------------------------------------------------------------------
    def close(self):
        if self.closed:
            return
        self.closed = True
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        for p in self.procs:
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        for name in reversed(self.namespaces):
            _kill_ns_pids(name)
            _run(["ip", "netns", "del", name], check=False)
        self.namespaces = []
        if os.environ.get("KPROXY_LAB_KEEP_TMP"):
            print(f"lab files kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self in _live_labs:
            _live_labs.remove(self)


if __name__ == "__main__":
    # Smoke run: build the lab, show it works, tear it down.
    with Lab() as lab:
        print(lab.request("client", "tcp", PODS["pod1"][0], 80))
        print(lab.request("client", "udp", PODS["pod2"][0], 5353))
        print(lab.request("client", "tcp", PODS["pod1"][1], 80))
        print(lab.request("ext", "tcp", ELB_IP, 80, timeout=1))
        print("haproxy sessions", lab.haproxy_sessions())
