#!/usr/bin/env bash
# pvicd --vmbus-mode=relay against pvic-hostsim hyperv's /dev/vmbus/hv_kvp (hostsim plays
# the kernel): registration, KVP through the relay into the pool files, and no uio
# channel opened (the kernel keeps heartbeat, shutdown and timesync in relay mode).
# Then --vmbus-mode=auto on the same simulated guest, where every IC is bound to
# uio_hv_generic: all four go to uio and the relay stays closed.
. "$(dirname "$0")/../lib.sh"
SIM=$TEST_TMPDIR/hv
G=$SIM/g1/root

ctl() { hv_ctl "$SIM/control.sock" "$@"; }
guests() { ctl '{"op":"guests"}'; }
relay_registered() { [ "$(guests | jget guests.0.kvp_relay.registered)" = true ]; }

mkdir -p "$SIM"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not print ready"

# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=relay --root "$G" --virtual-clock --log-level=debug \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
PVICD=$!
track_pid $PVICD
wait_for 10 relay_registered || fail "pvicd did not register on the relay"
mapfile -t r < <(ctl '{"op":"kvp","guest":0,"kvp_op":"set","pool":0,"key":"k","value":"v"}' \
                     '{"op":"kvp","guest":0,"kvp_op":"get","pool":0,"key":"k"}' \
                     '{"op":"kvp","guest":0,"kvp_op":"enumerate","pool":0,"index":0}' \
                     '{"op":"kvp","guest":0,"kvp_op":"enumerate","pool":2,"index":1}')
assert_eq "0x00000000 relay" "$(jget status <<<"${r[0]}") $(jget via <<<"${r[0]}")" "SET via the relay"
assert_eq "v" "$(jget value <<<"${r[1]}")" "GET via the relay (value at offset 532)"
assert_eq "k=v" "$(jget key <<<"${r[2]}")=$(jget value <<<"${r[2]}")" "ENUMERATE pool 0"
assert_eq "IntegrationServicesVersion" "$(jget key <<<"${r[3]}")" "pool 2 index 1"
for c in heartbeat shutdown timesync kvp; do
  assert_eq 0 "$(guests | jget guests.0.channels.$c.opens)" "relay mode leaves the $c channel to the kernel"
done
pass_step "relay mode: registered, KVP through /dev/vmbus/hv_kvp, no uio channel touched"
kill -TERM $PVICD
wait $PVICD || fail "pvicd (relay) exited with status $?"

# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=auto --root "$G" --virtual-clock --log-level=debug \
  >"$TEST_TMPDIR/pvicd-auto.log" 2>&1 &
PVICD=$!
track_pid $PVICD
all_open() { for c in heartbeat shutdown timesync kvp; do [ "$(guests | jget guests.0.channels.$c.negotiated)" = true ] || return 1; done; }
wait_for 10 all_open || fail "auto mode did not take the uio-bound channels"
assert_eq 1 "$(guests | jget guests.0.kvp_relay.opens)" "auto mode with KVP on uio leaves the relay alone"
assert_eq "0x00000000 uio" "$(ctl '{"op":"kvp","guest":0,"kvp_op":"get","pool":0,"key":"k"}' | { read -r l; echo "$(jget status <<<"$l") $(jget via <<<"$l")"; })" "KVP via uio in auto mode"
pass_step "auto mode: uio for the channels bound to uio_hv_generic"
kill -TERM $PVICD
wait $PVICD || fail "pvicd (auto) exited with status $?"

# A guest whose KVP channel stays with hv_utils: auto takes the other three over uio
# and KVP through the relay.
SIM=$TEST_TMPDIR/hv2
G=$SIM/g1/root
mkdir -p "$SIM"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 --kernel-ics kvp \
  >"$TEST_TMPDIR/hostsim2.out" 2>"$TEST_TMPDIR/hostsim2.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim2.out" || fail "second pvic-hostsim did not print ready"
[ ! -e "$G/dev/uio3" ] || fail "--kernel-ics kvp still created a uio node"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=auto --root "$G" --virtual-clock --log-level=debug \
  >"$TEST_TMPDIR/pvicd-mixed.log" 2>&1 &
PVICD=$!
track_pid $PVICD
three_open() { for c in heartbeat shutdown timesync; do [ "$(guests | jget guests.0.channels.$c.negotiated)" = true ] || return 1; done; }
wait_for 10 three_open || fail "auto mode did not take heartbeat/shutdown/timesync"
wait_for 10 relay_registered || fail "auto mode did not register on the relay for KVP"
assert_eq "0x00000000 relay" "$(ctl '{"op":"kvp","guest":0,"kvp_op":"set","pool":1,"key":"a","value":"b"}' | { read -r l; echo "$(jget status <<<"$l") $(jget via <<<"$l")"; })" "KVP via the relay in mixed auto mode"
assert_eq 5 "$(ctl '{"op":"heartbeat","guest":0,"count":5}' | jget answered)" "heartbeat via uio in mixed auto mode"
pass_step "auto mode: uio where bound, relay for the KVP channel hv_utils kept"
kill -TERM $PVICD
wait $PVICD || fail "pvicd (mixed) exited with status $?"
