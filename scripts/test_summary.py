#!/usr/bin/env python3
"""Passed / failed / skipped per test tier, from one ctest run's JUnit file.

Usage: scripts/test_summary.py BUILD_DIR JUNIT_XML [STAGE=passed|failed ...]

Tiers are the CTest labels (unit, api, kernel, vm); the robustness suites (test/robustness: CTest
names robustness_*, or the gtest binary robustness_*) are counted as their own tier "robustness"
whatever their label. STAGE=status pairs (sanitizers, fuzz) are printed as stages after the tiers.
The last line is "total: N passed, N failed, N skipped" over every CTest test. A registered test
missing from the JUnit file (ctest stopped early, say) is shown as "not run" and counted as failed
in the total.
"""
import collections
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

TIERS = ("unit", "api", "kernel", "vm", "robustness")


def test_tiers(build_dir):
    """CTest test name -> tier, from ctest --show-only=json-v1."""
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build_dir, capture_output=True,
                         text=True, check=True).stdout
    tiers = {}
    for test in json.loads(out).get("tests", []):
        name = test["name"]
        command = test.get("command") or [""]
        props = {p["name"]: p["value"] for p in test.get("properties", [])}
        labels = props.get("LABELS", [])
        if name.startswith("robustness_") or os.path.basename(command[0]).startswith("robustness_"):
            tiers[name] = "robustness"
        else:
            tiers[name] = labels[0] if labels else "unlabelled"
    return tiers


def results(junit_path):
    """CTest test name -> passed | failed | skipped."""
    status = {}
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        name = case.get("name")
        if case.find("failure") is not None or case.find("error") is not None or \
                case.get("status") == "fail":
            status[name] = "failed"
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            status[name] = "skipped"
        else:
            status[name] = "passed"
    return status


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir, junit = sys.argv[1], sys.argv[2]
    tiers = test_tiers(build_dir)
    status = results(junit) if os.path.exists(junit) else {}
    counts = collections.defaultdict(collections.Counter)
    for name, tier in tiers.items():
        counts[tier][status.get(name, "not run")] += 1
    total = collections.Counter()
    print("== tests per tier (passed / failed / skipped)")
    for tier in list(TIERS) + sorted(set(counts) - set(TIERS)):
        c = counts.get(tier, collections.Counter())
        total.update(c)
        line = f"   {tier:<11} {c['passed']:>5} passed {c['failed']:>5} failed {c['skipped']:>5} skipped"
        if c["not run"]:
            line += f" {c['not run']:>5} NOT RUN"
        print(line)
    for stage in sys.argv[3:]:
        name, _, result = stage.partition("=")
        print(f"   {name:<11} stage {result}")
    failed = total["failed"] + total["not run"]
    print(f"total: {total['passed']} passed, {failed} failed, {total['skipped']} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
