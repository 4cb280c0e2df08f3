#!/usr/bin/env python3
"""Static security checks of the production sources (everything but tests, fakes, benches and
fuzzers): object data can never reach a shell because no production code runs one, and no
production code creates files under predictable temporary names.

kproxy runs other programs in two places only, each with posix_spawn and an argv vector (no shell,
no PATH lookup of a name from API objects): backends/iptables/subprocess.cc (the iptables and ipset
tools) and apiclient/token_source.cc (a kubeconfig's exec credential plugin, named by the cluster
admin who wrote the kubeconfig); this test pins that."""
import os
import re
import unittest

REPO = os.environ.get("KPROXY_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
PRODUCTION_DIRS = ["apiclient", "backends", "cmd", "proxier", "logging"]


def production_sources():
    for top in PRODUCTION_DIRS:
        for root, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if d != "testing"]
            for f in files:
                if f.endswith((".cc", ".h", ".cpp", ".hpp")):
                    yield os.path.join(root, f)


def code_of(path):
    """The file with // and /* */ comments removed (string literals kept), by line."""
    text = open(path, errors="replace").read()
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    lines = []
    for line in text.splitlines():
        # Drop a // comment that is not inside a string literal (good enough for this tree).
        out, in_str, i = [], False, 0
        while i < len(line):
            c = line[i]
            if c == "\\" and in_str:
                out.append(line[i:i + 2])
                i += 2
                continue
            if c == '"':
                in_str = not in_str
            if not in_str and line.startswith("//", i):
                break
            out.append(c)
            i += 1
        lines.append("".join(out))
    return lines


def findings(patterns):
    hits = []
    for path in production_sources():
        for n, line in enumerate(code_of(path), 1):
            for name, rx in patterns:
                if re.search(rx, line):
                    hits.append(f"{os.path.relpath(path, REPO)}:{n}: {name}: {line.strip()}")
    return hits


class SecurityStaticTest(unittest.TestCase):
    def test_tree_is_found(self):
        files = list(production_sources())
        self.assertGreater(len(files), 50, f"production sources not found under {REPO}")
        self.assertTrue(any(f.endswith("subprocess.cc") for f in files))

    def test_no_shell_is_ever_run(self):
        hits = findings([
            ("system()", r"(?<![\w:.>])(std::)?system\s*\("),
            ("popen()", r"\bpopen\s*\("),
            ("a shell binary", r'"/(usr/)?bin/(ba|da|z)?sh"'),  # plain "sh" is also an IPVS scheduler
            ("sh -c", r'"-c"|"sh -c|sh -c '),
            ("execl*()", r"\bexecl[ep]?\s*\("),
            ("wordexp()", r"\bwordexp\s*\("),
        ])
        self.assertEqual(hits, [], "production code must not run a shell:\n" + "\n".join(hits))

    def test_programs_are_started_only_through_posix_spawn_with_an_argv(self):
        spawners = findings([("spawn/exec", r"\b(posix_spawnp?|execvp?e?|fork|vfork|clone)\s*\(")])
        files = sorted({h.split(":")[0] for h in spawners})
        self.assertEqual(files, ["apiclient/token_source.cc", "backends/iptables/subprocess.cc"],
                         "programs are started in two places only:\n" + "\n".join(spawners))

    def test_no_predictable_temporary_files(self):
        hits = findings([
            ("a /tmp path", r'"/tmp/|"/var/tmp/'),
            ("tmpnam/tempnam/mktemp", r"\b(tmpnam|tempnam|mktemp)\s*\("),
            ("tmpfile()", r"\btmpfile\s*\("),
        ])
        self.assertEqual(hits, [], "temporary files must come from mkstemp/O_TMPFILE:\n" + "\n".join(hits))

    def test_files_created_with_open_are_exclusive_or_fixed(self):
        # Any open(..., O_CREAT) must also say O_EXCL (a new file) or go to a fixed system path.
        hits = []
        for path in production_sources():
            for n, line in enumerate(code_of(path), 1):
                if "O_CREAT" in line and "O_EXCL" not in line:
                    hits.append(f"{os.path.relpath(path, REPO)}:{n}: {line.strip()}")
        self.assertEqual(hits, [], "O_CREAT without O_EXCL:\n" + "\n".join(hits))


if __name__ == "__main__":
    unittest.main()
