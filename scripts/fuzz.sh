#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each one for a bounded time on its
# seed corpus (fuzz/corpus/<target>/). Fails on any crash, leak, timeout or out-of-memory.
# Usage: scripts/fuzz.sh [seconds-per-target (default 60)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DKPROXY_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-fuzz fuzz_targets
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for bin in build-fuzz/bin/*_fuzzer; do
  name=$(basename "$bin" _fuzzer)
  mkdir -p "$work/$name"
  seeds=fuzz/corpus/$name
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$work/$name/" "$work/$name" "$seeds" >"$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -40 "$work/$name.log"
    failed=$((failed + 1))
  else
    grep -E 'stat::number_of_executed_runs' "$work/$name.log" || true
  fi
done
total=$(ls build-fuzz/bin/*_fuzzer | wc -l)
echo "fuzz: $((total - failed)) passed, $failed failed"
[[ $failed -eq 0 ]]
