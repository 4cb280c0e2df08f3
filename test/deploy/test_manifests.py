#!/usr/bin/env python3
"""The manifests agree with the binary and cannot hurt a cluster.

- every YAML file under manifests/ parses, each document a named Kubernetes object;
- the images are kproxy/kube-proxy:<VERSION>; probes hit the binary's health port (its default
  healthzBindAddress) on /healthz and /livez; the container command lines are accepted by the
  binary's own flag parsing and config validation (kube-proxy ... --write-config-to, which parses,
  validates and exits, touching nothing), with the values they would get in a Pod;
- the fresh-cluster manifest carries no cluster-specific value: API server, Pod CIDR and mode come
  from the ConfigMap kube-proxy-cluster, which it does not create and whose keys its header's
  command creates; RBAC is system:node-proxier only;
- the kubeadm overlay, rendered by `kubectl kustomize` over kubeadm's own DaemonSet (fixture from
  kubeadm's manifests.go), changes only the image and the probes; kubeadm's ConfigMap is not among
  its output, and its config.conf loads and validates in the binary, mode included.

Needs the built kube-proxy (KPROXY_BIN) and, for the overlay, kubectl (skipped without it).
"""
import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
MANIFESTS = os.path.join(REPO, "manifests")
TESTDATA = os.path.join(os.path.dirname(os.path.realpath(__file__)), "testdata")
KPROXY = os.environ.get("KPROXY_BIN") or os.path.join(REPO, "build", "bin", "kube-proxy")
# What a Pod's $(VAR) references would hold on a real node.
POD_ENV = {"NODE_NAME": "node-a", "CLUSTER_CIDR": "10.244.0.0/16", "PROXY_MODE": "ipvs"}


def version_file(key):
    with open(os.path.join(REPO, "VERSION")) as f:
        for line in f:
            if line.startswith(key + "="):
                return line.strip().split("=", 1)[1]
    raise KeyError(key)


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name:
            return d
    return None


