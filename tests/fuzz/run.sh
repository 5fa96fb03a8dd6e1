#!/usr/bin/env bash
# Runs each libFuzzer binary for $FUZZ_SECONDS on its corpus (tests/fuzz/corpus/NAME,
# kept in the tree; new inputs land in a scratch copy so the tree stays as committed).
# A crash, leak or timeout fails the run and leaves the reproducer in build-fuzz/.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
failed=0 passed=0
for bin in "$@"; do
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/$name
  work=build-fuzz/corpus-$name
  mkdir -p "$seeds" "$work"
  echo "fuzz: $name for ${secs}s"
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/$name-" "$work" "$seeds" >"build-fuzz/$name.log" 2>&1; then
    passed=$((passed + 1))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$name.log" | tail -n1)
    echo "fuzz: $name ok (${execs:-?} executions, $(ls "$work" | wc -l) new corpus entries)"
  else
    failed=$((failed + 1))
    echo "fuzz: $name FAILED"; tail -n 40 "build-fuzz/$name.log"
  fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
