#!/usr/bin/env bash
# kill -9 a KVP writer at random points: no torn record, no lost acknowledged write.
# tests/helpers/kvp-writer logs each op before it starts ("T ...") and after kvp_set /
# kvp_delete returned ("A"); after every kill, a fresh store (verify mode, which replays
# the journal) must show every acknowledged op and a cleanly parsing pool file.
# Odd runs preload kvp-slowwrite.so, which pauses pool-file writes at page boundaries,
# so kills land inside a write (a torn record to repair) rather than only between ops.
source "$(dirname "$0")/../lib.sh"
W="$BIN/tests/helpers/kvp-writer"
[ -x "$W" ] || fail "missing $W (make tests-build)"
DIR="$TEST_TMPDIR/root/var/lib/hyperv"
LOG="$TEST_TMPDIR/ops.log"
: >"$LOG"
KILLS=${KVP_KILLS:-30}
OPS=${KVP_OPS_PER_RUN:-700}

total_acked=0 applied=0 finished=0
SHIM="$BIN/tests/helpers/kvp-slowwrite.so"
[ -f "$SHIM" ] || fail "missing $SHIM (make tests-build)"
for i in $(seq 1 "$KILLS"); do
  if [ $((i % 2)) -eq 1 ]; then
    # ASan wants to be first in the link order; the shim is not instrumented.
    LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
      "$W" write "$DIR" "$i" "$OPS" >>"$LOG" 2>>"$TEST_TMPDIR/writer.log" &
    pid=$!
    sleep "0.$(printf '%02d' $((RANDOM % 40 + 5)))"
  else
    "$W" write "$DIR" "$i" "$OPS" >>"$LOG" 2>>"$TEST_TMPDIR/writer.log" &
    pid=$!
    # 1-60 ms: startup, loading, then anywhere in the op loop.
    sleep "0.0$(printf '%02d' $((RANDOM % 60 + 1)))"
  fi
  kill -9 "$pid" 2>/dev/null || true
  rc=0; { wait "$pid"; } 2>/dev/null || rc=$?
  [ "$rc" -eq 0 ] && finished=$((finished + 1))
  [ "$rc" -eq 0 ] || [ "$rc" -eq 137 ] || fail "writer run $i exited $rc: $(tail -n 3 "$TEST_TMPDIR/writer.log")"
  # A kill inside a log write can leave its last line unterminated.
  [ -z "$(tail -c 1 "$LOG")" ] || echo >>"$LOG"
  out=$("$W" verify "$DIR" <"$LOG" 2>"$TEST_TMPDIR/verify.log") ||
    fail "after kill $i: $(head -n 20 "$TEST_TMPDIR/verify.log")"
  grep -h "Completing an interrupted" "$TEST_TMPDIR/verify.log" >>"$TEST_TMPDIR/repairs.log" || true
  if grep -qx APPLIED <<<"$out"; then echo A >>"$LOG"; applied=$((applied + 1)); fi
done
acked=$(grep -cx A "$LOG" || true)
[ "$acked" -gt 1000 ] || fail "only $acked acknowledged ops: the runs were killed too early to test anything"
repairs=$(cat "$TEST_TMPDIR/repairs.log" 2>/dev/null | wc -l)
[ "$repairs" -ge 3 ] || fail "only $repairs torn writes repaired: the kills did not land inside writes"
pass_step "$KILLS kill -9 runs ($finished finished before the kill), $acked acknowledged ops, $applied in-flight ops found applied, $repairs torn writes completed from the journal: nothing lost, nothing torn"
