#!/usr/bin/env python3
"""Packs a root filesystem directory into an OCI image archive, byte for byte reproducibly.

Used by scripts/image.sh. The archive is an OCI image layout (oci-layout, index.json, blobs/sha256/)
with docker's manifest.json beside it, the layout `docker save` writes since Docker 25, so
`podman load`, `docker load`, `ctr images import` and `skopeo copy oci-archive:` all take it.

Reproducible: entries sorted by name, every mtime set to --epoch (SOURCE_DATE_EPOCH), owners kept
as numbers with no user/group names, hard links as links in a fixed order, gzip without name or
time, JSON with sorted keys. The same rootfs and arguments give the same bytes, so the same commit
gives the same image digest.

Usage: oci_pack.py ROOTFS OUT.tar --name docker.io/kproxy/kube-proxy --tag 0.1.0 --epoch N
                   [--label key=value ...] [--entrypoint PATH] [--arch amd64]
Prints the manifest digest, the config digest and the layer's sizes as key=value lines.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


class HashingWriter:
    """A file-like sink that hashes and counts what passes through to `out`."""

    def __init__(self, out):
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self):
        self.out.flush()


def walk_sorted(root):
    """Every path under root (relative, '/'-separated), parents before children, sorted by name."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            out.append(name if rel == "." else f"{rel}/{name}")
    return sorted(out)


def layer_tar(root, sink, epoch):
    """Writes the uncompressed layer tar of root to sink."""
    seen_inodes = {}
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for rel in walk_sorted(root):
            path = os.path.join(root, rel)
            st = os.lstat(path)
            info = tarfile.TarInfo(rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid, info.uname, info.gname = st.st_uid, st.st_gid, "", ""
            info.mtime = epoch
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen_inodes:
                    info.type, info.linkname = tarfile.LNKTYPE, seen_inodes[key]
                else:
                    seen_inodes[key] = rel
                    info.size = st.st_size
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                    continue
            else:
                # Device nodes, FIFOs and sockets belong to the runtime, not the image.
                continue
            tar.addfile(info)


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    layout[f"blobs/sha256/{digest}"] = data
    return f"sha256:{digest}", len(data)


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rootfs")
    ap.add_argument("out")
    ap.add_argument("--name", required=True, help="repository, e.g. docker.io/kproxy/kube-proxy")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--epoch", type=int, required=True, help="SOURCE_DATE_EPOCH")
    ap.add_argument("--label", action="append", default=[], help="key=value (config label and "
                    "manifest annotation)")
    ap.add_argument("--entrypoint", default="")
    ap.add_argument("--arch", default="amd64")
    args = ap.parse_args()

    labels = dict(l.split("=", 1) for l in args.label)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))

    # Layer: the tar is hashed (diff_id) as it is gzipped (digest), never held whole in memory.
    compressed = io.BytesIO()
    gz_sink = HashingWriter(compressed)
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_sink, mtime=0, compresslevel=6) as gz:
        tar_sink = HashingWriter(gz)
        layer_tar(args.rootfs, tar_sink, args.epoch)
    layer_bytes = compressed.getvalue()
    diff_id = "sha256:" + tar_sink.sha.hexdigest()

    layout = {}
    layer_digest, layer_size = blob(layout, layer_bytes)
    config = {
        "architecture": args.arch,
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "scripts/image.sh (mmdebstrap, oci_pack.py)"}],
    }
    if args.entrypoint:
        config["config"]["Entrypoint"] = [args.entrypoint]
    config_digest, config_size = blob(layout, canonical_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
        "annotations": labels,
    }
    manifest_digest, manifest_size = blob(layout, canonical_json(manifest))
    full_name = f"{args.name}:{args.tag}"
    layout["index.json"] = canonical_json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size,
            "annotations": {"io.containerd.image.name": full_name,
                            "org.opencontainers.image.ref.name": args.tag},
        }],
    })
    layout["oci-layout"] = canonical_json({"imageLayoutVersion": "1.0.0"})
    # docker load (and podman load, which tries it first) reads this one.
    short_name = full_name[len("docker.io/"):] if full_name.startswith("docker.io/") else full_name
    layout["manifest.json"] = canonical_json([{
        "Config": f"blobs/sha256/{config_digest.split(':')[1]}",
        "RepoTags": [short_name],
        "Layers": [f"blobs/sha256/{layer_digest.split(':')[1]}"],
    }])

    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        dirs = {"blobs", "blobs/sha256"}
        for name in sorted(dirs | set(layout)):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = args.epoch, 0, 0, "", ""
            if name in dirs:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(layout[name])
                tar.addfile(info, io.BytesIO(layout[name]))
    os.replace(tmp, args.out)
    print(f"manifest_digest={manifest_digest}")
    print(f"config_digest={config_digest}")
    print(f"layer_compressed_bytes={layer_size}")
    print(f"layer_uncompressed_bytes={tar_sink.size}")
    print(f"name={full_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
