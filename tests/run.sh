#!/usr/bin/env bash
# Runs the test suite: unit tests (check), then integration and interop scripts.
# Usage: tests/run.sh [unit|integration|interop|NAME...]. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
: "${BUILD:=build}"
export BUILD SANITIZE="${SANITIZE:-}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

tests=()
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(unit integration interop)
for w in "${want[@]}"; do
  case "$w" in
    unit) for t in tests/unit/test-*.c; do [ -e "$t" ] && tests+=("$BUILD/tests/$(basename "$t" .c)"); done ;;
    integration|interop) for t in tests/"$w"/*.sh; do [ -e "$t" ] && tests+=("$t"); done ;;
    *) tests+=("$w") ;;
  esac
done

passed=0 failed=0 skipped=0 failures=()
for t in "${tests[@]}"; do
  name=${t#tests/}
  start=$(date +%s.%N)
  log=$(mktemp /tmp/pvic-run.XXXXXX)
  timeout --kill-after=10 "${TEST_TIMEOUT:-300}" "$t" >"$log" 2>&1
  rc=$?
  dur=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  case $rc in
    0) passed=$((passed + 1)); echo "PASS $name (${dur}s)" ;;
    77) skipped=$((skipped + 1)); echo "SKIP $name: $(grep -m1 SKIP "$log")" ;;
    *) failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name (exit $rc, ${dur}s)"; sed 's/^/    /' "$log" | tail -n 60 ;;
  esac
  rm -f "$log"
done
echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
