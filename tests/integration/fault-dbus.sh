#!/usr/bin/env bash
# Fault: D-Bus gone. The (private, real) system bus is SIGKILLed under a pvicd on
# Hyper-V (uio, pvic-hostsim hyperv), twice. pvicd logs that the local API is down, keeps
# serving the host meanwhile (heartbeats answered, a host KVP SET acknowledged, a guest
# item still readable by the host), and once the bus is back pvicctl works again and sees
# what the host set during the outage. (guest-api.sh covers a clean bus stop on Xen.)
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}
SIM=$TEST_TMPDIR/hv
mkdir -p "$SIM"
bus_pid() { echo "${_pids[-1]}"; }
start_private_bus
bus=$(bus_pid)
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hv.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hv.out" || fail "pvic-hostsim did not print ready"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=uio --root "$SIM/g1/root" --virtual-clock \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
ctl() { hv_ctl "$SIM/control.sock" "$@"; }
kvp_ready() { [ "$(ctl '{"op":"guests"}' | jget guests.0.channels.kvp.negotiated)" = true ]; }
wait_for 30 kvp_ready || fail "KVP did not negotiate"
wait_for 30 "$BIN/pvicctl" status || fail "pvicd not on the bus"
"$BIN/pvicctl" kvp set guestitem "set by the guest" || fail "pvicctl kvp set"
pass_step "bus up, guest item acknowledged"

for round in 1 2; do
  kill -KILL "$bus"; wait "$bus" 2>/dev/null || true
  rm -f "$TEST_TMPDIR/system_bus_socket"
  want=$round
  lost() { [ "$(grep -c "the system bus went away" "$TEST_TMPDIR/pvicd.log" || true)" -ge "$want" ]; }
  wait_for 5 lost || fail "round $round: pvicd did not log the lost bus"
  rc=0; "$BIN/pvicctl" status >/dev/null 2>"$TEST_TMPDIR/err" || rc=$?
  [ $rc -ne 0 ] || fail "round $round: pvicctl answered without a bus"
  r=$(ctl '{"op":"heartbeat","count":50}' \
          "{\"op\":\"kvp\",\"kvp_op\":\"set\",\"pool\":0,\"key\":\"outage$round\",\"value\":\"set while the bus was gone\"}" \
          '{"op":"kvp","kvp_op":"get","pool":1,"key":"guestitem"}')
  mapfile -t rr <<<"$r"
  assert_eq "50 0" "$(jget answered <<<"${rr[0]}") $(jget bad <<<"${rr[0]}")" "round $round: heartbeats without a bus"
  assert_eq 0x00000000 "$(jget status <<<"${rr[1]}")" "round $round: host SET without a bus"
  assert_eq "set by the guest" "$(jget value <<<"${rr[2]}")" "round $round: host GET of the guest item without a bus"
  sleep 0.5
  kill -0 $pvicd || fail "pvicd died with the bus"
  pass_step "round $round: bus killed; logged; host served"

  start_private_bus
  bus=$(bus_pid)
  t0=$(date +%s%N)
  wait_for 15 "$BIN/pvicctl" status || fail "round $round: API not offered again after the bus returned"
  echo "API back $(( ($(date +%s%N) - t0) / 1000000 )) ms after the bus"
  assert_eq "set while the bus was gone" "$("$BIN/pvicctl" kvp get --pool 0 "outage$round")" \
    "round $round: item acknowledged during the outage"
  pass_step "round $round: bus back, pvicctl works, nothing lost"
done

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc (99 = valgrind found a leak or error)"
