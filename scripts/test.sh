#!/usr/bin/env bash
# Sets up the machine, builds, and runs the whole test suite (every CTest tier: unit, api, kernel, vm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
rc=0
(cd build && ctest --output-on-failure --timeout 600 -j2) || rc=1
# Robustness stages (issue 9): sanitizers on the unit+api tiers and the threaded parts, then each
# libFuzzer target for KPROXY_FUZZ_SECONDS (default 30). KPROXY_SKIP_SANITIZE=1 / KPROXY_FUZZ_SECONDS=0
# skip them.
if [[ "${KPROXY_SKIP_SANITIZE:-0}" != 1 ]]; then
  bash scripts/sanitize.sh all || rc=1
fi
if [[ "${KPROXY_FUZZ_SECONDS:-30}" != 0 ]]; then
  bash scripts/fuzz.sh "${KPROXY_FUZZ_SECONDS:-30}" || rc=1
fi
exit $rc
