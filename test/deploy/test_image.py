#!/usr/bin/env python3
"""The image that scripts/image.sh builds: reproducible, and its own programs do the seed's check.

CTest runs three entry points (labels kernel and image; root; Debian's mirror reachable):
  image_build          ImageBuild: scripts/image.sh into $KPROXY_IMAGE_DIR/first.oci.tar (the
                       fixture the other two use; the image is built once per test run);
  image_reproducible   ImageReproducible: a second scripts/image.sh from the same commit into
                       second.oci.tar: same manifest digest, same archive bytes;
  image_seed_check     ImageSeedCheck: unpacks first.oci.tar as an OCI layout (index.json ->
                       manifest -> config, layer) into a root filesystem and runs scripts/demo --ci
                       (network namespaces, nginx Pods, the haproxy ELB) with kube-proxy = the
                       image's /usr/local/bin/kube-proxy chroot'ed into that root filesystem, so
                       the image's own binary, libraries, iptables-nft-restore and (with
                       --variant legacy) iptables-legacy-restore program the node: the pass-through
                       LB IP gets no rule and the ELB sees the connection.
Skipped (marker KPROXY-KERNEL-SUITE-SKIPPED) when not root or mmdebstrap is missing.
"""
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
IMAGE_DIR = os.environ.get("KPROXY_IMAGE_DIR") or os.path.join(REPO, "build", "image-test")
FIRST = os.path.join(IMAGE_DIR, "first.oci.tar")
SECOND = os.path.join(IMAGE_DIR, "second.oci.tar")
BUILD_TIMEOUT = 1500


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("KPROXY-KERNEL-SUITE-SKIPPED: not root (mmdebstrap --mode=root, chroot)")
    for tool in ("mmdebstrap", "unshare", "chroot"):
        if not shutil.which(tool):
            raise unittest.SkipTest(f"KPROXY-KERNEL-SUITE-SKIPPED: {tool} missing (scripts/setup.sh)")


def build_image(out):
    """Runs scripts/image.sh; returns its key=value report lines as a dict."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    p = subprocess.run([os.path.join(REPO, "scripts", "image.sh"), "--out", out], cwd=REPO,
                       capture_output=True, text=True, timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)
    print(p.stdout + p.stderr, flush=True)
    if p.returncode != 0:
        raise AssertionError(f"scripts/image.sh exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l and " " not in l.split("=")[0])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OciArchive:
    """An OCI image layout archive, read the way a runtime reads it: index -> manifest -> blobs."""

    def __init__(self, path):
        self.tar = tarfile.open(path)  # closed by close(), or when used in a with-block
        self.index = self.json("index.json")
        [self.descriptor] = self.index["manifests"]
        self.manifest = self.blob(self.descriptor["digest"], json_=True)
        self.config = self.blob(self.manifest["config"]["digest"], json_=True)

    def close(self):
        self.tar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def json(self, name):
        return json.loads(self.tar.extractfile(name).read())

    def blob(self, digest, json_=False):
        algorithm, hex_ = digest.split(":")
        data = self.tar.extractfile(f"blobs/{algorithm}/{hex_}").read()
        assert hashlib.sha256(data).hexdigest() == hex_, f"blob {digest} does not match its digest"
        return json.loads(data) if json_ else data

    def unpack_rootfs(self, dest):
        [layer] = self.manifest["layers"]
        raw = gzip.decompress(self.blob(layer["digest"]))
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        assert self.config["rootfs"]["diff_ids"] == [diff_id], "layer does not match the config's diff_id"
        with tempfile.TemporaryFile() as f:
            f.write(raw)
            f.seek(0)
            with tarfile.open(fileobj=f) as layer_tar:
                layer_tar.extractall(dest, numeric_owner=True)


class ImageBuild(unittest.TestCase):
    def test_image_command_produces_a_loadable_oci_archive(self):
        for stale in (FIRST, SECOND):
            if os.path.exists(stale):
                os.remove(stale)
        report = build_image(FIRST)
        with OciArchive(FIRST) as image:
            self.check_archive(image, report)

    def check_archive(self, image, report):
        self.assertEqual(report["manifest_digest"], image.descriptor["digest"])
        names = set(image.tar.getnames())
        self.assertTrue({"oci-layout", "index.json", "manifest.json"} <= names, names)
        [docker] = image.json("manifest.json")
        self.assertEqual(docker["Config"], "blobs/sha256/" + image.manifest["config"]["digest"][7:])
        with open(os.path.join(REPO, "VERSION")) as f:
            version = [l.split("=", 1)[1].strip() for l in f if l.startswith("KPROXY_VERSION=")][0]
        self.assertEqual(docker["RepoTags"], [f"kproxy/kube-proxy:{version}"])
        labels = image.config["config"]["Labels"]
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        self.assertEqual(labels["org.opencontainers.image.version"], version)
        self.assertTrue(labels["org.opencontainers.image.revision"].startswith(head), labels)
        self.assertIn("org.opencontainers.image.source", labels)
        print(f"image: {FIRST}: {os.path.getsize(FIRST)} bytes, manifest {report['manifest_digest']}, "
              f"layer {report['layer_compressed_bytes']} bytes compressed, "
              f"{report['layer_uncompressed_bytes']} uncompressed", flush=True)


class ImageReproducible(unittest.TestCase):
    def test_same_commit_gives_the_same_digest(self):
        self.assertTrue(os.path.exists(FIRST), "image_build did not produce the first image")
        report = build_image(SECOND)
        with OciArchive(FIRST) as first, OciArchive(SECOND) as second:
            digests = first.descriptor["digest"], second.descriptor["digest"]
        print(f"first:  manifest {digests[0]} archive sha256:{sha256_file(FIRST)}")
        print(f"second: manifest {digests[1]} archive sha256:{sha256_file(SECOND)}", flush=True)
        self.assertEqual(report["manifest_digest"], digests[0])
        self.assertEqual(digests[0], digests[1])
        self.assertEqual(sha256_file(FIRST), sha256_file(SECOND))


WRAPPER = """#!/bin/sh
# The image's kube-proxy in the image's root filesystem, in the caller's network namespace: a
# private mount namespace gets the host's /proc, /sys, /dev, /run (xtables lock) and /tmp (the
# demo's objects directory) bound into the root filesystem, then chroot.
exec unshare --mount --propagation private /bin/sh -c '
  root=$0
  for d in proc sys dev run tmp; do mkdir -p "$root/$d" && mount --rbind "/$d" "$root/$d" || exit 2; done
  exec chroot "$root" /usr/local/bin/kube-proxy "$@"' {root} "$@"
