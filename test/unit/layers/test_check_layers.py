"""scripts/check_layers.py passes on this tree and fails on each kind of upward include."""
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "scripts", "check_layers.py")


def run(root):
    return subprocess.run([sys.executable, SCRIPT, "--root", root], capture_output=True, text=True)


class CheckLayersTest(unittest.TestCase):
    def test_this_tree_has_no_upward_include(self):
        r = run(REPO)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def make_tree(self, tmp, bad_file, bad_include):
        for folder in ("logging", "proxier", "apiclient", "backends/iptables", "cmd/kube-proxy"):
            os.makedirs(os.path.join(tmp, folder), exist_ok=True)
        # A legal downward include in every layer, so only the planted one can fail the check.
        legal = {"logging/log.h": "absl/strings/str_cat.h", "proxier/model.h": "absl/time/time.h",
                 "apiclient/source.h": "proxier/model.h", "apiclient/client.h": "logging/log.h",
                 "backends/iptables/writer.h": "proxier/iptables/plan.h",
                 "cmd/kube-proxy/main.cc": "apiclient/source.h"}
        for path, include in legal.items():
            with open(os.path.join(tmp, path), "w") as f:
                f.write(f'#pragma once\n#include "{include}"\n')
        with open(os.path.join(tmp, bad_file), "a") as f:
            f.write(f'#include "{bad_include}"\n')

    def test_fails_on_each_upward_include(self):
        cases = [
            ("logging/log.h", "proxier/model.h"),
            ("proxier/model.h", "logging/log.h"),
            ("proxier/model.h", "apiclient/source.h"),
            ("proxier/model.h", "backends/iptables/writer.h"),
            ("proxier/model.h", "cmd/kube-proxy/proxy_server.h"),
            ("apiclient/source.h", "backends/iptables/writer.h"),
            ("apiclient/source.h", "proxier/iptables/plan.h"),
            ("backends/iptables/writer.h", "apiclient/source.h"),
            ("backends/iptables/writer.h", "cmd/kube-proxy/options.h"),
            ("backends/iptables/writer.h", "backends/iptables/testing/fake_runner.h"),
        ]
        for bad_file, bad_include in cases:
            with self.subTest(file=bad_file, include=bad_include), \
                    tempfile.TemporaryDirectory() as tmp:
                self.make_tree(tmp, bad_file, bad_include)
                r = run(tmp)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn(f"{bad_file}:3: includes {bad_include}", r.stdout)

    def test_clean_synthetic_tree_passes(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.make_tree(tmp, "cmd/kube-proxy/main.cc", "backends/iptables/writer.h")
            r = run(tmp)
            self.assertEqual(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    unittest.main()
