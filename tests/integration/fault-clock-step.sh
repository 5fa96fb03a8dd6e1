#!/usr/bin/env bash
# Fault: the clock is stepped underneath pvicd (as an administrator's `date -s` would).
# The machine's clock is never touched: pvicd disciplines its virtual clock, and SIGUSR1
# (a test hook that exists only with --virtual-clock, docs/timesync.md) steps that clock
# by PVICD_VIRTUAL_CLOCK_STEP_MS. pvic-hostsim hyperv sends a time sample every 200 ms.
# pvicd logs the step, sees the next samples 4 s off and steps back (not a 4 s slew that
# would take hours), ends within 10 ms of the host again, and keeps answering heartbeats
# and KVP throughout. Twice, to show the filter is not poisoned by the first jump.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}
SIM=$TEST_TMPDIR/hv
mkdir -p "$SIM"
start_private_bus
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 200 \
  >"$TEST_TMPDIR/hv.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hv.out" || fail "pvic-hostsim did not print ready"
# shellcheck disable=SC2046
PVICD_VIRTUAL_CLOCK_STEP_MS=4000 $(run_pvicd_cmd) --transport=vmbus --vmbus-mode=uio --root "$SIM/g1/root" \
  --virtual-clock --log-level=debug >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
ctl() { hv_ctl "$SIM/control.sock" "$@"; }
chan_is() { [ "$(ctl '{"op":"guests"}' | jget "guests.0.channels.$1.negotiated")" = true ]; }
wait_for 30 chan_is timesync || fail "timesync did not negotiate"
wait_for 30 "$BIN/pvicctl" status || fail "pvicd not on the bus"
offset() { "$BIN/pvicctl" time --json | jget last_offset_ns; }
# |offset| within 10 ms, from the samples after a given count of steps in the log.
near() { local o; o=$(offset) || return 1; o=${o#-}; [ "$o" -lt 10000000 ]; }
samples_seen() { [ "$("$BIN/pvicctl" time --json | jget samples)" -ge "$1" ]; }
wait_for 10 samples_seen 5 || fail "no time samples reached pvicd"
wait_for 10 near || fail "not within 10 ms of the host before the fault ($(offset) ns)"
pass_step "disciplined: offset $(offset) ns"

for round in 1 2; do
  steps_before=$(grep -c "Stepped the clock by" "$TEST_TMPDIR/pvicd.log" || true)
  kill -USR1 $pvicd
  wait_for 5 grep -q "Virtual clock stepped underneath pvicd by +4000 ms" "$TEST_TMPDIR/pvicd.log" \
    || fail "the step was not logged"
  t0=$(date +%s%N)
  stepped_back() { [ "$(grep -c "Stepped the clock by -[34]\." "$TEST_TMPDIR/pvicd.log" || true)" -ge "$round" ]; }
  wait_for 10 stepped_back || fail "round $round: pvicd did not step back after the jump"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$(grep -c "Stepped the clock by" "$TEST_TMPDIR/pvicd.log")" -eq $((steps_before + 1)) ] \
    || fail "round $round: more than one corrective step"
  wait_for 10 near || fail "round $round: not back within 10 ms of the host ($(offset) ns)"
  r=$(ctl '{"op":"heartbeat","count":10}' '{"op":"kvp","kvp_op":"set","pool":0,"key":"r'$round'","value":"x"}')
  [ "$(head -1 <<<"$r" | jget answered)" = 10 ] || fail "heartbeats during the fault"
  [ "$(tail -1 <<<"$r" | jget status)" = 0x00000000 ] || fail "KVP during the fault"
  kill -0 $pvicd || fail "pvicd died"
  pass_step "round $round: +4 s underneath, stepped back in $ms ms: $(grep "Stepped the clock by -" "$TEST_TMPDIR/pvicd.log" | tail -1 | sed 's/^pvicd\[[0-9]*\]: //')"
done

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc (99 = valgrind found a leak or error)"
