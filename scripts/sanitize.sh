#!/usr/bin/env bash
# Sanitizer stages (issue 9), run by scripts/test.sh after the normal ctest run:
#   1. build-asan: the tree with -DKPROXY_SANITIZE=address,undefined; runs the unit and api tiers
#      through ctest (every gtest binary and Python suite with those labels). Leaks, UB and memory
#      errors fail the run.
#   2. build-tsan: -DKPROXY_SANITIZE=thread; runs the threaded test binaries (sync runner and
#      ProxyState in proxier_unit_tests, HTTP/health servers in health_unit_tests, the daemon's
#      threads -- the sync runner thread, the config-file watcher and the kube-proxy binary's
#      command line in daemon_unit_tests; source, sync, HTTP and main threads of the running daemon
#      in daemon_kernel_tests (root; a TSan report in the daemon's log fails it) --, reflector/watch in
#      apiclient_api_unit_tests + apiclient_api_tests, object file source in
#      apiclient_decode_unit_tests) with test/robustness/tsan/libabsl_mutex_tsan.so preloaded: Debian's
#      Abseil is not built with TSan, and the shim tells TSan about absl::Mutex/CondVar hand-offs
#      (without it every ABSL_GUARDED_BY field is a false race). A self-check proves the shim is
#      active: the same program races without it and is clean with it.
# Usage: scripts/sanitize.sh [asan|tsan|all]   (default all). Exit status non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
jobs=${KPROXY_JOBS:-2}
rc=0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# TSan: report, then exit non-zero at the end (exitcode 66) so one run shows every race.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4:suppressions=$PWD/test/robustness/tsan/suppressions.txt}

configure() {  # dir sanitizer
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKPROXY_SANITIZE="$2" >/dev/null
}

# The executables the unit/api tiers need: every *_test(s) binary plus kube-proxy (binary tests and
# the kubeconfig e2e run it) and the backends probe.
test_targets() {
  local all
  all=$(ninja -C "$1" -t targets all)
  sed -n 's/^\([A-Za-z0-9_-]*_tests\?\|kube-proxy\|kproxy_backends_probe\): phony$/\1/p' <<<"$all" | sort -u
}

run_asan() {
  echo "sanitize: ASan+UBSan build (build-asan)"
  configure build-asan address,undefined
  # shellcheck disable=SC2046
  ninja -C build-asan -j"$jobs" $(test_targets build-asan)
  echo "sanitize: ASan+UBSan: ctest -L 'unit|api'"
  if ! (cd build-asan && ctest -L 'unit|api' --output-on-failure --timeout 900 -j"$jobs"); then
    echo "sanitize: ASan+UBSan FAILED"; rc=1
  fi
}

# daemon_kernel_tests runs the TSan-built kube-proxy as a daemon in a network namespace (root) and
# fails on any ThreadSanitizer report in the daemon's log.
TSAN_BINARIES=(proxier_unit_tests health_unit_tests daemon_unit_tests daemon_kernel_tests
               apiclient_api_unit_tests apiclient_decode_unit_tests apiclient_api_tests)

run_tsan() {
  echo "sanitize: TSan build (build-tsan)"
  configure build-tsan thread
  local shim=build-tsan/lib/libabsl_mutex_tsan.so
  mkdir -p build-tsan/lib
  c++ -std=c++20 -O1 -g -fPIC -shared -o "$shim" test/robustness/tsan/absl_mutex_tsan.cc -ldl
  c++ -std=c++20 -O1 -g -fsanitize=thread -o build-tsan/lib/absl_mutex_tsan_selfcheck \
    test/robustness/tsan/absl_mutex_tsan_selfcheck.cc -labsl_synchronization
  local bins=("${TSAN_BINARIES[@]}") all_targets
  all_targets=$(ninja -C build-tsan -t targets all)
  # A binary that is no longer a target would silently leave its threads unchecked: fail instead.
  for b in "${bins[@]}"; do
    if ! grep -q "^$b: phony" <<<"$all_targets"; then
      echo "sanitize: TSan: $b is not a build target (renamed? update TSAN_BINARIES)"; rc=1; return
    fi
  done
  ninja -C build-tsan -j"$jobs" "${bins[@]}"

  # Self-check: without the shim TSan must see the (false) race, with it none.
  if TSAN_OPTIONS="$TSAN_OPTIONS" build-tsan/lib/absl_mutex_tsan_selfcheck >/dev/null 2>&1; then
    echo "sanitize: TSan self-check: no race reported without the shim; is Abseil TSan-instrumented now?"
  fi
  if ! LD_PRELOAD=$PWD/$shim build-tsan/lib/absl_mutex_tsan_selfcheck >/dev/null 2>build-tsan/lib/selfcheck.log; then
    echo "sanitize: TSan self-check FAILED with the shim preloaded:"; cat build-tsan/lib/selfcheck.log; rc=1; return
  fi
  local logdir=build-tsan/tsan-logs
  rm -rf "$logdir"; mkdir -p "$logdir"
  for b in "${bins[@]}"; do
    echo "sanitize: TSan: $b"
    if ! (cd build-tsan && LD_PRELOAD=$PWD/lib/libabsl_mutex_tsan.so timeout 900 "bin/$b" --gtest_brief=1 \
            >"tsan-logs/$b.log" 2>&1); then
      echo "sanitize: TSan $b FAILED"; grep -m5 -A25 "WARNING: ThreadSanitizer\|FAILED" "$logdir/$b.log" || tail -40 "$logdir/$b.log"
      rc=1
    fi
  done
}

case "$what" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
[[ $rc -eq 0 ]] && echo "sanitize: $what passed"
exit $rc
