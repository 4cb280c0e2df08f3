#!/usr/bin/env python3
"""Tiny network agent run inside the lab's namespaces (stdlib only).

  lab_agent.py serve NAME PORT [PORT...]   TCP and UDP listeners on every PORT (IPv4 and IPv6);
                                           each reply is "NAME PEER_IP PEER_PORT\n".
  lab_agent.py tcp HOST PORT [--timeout S] [--sport N]   connect, print the reply line
  lab_agent.py udp HOST PORT [--timeout S] [--sport N]   send one datagram, print the reply
Exit status 0 when a reply came, 1 on timeout/refusal, with the error on stderr.
With --count N (N > 1) the client tries N times (one interpreter start for all) and prints one line
per try: the reply, or "ERR <error>"; the exit status is then 0.
"""
import argparse
import select
import socket
import sys


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(name, ports):
    socks = []
    for port in ports:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(fam, kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s.bind((addr, port))
                except OSError:
                    s.close()
                    continue  # e.g. no IPv6 in this namespace
                if kind == socket.SOCK_STREAM:
                    s.listen(128)
                socks.append(s)
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select(socks, [], [])
        for s in readable:
            if s.type == socket.SOCK_STREAM:
                try:
                    conn, peer = s.accept()
                except OSError:
                    continue
                try:
                    conn.sendall(f"{name} {peer[0]} {peer[1]}\n".encode())
                finally:
                    conn.close()
            else:
                try:
                    _, peer = s.recvfrom(2048)
                    s.sendto(f"{name} {peer[0]} {peer[1]}\n".encode(), peer)
                except OSError:
                    pass


def client_many(kind, host, port, timeout, sport, count):
    for _ in range(count):
        ok, text = _one(kind, host, port, timeout, sport)
        sys.stdout.write(text if ok else f"ERR {text}\n")
    sys.stdout.flush()
    return 0


def client(kind, host, port, timeout, sport):
    ok, text = _one(kind, host, port, timeout, sport)
    if not ok:
        print(text, file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def _one(kind, host, port, timeout, sport):
    """(True, reply line) or (False, error)."""
    fam = _family(host)
    s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    if sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    try:
        if kind == "tcp":
            s.connect((host, port))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
        else:
            s.sendto(b"ping", (host, port))
            data, _ = s.recvfrom(2048)
    except OSError as e:
        return False, f"{kind} {host}:{port}: {e}"
    finally:
        s.close()
    if not data:
        return False, f"{kind} {host}:{port}: empty reply"
    text = data.decode()
    return True, text if text.endswith("\n") else text + "\n"


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("name")
    sp.add_argument("ports", nargs="+", type=int)
    for kind in ("tcp", "udp"):
        cp = sub.add_parser(kind)
        cp.add_argument("host")
        cp.add_argument("port", type=int)
        cp.add_argument("--timeout", type=float, default=2.0)
        cp.add_argument("--sport", type=int, default=0)
        cp.add_argument("--count", type=int, default=1)
    a = p.parse_args()
    if a.cmd == "serve":
        serve(a.name, a.ports)
        return 0
    if a.count > 1:
        return client_many(a.cmd, a.host, a.port, a.timeout, a.sport, a.count)
    return client(a.cmd, a.host, a.port, a.timeout, a.sport)


if __name__ == "__main__":
    sys.exit(main())
