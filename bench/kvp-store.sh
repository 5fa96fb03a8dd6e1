#!/usr/bin/env bash
# KVP store throughput through the store API at 100, 1,000 and 10,000 records in a
# file-backed pool (tests/helpers/kvp-bench.c). The goal is flat cost per operation
# from 100 to 10,000 records (O(1) lookup, O(1) enumerate by index, record-granular I/O).
. "$(dirname "$0")/../tests/lib.sh"
B="$BIN/tests/helpers/kvp-bench"
[ -x "$B" ] || fail "missing $B (make tests-build)"
SECS=${KVP_BENCH_SECONDS:-0.5}
printf '%-34s %12s %12s %12s\n' "kvp store, ops/s" "100" "1,000" "10,000"
declare -A res
for n in 100 1000 10000; do
  dir="$TEST_TMPDIR/n$n/var/lib/hyperv"
  while read -r recs op rate; do res[$op,$recs]=$rate; done < <("$B" "$dir" "$n" "$SECS")
done
for op in "fill(SET-new)" SET GET ENUMERATE "refresh+ENUMERATE"; do
  printf '%-34s %12s %12s %12s\n' "pvic: $op" "${res[$op,100]}" "${res[$op,1000]}" "${res[$op,10000]}"
done
# Flatness check: 10,000-record rate within 3x of the 100-record rate for each op.
for op in SET GET ENUMERATE "refresh+ENUMERATE"; do
  a=${res[$op,100]} b=${res[$op,10000]}
  awk -v a="$a" -v b="$b" 'BEGIN{exit !(b * 3 >= a)}' ||
    echo "WARNING: $op slows from $a to $b ops/s between 100 and 10,000 records"
done