def kube_proxy_container(daemonset):
    containers = daemonset["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "kube-proxy")


def effective_config(args):
    """Runs the binary's parsing + validation on args; returns (exit code, output, config dict)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "effective.yaml")
        p = subprocess.run([KPROXY] + args + [f"--write-config-to={out}"], capture_output=True,
                           text=True, timeout=60)
        config = load_all(out)[0] if p.returncode == 0 and os.path.exists(out) else None
        return p.returncode, p.stdout + p.stderr, config


def expand(arg, env):
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


def health_port():
    rc, out, config = effective_config([])
    assert rc == 0, out
    return int(config["healthzBindAddress"].rsplit(":", 1)[1])


def assert_probes_reach_the_health_server(test, container):
    port = health_port()
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        test.assertEqual((get["path"], get["port"]), (path, port), probe)
        test.assertNotIn("host", get, "the health server listens on the node's addresses")
    for p in container.get("ports", []):
        test.assertEqual((p["name"], p["containerPort"]), ("healthz", port))


def setUpModule():
    if not os.access(KPROXY, os.X_OK):
        raise unittest.SkipTest(f"KPROXY-KERNEL-SUITE-SKIPPED: kube-proxy not built at {KPROXY}")


class ManifestsTest(unittest.TestCase):
    def test_every_manifest_parses_into_named_objects(self):
        files = []
        for dirpath, _, names in os.walk(MANIFESTS):
            files += [os.path.join(dirpath, n) for n in names if n.endswith((".yaml", ".yml"))]
        self.assertGreaterEqual(len(files), 5)
        for path in files:
            if os.path.basename(path) == "kube-proxy-daemonset.yaml" and "kubeadm" in path:
                continue  # the operator's export, not ours (.gitignore)
            docs = load_all(path)
            self.assertTrue(docs, path)
            for d in docs:
                self.assertTrue(d.get("apiVersion") and d.get("kind"), path)
                if d["kind"] != "Kustomization":
                    self.assertTrue(d.get("metadata", {}).get("name"), path)

    def test_images_are_this_version(self):
        want = "kproxy/kube-proxy:" + version_file("KPROXY_VERSION")
        fresh = find(load_all(os.path.join(MANIFESTS, "kube-proxy.yaml")), "DaemonSet", "kube-proxy")
        patch = find(load_all(os.path.join(MANIFESTS, "kubeadm", "kproxy.yaml")), "DaemonSet",
                     "kube-proxy")
        self.assertEqual(kube_proxy_container(fresh)["image"], want)
        self.assertEqual(kube_proxy_container(patch)["image"], want)


class FreshClusterManifestTest(unittest.TestCase):
    def setUp(self):
        self.path = os.path.join(MANIFESTS, "kube-proxy.yaml")
        self.docs = load_all(self.path)
        self.ds = find(self.docs, "DaemonSet", "kube-proxy")
        self.container = kube_proxy_container(self.ds)

    def test_creates_no_configmap_and_names_no_api_server(self):
        self.assertEqual([d["kind"] for d in self.docs if d["kind"] == "ConfigMap"], [])
        with open(self.path) as f:
            body = "".join(l for l in f if not l.lstrip().startswith("#"))
        self.assertNotRegex(body, r"server:|https?://|clusterCIDR|\b10\.\d+\.\d+\.\d+/\d+")

    def test_cluster_values_come_from_a_required_configmap_the_header_tells_how_to_create(self):
        refs = {}
        for e in self.container["env"]:
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                self.assertEqual(ref["name"], "kube-proxy-cluster")
                self.assertFalse(ref.get("optional", False), "a missing value must fail the Pod")
                refs[e["name"]] = ref["key"]
        self.assertEqual(set(refs), {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
                                     "CLUSTER_CIDR", "PROXY_MODE"})
        with open(self.path) as f:
            header = f.read().split("\napiVersion:", 1)[0]
        self.assertIn("create configmap kube-proxy-cluster", header)
        self.assertEqual(set(re.findall(r"--from-literal=([\w-]+)=", header)), set(refs.values()))

    def test_command_is_accepted_by_the_binary_with_the_pods_values(self):
        args = [expand(a, POD_ENV) for a in self.container["command"][1:]]
        self.assertEqual(self.container["command"][0], "/usr/local/bin/kube-proxy")
        rc, out, config = effective_config(args)
        self.assertEqual(rc, 0, out)
        self.assertEqual((config["mode"], config["clusterCIDR"], config["hostnameOverride"]),
                         ("ipvs", "10.244.0.0/16", "node-a"))
        # A wrong value fails loudly, naming the flag.
        bad = dict(POD_ENV, PROXY_MODE="ipvss")
        rc, out, _ = effective_config([expand(a, bad) for a in self.container["command"][1:]])
        self.assertNotEqual(rc, 0)
        self.assertIn("ipvss", out)

    def test_probes_and_ports_reach_the_health_server(self):
        assert_probes_reach_the_health_server(self, self.container)

    def test_rbac_is_system_node_proxier_only(self):
        kinds = sorted(d["kind"] for d in self.docs)
        self.assertEqual(kinds, ["ClusterRoleBinding", "DaemonSet", "ServiceAccount"])
        crb = find(self.docs, "ClusterRoleBinding", "kube-proxy")
        self.assertEqual(crb["roleRef"]["name"], "system:node-proxier")
        self.assertEqual(crb["subjects"], [{"kind": "ServiceAccount", "name": "kube-proxy",
                                            "namespace": "kube-system"}])
        self.assertEqual(self.ds["spec"]["template"]["spec"]["serviceAccountName"], "kube-proxy")


class KubeadmOverlayTest(unittest.TestCase):
    def setUp(self):
        self.kubeadm_ds = load_all(os.path.join(TESTDATA, "kubeadm-kube-proxy-daemonset.yaml"))[0]
        self.kubeadm_cm = load_all(os.path.join(TESTDATA, "kubeadm-kube-proxy-configmap.yaml"))[0]

    def render(self):
        kubectl = shutil.which("kubectl")
        if not kubectl:
            self.skipTest("kubectl not installed (scripts/setup.sh installs Debian's kubernetes-client)")
        with tempfile.TemporaryDirectory() as tmp:
            for name in os.listdir(os.path.join(MANIFESTS, "kubeadm")):
                if name != "kube-proxy-daemonset.yaml":
                    shutil.copy(os.path.join(MANIFESTS, "kubeadm", name), tmp)
            shutil.copy(os.path.join(TESTDATA, "kubeadm-kube-proxy-daemonset.yaml"),
                        os.path.join(tmp, "kube-proxy-daemonset.yaml"))
            p = subprocess.run([kubectl, "kustomize", tmp], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            return list(yaml.safe_load_all(p.stdout))

    def test_only_the_image_and_the_probes_change(self):
        out = self.render()
        self.assertEqual([(d["kind"], d["metadata"]["name"]) for d in out], [("DaemonSet", "kube-proxy")],
                         "the overlay must emit kubeadm's DaemonSet only: no ConfigMap, no RBAC")
        rendered = out[0]
        got = kube_proxy_container(rendered)
        self.assertEqual(got["image"], "kproxy/kube-proxy:" + version_file("KPROXY_VERSION"))
        assert_probes_reach_the_health_server(self, got)
        # Put kubeadm's values back: what is left must be kubeadm's DaemonSet exactly.
        restored = copy.deepcopy(rendered)
        container = kube_proxy_container(restored)
        container["image"] = kube_proxy_container(self.kubeadm_ds)["image"]
        del container["livenessProbe"], container["readinessProbe"]
        self.assertEqual(json.dumps(restored, sort_keys=True), json.dumps(self.kubeadm_ds, sort_keys=True))

    def test_overlay_without_the_exported_daemonset_fails(self):
        kubectl = shutil.which("kubectl")
        if not kubectl:
            self.skipTest("kubectl not installed")
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("kustomization.yaml", "kproxy.yaml"):
                shutil.copy(os.path.join(MANIFESTS, "kubeadm", name), tmp)
            p = subprocess.run([kubectl, "kustomize", tmp], capture_output=True, text=True, timeout=120)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("kube-proxy-daemonset.yaml", p.stderr)

    def test_kubeadms_configmap_loads_in_the_binary_with_kubeadms_command_and_mode(self):
        command = kube_proxy_container(self.kubeadm_ds)["command"]
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("", "ipvs"):
                conf = self.kubeadm_cm["data"]["config.conf"].replace('mode: ""', f'mode: "{mode}"')
                path = os.path.join(tmp, "config.conf")
                with open(path, "w") as f:
                    f.write(conf)
                args = [expand(a, POD_ENV).replace("/var/lib/kube-proxy/config.conf", path)
                        for a in command[1:]]
                rc, out, config = effective_config(args)
                self.assertEqual(rc, 0, out)
                self.assertEqual(config["mode"], mode or "iptables")
                self.assertEqual(config["clusterCIDR"], "10.244.0.0/16")
                self.assertEqual(config["clientConnection"]["kubeconfig"],
                                 "/var/lib/kube-proxy/kubeconfig.conf")


class OperatorGuideTest(unittest.TestCase):
    def test_alert_rules_parse_and_use_only_metrics_the_binary_exports(self):
        with open(os.path.join(REPO, "docs", "operator-guide.md")) as f:
            guide = f.read()
        blocks = re.findall(r"```yaml\n(.*?)```", guide, re.S)
        rules = [r for b in blocks for g in yaml.safe_load(b)["groups"] for r in g["rules"]]
        self.assertGreaterEqual(len(rules), 4)
        exported = set()
        for src in ("metrics.cc", "build_info_metric.cc"):
            with open(os.path.join(REPO, "cmd", "kube-proxy", src)) as f:
                exported |= set(re.findall(r'Name\("(\w+)"\)', f.read()))
        for rule in rules:
            for name in re.findall(r"\b(kube\w+?)(?:_bucket)?\b", rule["expr"]):
                self.assertIn(name, exported, rule["alert"])


if __name__ == "__main__":
    unittest.main()
