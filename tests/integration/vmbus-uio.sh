#!/usr/bin/env bash
# pvicd in uio mode against pvic-hostsim hyperv: all four ICs negotiate the versions a
# Linux guest picks from what a Windows host offers; 10,000 heartbeats are answered with
# seq + 1; KVP, time and shutdown requests are answered over the rings; garbage written
# into one channel's ring (lengths past the end, indices beyond the ring, oversize
# packets, short IC headers, lying pipe headers) resets that channel with a logged
# error while pvicd and the other channels carry on. The clock is a virtual one and
# shutdown goes to a mock logind on a private bus: nothing here touches the machine.
. "$(dirname "$0")/../lib.sh"
SIM=$TEST_TMPDIR/hv
G=$SIM/g1/root

ctl() { hv_ctl "$SIM/control.sock" "$@"; }
chan() { ctl '{"op":"guests"}' | jget "guests.0.channels.$1.$2"; }
chan_is() { [ "$(chan "$1" "$2")" = "$3" ]; } # for wait_for: re-evaluated each try
all_negotiated() {
  for c in heartbeat shutdown timesync kvp; do [ "$(chan $c negotiated)" = true ] || return 1; done
}

have_bus=0
if command -v dbus-daemon >/dev/null && "$PY" -c 'import dbusmock' 2>/dev/null; then
  start_private_bus
  start_mock_logind
  have_bus=1
fi

mkdir -p "$SIM"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 50 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not print ready"
[ -S "$G/dev/uio0" ] && [ -S "$G/dev/vmbus/hv_kvp" ] || fail "simulated devices missing"

# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=uio --root "$G" --virtual-clock --log-level=debug \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
PVICD=$!
track_pid $PVICD
wait_for 20 all_negotiated || fail "the four ICs did not negotiate"
assert_eq "3.0 3.1 3.2 4.0 4.0" \
  "$(chan heartbeat framework) $(chan heartbeat version) $(chan shutdown version) $(chan timesync version) $(chan kvp version)" \
  "negotiated versions (framework; heartbeat, shutdown, timesync, kvp)"
[ "$(ctl '{"op":"guests"}' | jget guests.0.kvp_relay.open)" = false ] || fail "uio mode must not open the relay"
pass_step "heartbeat, shutdown, timesync and KVP negotiated over uio"

r=$(ctl '{"op":"heartbeat","guest":0,"count":10000}')
assert_eq "true 10000 10000 0 10001" "$(jget ok <<<"$r") $(jget sent <<<"$r") $(jget answered <<<"$r") $(jget bad <<<"$r") $(jget last_seq <<<"$r")" \
  "10,000 heartbeats: ok sent answered bad last_seq"
pass_step "10,000 heartbeats answered with seq + 1"

r=$(ctl '{"op":"kvp","guest":"g1","kvp_op":"set","pool":0,"key":"HostKey","value":"from-host"}' \
        '{"op":"kvp","guest":"g1","kvp_op":"get","pool":0,"key":"HostKey"}' \
        '{"op":"kvp","guest":"g1","kvp_op":"enumerate","pool":2,"index":0}' \
        '{"op":"kvp","guest":"g1","kvp_op":"enumerate","pool":2,"index":9}' \
        '{"op":"kvp","guest":"g1","kvp_op":"enumerate","pool":2,"index":10}' \
        '{"op":"kvp","guest":"g1","kvp_op":"delete","pool":0,"key":"absent"}')
