#!/usr/bin/env python3
"""Fails when a component includes a header of a component above it (see ARCHITECTURE.md).

The layers point one way: proxier <- apiclient / backends <- cmd/kube-proxy, with logging below
all but the pure proxier. Each rule below names the include prefixes a folder must not use; an
include is `#include "folder/..."`.
Test-only code (the testing/ folders) may include the fakes; production code may not.

Usage: scripts/check_layers.py [--root DIR]   (default: the repository holding this script)
Exit status 0 when every include points down, 1 with one line per violation otherwise.
"""
import argparse
import os
import re
import sys

# folder -> (include prefixes it must not use, why). apiclient takes only the proxier's model (the
# top-level proxier/ headers), not the planners.
RULES = {
    "logging/": (("apiclient/", "proxier/", "backends/", "cmd/"),
                 "logging is the bottom layer: it includes no other component"),
    "proxier/": (("logging/", "apiclient/", "backends/", "cmd/"),
                 "proxier is pure: no logging, no API client, no kernel writer, no daemon"),
    "apiclient/": (("backends/", "cmd/", "proxier/iptables/", "proxier/ipvs/"),
                   "apiclient hands objects to the proxier model; it knows no rules or kernel"),
    "backends/": (("apiclient/", "cmd/"),
                  "backends program the kernel from a plan; they read no API and no daemon code"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_SUFFIXES = (".h", ".cc", ".cpp", ".hpp")


def is_testing_path(path):
    return "/testing/" in path or path.startswith("testing/")


def violations(root):
    found = []
    for folder, (forbidden, why) in sorted(RULES.items()):
        top = os.path.join(root, folder)
        if not os.path.isdir(top):
            found.append(f"{folder}: folder missing under {root}")
            continue
        for dirpath, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(1)
                        if target.startswith(forbidden):
                            found.append(f"{rel}:{lineno}: includes {target}: {why}")
                        elif is_testing_path(target) and not is_testing_path(rel):
                            found.append(f"{rel}:{lineno}: includes {target}: only tests use the "
                                         "fakes under testing/")
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    found = violations(args.root)
    for v in found:
        print(v)
    if found:
        print(f"check_layers: {len(found)} include(s) point up a layer (see ARCHITECTURE.md)")
        return 1
    print("check_layers: every include points down a layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
