#!/usr/bin/env bash
# Sets up the machine, builds, and runs the whole test suite (every CTest tier: unit, api, kernel, vm),
# then the robustness stages. Ends with a summary of every stage, the names of failed tests, and
# passed / failed / skipped per tier (scripts/test_summary.py over ctest's JUnit output), so the
# tail of the output says what failed and what did not run. Under CI=true a skipped kernel,
# robustness or VM suite is a failure (test/testing/run_py_suite.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
declare -A stage_rc=()
stages=()
run_stage() {  # name, command...
  local name=$1 rc=0
  shift
  stages+=("$name")
  "$@" || rc=$?
  stage_rc[$name]=$rc
}
junit=$PWD/build/ctest-junit.xml
rm -f "$junit"
run_stage ctest bash -c "cd build && ctest --output-on-failure --timeout 600 -j2 --output-junit '$junit'"
# Robustness stages (issue 9): sanitizers on the unit+api tiers and the threaded parts, then each
# libFuzzer target for KPROXY_FUZZ_SECONDS (default 30). KPROXY_SKIP_SANITIZE=1 / KPROXY_FUZZ_SECONDS=0
# skip them.
if [[ "${KPROXY_SKIP_SANITIZE:-0}" != 1 ]]; then
  run_stage sanitizers bash scripts/sanitize.sh all
fi
if [[ "${KPROXY_FUZZ_SECONDS:-30}" != 0 ]]; then
  run_stage fuzz bash scripts/fuzz.sh "${KPROXY_FUZZ_SECONDS:-30}"
fi
rc=0
echo "== test summary"
for name in "${stages[@]}"; do
  if [[ ${stage_rc[$name]} == 0 ]]; then
    echo "   $name: passed"
  else
    echo "   $name: FAILED (exit ${stage_rc[$name]})"
    rc=1
  fi
done
for failed in build/Testing/Temporary/LastTestsFailed.log build-asan/Testing/Temporary/LastTestsFailed.log \
              build-tsan/Testing/Temporary/LastTestsFailed.log; do
  if [[ -s $failed && $failed -nt $marker ]]; then  # written by this run's ctest
    echo "   failed tests ($failed):"
    sed 's/^/     /' "$failed"
  fi
done
stage_results=()
for name in "${stages[@]}"; do
  [[ $name == ctest ]] && continue
  if [[ ${stage_rc[$name]} == 0 ]]; then stage_results+=("$name=passed"); else stage_results+=("$name=FAILED"); fi
done
python3 scripts/test_summary.py build "$junit" "${stage_results[@]}" || echo "   (no per-tier summary: $junit unreadable)"
exit $rc