mapfile -t kv <<<"$r"
assert_eq "0x00000000 uio" "$(jget status <<<"${kv[0]}") $(jget via <<<"${kv[0]}")" "KVP SET over uio"
assert_eq "0x00000000 from-host" "$(jget status <<<"${kv[1]}") $(jget value <<<"${kv[1]}")" "KVP GET over uio"
assert_eq "FullyQualifiedDomainName" "$(jget key <<<"${kv[2]}")" "pool 2 index 0"
assert_eq "ProcessorArchitecture $(uname -m)" "$(jget key <<<"${kv[3]}") $(jget value <<<"${kv[3]}")" "pool 2 index 9"
assert_eq "0x80070103" "$(jget status <<<"${kv[4]}")" "pool 2 past the end"
assert_eq "0x80070103" "$(jget status <<<"${kv[5]}")" "DELETE of an absent key"
"$PY" - "$G/var/lib/hyperv/.kvp_pool_0" <<'PY' || fail "HostKey is not in pool file 0"
import sys
d = open(sys.argv[1], 'rb').read()
assert any(d[i:i+2560].split(b'\0')[0] == b'HostKey' for i in range(0, len(d), 2560))
PY
pass_step "KVP SET/GET/DELETE/ENUMERATE over the KVP ring, into the pool files"

for f in sync sample probe; do
  assert_eq 0x00000000 "$(ctl "{\"op\":\"time\",\"guest\":0,\"flags\":\"$f\"}" | jget status)" "time $f answered"
done
pass_step "time SYNC, SAMPLE and probe answered"

# Garbage in the heartbeat ring: the channel resets (logged), pvicd stays up, the others
# are not reopened, and the heartbeat channel renegotiates and works again.
opens=1
for how in length offset oversize header pipe; do
  before=$(grep -c "vmbus heartbeat: .*resetting the channel" "$TEST_TMPDIR/pvicd.log" || true)
  assert_eq true "$(ctl "{\"op\":\"corrupt\",\"guest\":0,\"channel\":\"heartbeat\",\"how\":\"$how\"}" | jget ok)" "corrupt $how"
  opens=$((opens + 1))
  wait_for 10 chan_is heartbeat opens "$opens" || fail "$how: heartbeat channel not reopened"
  wait_for 10 chan_is heartbeat negotiated true || fail "$how: heartbeat channel not renegotiated"
  after=$(grep -c "vmbus heartbeat: .*resetting the channel" "$TEST_TMPDIR/pvicd.log" || true)
  [ "$after" -gt "$before" ] || fail "$how: no logged reset"
  kill -0 $PVICD || fail "$how: pvicd died"
  for c in shutdown timesync kvp; do assert_eq 1 "$(chan $c opens)" "$how: $c channel untouched"; done
  assert_eq "100 0" "$(ctl '{"op":"heartbeat","guest":0,"count":100}' | { read -r l; echo "$(jget answered <<<"$l") $(jget bad <<<"$l")"; })" \
    "$how: heartbeats after the reset"
done
pass_step "garbage (length, offset, oversize, header, pipe) resets only the heartbeat channel"

assert_eq true "$(ctl '{"op":"corrupt","guest":0,"channel":"kvp","how":"offset"}' | jget ok)" "corrupt kvp"
wait_for 10 chan_is kvp opens 2 || fail "kvp channel not reopened"
wait_for 10 chan_is kvp negotiated true || fail "kvp channel not renegotiated"
assert_eq from-host "$(ctl '{"op":"kvp","guest":0,"kvp_op":"get","pool":0,"key":"HostKey"}' | jget value)" "KVP after reset"
assert_eq 5 "$(ctl '{"op":"heartbeat","guest":0,"count":5}' | jget answered)" "heartbeat while kvp was reset"
pass_step "a KVP ring reset leaves the heartbeat working"

if [ $have_bus = 1 ]; then
  r=$(ctl '{"op":"shutdown","guest":0,"action":"reboot","reason":2147483648,"timeout":30,"message":"planned"}')
  assert_eq 0x00000000 "$(jget status <<<"$r")" "shutdown (reboot) acknowledged"
  wait_for 10 grep -q '^.*Reboot' "$TEST_TMPDIR/logind.calls" || fail "no Reboot call reached logind"
  pass_step "shutdown request acknowledged and carried to (mock) logind"
fi

kill -0 $PVICD || fail "pvicd died"
kill -TERM $PVICD
wait $PVICD || fail "pvicd exited with status $?"
pass_step "pvicd exits cleanly"