"""


class ImageSeedCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(FIRST):
            raise AssertionError("image_build did not produce the image")
        cls.tmp = tempfile.mkdtemp(prefix="image-rootfs-", dir=IMAGE_DIR)
        cls.root = os.path.join(cls.tmp, "rootfs")
        os.mkdir(cls.root)
        with OciArchive(FIRST) as image:
            image.unpack_rootfs(cls.root)
        cls.wrapper = os.path.join(cls.tmp, "kube-proxy-in-image")
        with open(cls.wrapper, "w") as f:
            f.write(WRAPPER.format(root=cls.root))
        os.chmod(cls.wrapper, 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def in_image(self, *argv):
        return subprocess.run(["chroot", self.root] + list(argv), capture_output=True, text=True,
                              timeout=60)

    def test_image_holds_kube_proxy_its_libraries_and_the_node_tools(self):
        version = self.in_image("/usr/local/bin/kube-proxy", "--version")
        self.assertEqual(version.returncode, 0, version.stderr)
        self.assertIn("kproxy v", version.stdout)
        for tool in ("iptables-nft-restore", "iptables-legacy-restore", "ip6tables-nft-restore",
                     "ip6tables-legacy-restore", "ipset", "conntrack", "modprobe"):
            p = self.in_image("sh", "-c", f"command -v {tool}")
            self.assertEqual(p.returncode, 0, f"{tool} missing from the image")
        self.assertFalse(os.listdir(os.path.join(self.root, "usr/share/man")) if
                         os.path.isdir(os.path.join(self.root, "usr/share/man")) else [])

    def run_demo(self, *extra):
        env = dict(os.environ, KPROXY_BIN=self.wrapper, PYTHONDONTWRITEBYTECODE="1")
        p = subprocess.run([os.path.join(REPO, "scripts", "demo"), "--ci"] + list(extra), env=env,
                           capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
        print(p.stdout + p.stderr, flush=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("kube-proxy-in-image --proxy-mode=iptables", p.stdout, "the demo ran another binary")
        rows = [l for l in p.stdout.splitlines() if l.startswith("  1  ") or l.startswith("  4  ")]
        self.assertEqual(len(rows), 2, p.stdout)
        for row in rows:
            self.assertRegex(row, r"none\s+\d+\s+200 .*\(\+1\)\s+ok: via the ELB")

    def test_seed_check_passes_with_the_images_programs_on_iptables_nft(self):
        self.run_demo("--variant", "nft")

    def test_seed_check_passes_with_the_images_programs_on_iptables_legacy(self):
        self.run_demo("--variant", "legacy")


if __name__ == "__main__":
    unittest.main()
