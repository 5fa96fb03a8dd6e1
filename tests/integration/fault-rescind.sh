#!/usr/bin/env bash
# Fault: a VMBus channel rescinded and re-offered (pvic-hostsim hyperv's "rescind" and
# "offer" ops: the guest's connection is closed and its uio node removed, then created
# again). pvicd logs the loss, keeps the other channels serving (heartbeats answered
# while KVP is gone), reopens the channel when it is offered again, and still has what
# it acknowledged before (a KVP item SET before the rescind is there after). Same for
# the heartbeat channel. Under valgrind when not built with sanitizers.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}
SIM=$TEST_TMPDIR/hv
mkdir -p "$SIM"
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
chan() { ctl '{"op":"guests"}' | jget "guests.0.channels.$1.$2"; }
chan_is() { [ "$(chan "$1" "$2")" = "$3" ]; }
wait_for 30 chan_is kvp negotiated true || fail "KVP did not negotiate"
wait_for 30 chan_is heartbeat negotiated true || fail "heartbeat did not negotiate"

r=$(ctl '{"op":"kvp","kvp_op":"set","pool":0,"key":"before","value":"acknowledged"}')
assert_eq 0x00000000 "$(jget status <<<"$r")" "SET before the rescind"

assert_eq true "$(ctl '{"op":"rescind","channel":"kvp"}' | jget ok)" "rescind op"
[ ! -e "$SIM/g1/root/dev/uio3" ] || fail "the KVP uio node is still there after the rescind"
wait_for 5 grep -q "vmbus kvp: .*resetting the channel" "$TEST_TMPDIR/pvicd.log" \
  || fail "pvicd did not log the lost KVP channel"
r=$(ctl '{"op":"kvp","kvp_op":"get","pool":0,"key":"before"}')
assert_eq false "$(jget ok <<<"$r")" "a KVP request while the channel is rescinded must fail (not be acknowledged)"
r=$(ctl '{"op":"heartbeat","count":100}')
assert_eq "100 0" "$(jget answered <<<"$r") $(jget bad <<<"$r")" "heartbeats while KVP is rescinded"
sleep 1.5 # pvicd retries the open with backoff meanwhile (logged once)
kill -0 $pvicd || fail "pvicd died"
pass_step "KVP rescinded: logged, heartbeats still answered"

assert_eq true "$(ctl '{"op":"offer","channel":"kvp"}' | jget ok)" "offer op"
t0=$(date +%s%N)
wait_for 15 chan_is kvp negotiated true || fail "pvicd did not reopen the re-offered KVP channel"
echo "KVP renegotiated $(( ($(date +%s%N) - t0) / 1000000 )) ms after the offer"
assert_eq 2 "$(chan kvp opens)" "KVP opens"
r=$(ctl '{"op":"kvp","kvp_op":"get","pool":0,"key":"before"}')
assert_eq "0x00000000 acknowledged" "$(jget status <<<"$r") $(jget value <<<"$r")" "acknowledged item after the re-offer"
r=$(ctl '{"op":"kvp","kvp_op":"set","pool":0,"key":"after","value":"works"}')
assert_eq 0x00000000 "$(jget status <<<"$r")" "SET after the re-offer"
pass_step "KVP re-offered: reopened, acknowledged item kept, new SET works"

ctl '{"op":"rescind","channel":"heartbeat"}' >/dev/null
r=$(ctl '{"op":"heartbeat","count":1}')
assert_eq false "$(jget ok <<<"$r")" "a heartbeat to a rescinded channel"
r=$(ctl '{"op":"kvp","kvp_op":"get","pool":0,"key":"after"}')
assert_eq "works" "$(jget value <<<"$r")" "KVP while the heartbeat channel is rescinded"
ctl '{"op":"offer","channel":"heartbeat"}' >/dev/null
wait_for 15 chan_is heartbeat negotiated true || fail "pvicd did not reopen the re-offered heartbeat channel"
r=$(ctl '{"op":"heartbeat","count":100}')
assert_eq "100 0" "$(jget answered <<<"$r") $(jget bad <<<"$r")" "heartbeats after the re-offer"
pass_step "heartbeat rescinded and re-offered"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc (99 = valgrind found a leak or error)"
