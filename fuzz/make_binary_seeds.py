#!/usr/bin/env python3
"""Writes the binary seed corpora (ctnetlink dump replies, IPVS genl reply payloads) under
fuzz/corpus/. Run once after changing it; the outputs are committed."""
import os
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
NESTED = 0x8000


def attr(kind, payload, nested=False):
    n = 4 + len(payload)
    pad = (4 - n % 4) % 4
    return struct.pack("=HH", n, kind | (NESTED if nested else 0)) + payload + b"\0" * pad


def ct_tuple(kind, family, src, dst, proto, sport, dport):
    if family == socket.AF_INET:
        ip = attr(1, socket.inet_pton(family, src)) + attr(2, socket.inet_pton(family, dst))
    else:
        ip = attr(3, socket.inet_pton(family, src)) + attr(4, socket.inet_pton(family, dst))
    pr = attr(1, struct.pack("B", proto)) + attr(2, struct.pack("!H", sport)) + attr(3, struct.pack("!H", dport))
    return attr(kind, attr(1, ip, True) + attr(2, pr, True), True)


def ct_msg(family, orig, reply, seq=1):
    body = struct.pack("=BBH", family, 0, 0) + ct_tuple(1, family, *orig) + ct_tuple(2, family, *reply)
    body += attr(3, struct.pack("!I", 0x188))  # CTA_STATUS
    return struct.pack("=IHHII", 16 + len(body), 0x100, 2, seq, 0) + body


def nl_done(seq=1):
    return struct.pack("=IHHII", 20, 3, 2, seq, 0) + struct.pack("=i", 0)


def write(folder, name, data):
    d = os.path.join(HERE, "corpus", folder)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


v4 = ct_msg(socket.AF_INET, ("10.0.0.1", "10.96.0.10", 17, 40000, 53), ("10.244.1.5", "10.0.0.1", 17, 53, 40000))
v4tcp = ct_msg(socket.AF_INET, ("10.0.0.1", "10.96.0.11", 6, 40001, 80), ("10.244.1.6", "10.0.0.1", 6, 80, 40001), 2)
v6 = ct_msg(socket.AF_INET6, ("fd00::1", "fd00:96::a", 132, 40002, 9000), ("fd00:244::5", "fd00::1", 132, 9000, 40002), 3)
write("conntrack_message", "udp_v4_dump", v4 + v4tcp + nl_done())
write("conntrack_message", "sctp_v6", v6 + nl_done())
write("conntrack_message", "icmp_v4", ct_msg(socket.AF_INET, ("10.0.0.1", "10.96.0.10", 1, 0, 0), ("10.244.1.5", "10.0.0.1", 1, 0, 0)))


def addr16(family, text):
    raw = socket.inet_pton(family, text)
    return raw + b"\0" * (16 - len(raw))


svc = (attr(1, struct.pack("=H", socket.AF_INET)) + attr(2, struct.pack("=H", 6)) +
       attr(3, addr16(socket.AF_INET, "10.96.0.10")) + attr(4, struct.pack("!H", 80)) +
       attr(6, b"rr\0") + attr(7, struct.pack("=II", 0, 0xffffffff)) + attr(8, struct.pack("=I", 0)) +
       attr(9, struct.pack("=I", 0xffffffff)))
write("ipvs_reply", "service_v4", attr(1, svc, True))
svc6 = (attr(1, struct.pack("=H", socket.AF_INET6)) + attr(2, struct.pack("=H", 17)) +
        attr(3, addr16(socket.AF_INET6, "fd00:96::a")) + attr(4, struct.pack("!H", 53)) + attr(6, b"sh\0"))
write("ipvs_reply", "service_v6", attr(1, svc6, True))
write("ipvs_reply", "service_fwmark", attr(1, attr(1, struct.pack("=H", 2)) + attr(5, struct.pack("=I", 7)), True))
dest = (attr(1, addr16(socket.AF_INET, "10.244.1.5")) + attr(2, struct.pack("!H", 8080)) +
        attr(3, struct.pack("=I", 0)) + attr(4, struct.pack("=I", 1)) + attr(7, struct.pack("=I", 3)) +
        attr(8, struct.pack("=I", 4)) + attr(11, struct.pack("=H", socket.AF_INET)))
write("ipvs_reply", "dest_v4", attr(2, dest, True))
write("ipvs_reply", "dest_old_kernel", attr(2, attr(1, addr16(socket.AF_INET, "10.244.1.6")) + attr(2, struct.pack("!H", 80)), True))
