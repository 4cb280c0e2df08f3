"""Raw nf_tables dump over NETLINK_NETFILTER, independent of nft/libnftnl: every chain's attributes
and every rule's expressions as hex, with handles dropped and counters zeroed, so two tables can be
compared byte for byte (nft --debug=netlink does not show xt match/target payloads).

Usage: python3 nft_raw_dump.py ip|ip6 TABLE   (run inside the namespace to dump)"""

import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETCHAIN = 4
NFT_MSG_GETRULE = 7
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
FAMILIES = {"ip": socket.AF_INET, "ip6": socket.AF_INET6}

# Attribute numbers (linux/netfilter/nf_tables.h).
NFTA_CHAIN_NAMES = {1: "table", 2: "handle", 3: "name", 4: "hook", 5: "policy", 6: "use", 7: "type",
                    8: "counters", 10: "flags", 11: "id", 12: "userdata"}
NFTA_RULE_NAMES = {1: "table", 2: "chain", 3: "handle", 4: "expressions", 5: "compat", 6: "position",
                   7: "userdata", 9: "id", 10: "position_id"}


def _attrs(data):
    out = []
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out.append((kind & 0x3FFF, data[offset + 4:offset + length]))
        offset += (length + 3) & ~3
    return out


def _request(family, msg_type, table):
    name = table.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(name), 1) + name + b"\0" * ((4 - len(name) % 4) % 4)
    body = struct.pack("=BBH", family, 0, 0) + attr
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_NFTABLES << 8) | msg_type,
                       NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body


def _dump(family, msg_type, table):
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.bind((0, 0))
        sock.send(_request(family, msg_type, table))
        messages = []
        while True:
            data = sock.recv(1 << 20)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, _, _ = struct.unpack_from("=IHHII", data, offset)
                if kind == NLMSG_DONE:
                    return messages
                if kind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", data, offset + 16)[0]
                    if errno:
                        raise OSError(errno, os.strerror(errno))
                    return messages
                messages.append(data[offset + 20:offset + length])  # past nlmsghdr + nfgenmsg
                offset += (length + 3) & ~3
    finally:
        sock.close()


def _expression(data):
    name = b""
    payload = b""
    for kind, value in _attrs(data):
        if kind == 1:
            name = value.rstrip(b"\0")
        elif kind == 2:
            payload = value
    if name == b"counter":
        payload = b"".join(struct.pack("=HH", len(v) + 4, k) + b"\0" * len(v) for k, v in _attrs(payload))
    return "%s(%s)" % (name.decode(), payload.hex())


def dump_table(family_name, table):
    """The table as sorted-by-chain text lines: one per chain, then one per rule in chain order."""
    family = FAMILIES[family_name]
    lines = []
    chains = []
    for message in _dump(family, NFT_MSG_GETCHAIN, table):
        fields = {}
        for kind, value in _attrs(message):
            if kind in (2,):  # handle
                continue
            fields[NFTA_CHAIN_NAMES.get(kind, str(kind))] = value
        chains.append(fields["name"].rstrip(b"\0").decode())
        lines.append("chain %s %s" % (chains[-1], " ".join(
            "%s=%s" % (k, v.hex()) for k, v in sorted(fields.items()) if k != "name")))
    rules = {}
    for message in _dump(family, NFT_MSG_GETRULE, table):
        chain = ""
        parts = []
        for kind, value in _attrs(message):
            name = NFTA_RULE_NAMES.get(kind, str(kind))
            if name == "chain":
                chain = value.rstrip(b"\0").decode()
            elif name in ("handle", "position", "table"):
                continue
            elif name == "expressions":
                parts.append(" ".join(_expression(e) for _, e in _attrs(value)))
            else:
                parts.append("%s=%s" % (name, value.hex()))
        rules.setdefault(chain, []).append(" | ".join(parts))
    out = sorted(lines)
    for chain in sorted(rules):
        out.extend("rule %s %s" % (chain, r) for r in rules[chain])
    return out


if __name__ == "__main__":
    for line in dump_table(sys.argv[1], sys.argv[2]):
        print(line)
