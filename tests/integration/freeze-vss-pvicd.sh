#!/usr/bin/env bash
# Hyper-V VSS end to end through pvicd: pvic-hostsim hyperv plays the kernel at
# /dev/vmbus/hv_vss and pvicd (relay mode) freezes a loop-mounted ext4 and xfs on the
# host's FREEZE (writers block) and thaws them on THAW (writers resume), answering
# 0x00000000; pvic-host --hyperv freeze/thaw does the same. kill -9 of pvicd while
# frozen: writes resume (the thaw guard) and the kernel fails the host's THAW. A FREEZE
# the host never thaws ends at the guest's lease ([HyperV] VssLease=), and the late THAW
# is answered 0x80004005. A FREEZE behind a slow pre-freeze hook is answered once frozen.
# A guest whose hv_utils has no VSS still serves KVP.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"
. "$TOP/tests/helpers/freeze-vss-steps.sh"
SIM=$TEST_TMPDIR/hv
j=$FROOT/run/pvic/freeze.journal

# The simulated guest's root is the freeze root: hostsim puts its dev/ and sys/ there.
mkdir -p "$SIM/g1"
ln -s "$FROOT" "$SIM/g1/root"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not print ready"
[ -S "$FROOT/dev/vmbus/hv_vss" ] || fail "pvic-hostsim made no hv_vss"

ctl() { hv_ctl "$SIM/control.sock" "$@"; }
vss() { ctl "{\"op\":\"vss\",\"guest\":0,\"vss_op\":\"$1\"}"; }
# answer OP: "<status> <answered_by>" of one VSS request.
answer() { local l; l=$(vss "$1"); echo "$(jget status <<<"$l") $(jget answered_by <<<"$l")"; }
host() { "$BIN/pvic-host" --hyperv "$SIM/control.sock" "$@"; }
# vss_relay FIELD: the simulated kernel's view of hv_vss, as JSON (true/false).
vss_relay() { ctl '{"op":"guests"}' | "$PY" -c 'import json,sys
print(json.dumps(json.load(sys.stdin)["guests"][0]["vss_relay"][sys.argv[1]]))' "$1"; }
# registered N: pvicd's Nth open of hv_vss has registered.
registered() { [ "$(vss_relay opens)" = "$1" ] && [ "$(vss_relay registered)" = true ]; }

# start_pvicd LEASE OPENS: pvicd in relay mode with that VSS lease, until its (OPENS)th
# registration on hv_vss.
start_pvicd() {
  mkdir -p "$FROOT/etc/pvic/pvicd.conf.d"
  printf '[HyperV]\nVssLease=%s\n' "$1" > "$FROOT/etc/pvic/pvicd.conf.d/vss.conf"
  # Not under valgrind: the thaw guard is pvicd re-executed from /proc/self/exe.
  "$BIN/pvicd" --transport=vmbus --vmbus-mode=relay --root "$FROOT" --virtual-clock --log-level=debug \
    >>"$TEST_TMPDIR/pvicd.log" 2>&1 &
  PVICD=$!
  track_pid $PVICD
  wait_for 10 registered "$2" || fail "pvicd did not register on hv_vss"
}

start_pvicd 20 1
l=$(vss hot_backup)
assert_eq "0x00000000 5" "$(jget status <<<"$l") $(jget flags <<<"$l")" "HOT_BACKUP: ok, no auto-recovery"
vss_step_writers_block "0x00000000 daemon"
pass_step "FREEZE blocks writers on ext4 and xfs, THAW releases them, both answered 0x00000000"

out=$(host --json freeze g1) || fail "pvic-host freeze: $out"
# freeze-setup.sh's jget prints Python's True/False.
assert_eq "frozen True 0x00000000" "$(jget state <<<"$out") $(jget ok <<<"$out") $(jget status <<<"$out")" \
  "pvic-host freeze"
start_writer "$MNT_A/host"
writer_done 800 && fail "write completed after pvic-host freeze"
host thaw g1 | grep -qx "guest g1: thawed" || fail "human output of pvic-host thaw"
writer_done 2000 || fail "writer still blocked after pvic-host thaw"
err=$(host freeze g1 --lease 5 2>&1) && fail "pvic-host --hyperv accepted --lease"
[[ "$err" == *"carries no lease"* ]] || fail "--lease refused without saying why: $err"
pass_step "pvic-host --hyperv freeze/thaw through the same path; --lease refused (VSS names none)"

assert_eq "0x00000000 daemon" "$(answer freeze)" "FREEZE before kill -9"
start_writer "$MNT_B/kill9"
writer_done 500 && fail "write completed while frozen"
t0=$(date +%s%N)
kill -KILL "$PVICD"
writer_done 2000 || fail "still frozen 2 s after kill -9 of pvicd"
ms=$((($(date +%s%N) - t0) / 1000000))
wait "$PVICD" 2>/dev/null || true
dev_closed() { [ "$(vss_relay open)" = false ]; }
wait_for 5 dev_closed || fail "hostsim did not see the device closed"
assert_eq "0x80004005 kernel" "$(answer thaw)" "THAW with no daemon (the kernel fails it)"
pass_step "kill -9 of pvicd while frozen: writes resumed after $ms ms; the host's THAW fails"

start_pvicd 2 2
assert_eq "0x00000000 daemon" "$(answer freeze)" "FREEZE with a 2 s lease"
t0=$(date +%s%N)
start_writer "$MNT_A/lease"
writer_done 1000 && fail "write completed during the lease"
writer_done 3000 || fail "not thawed after the 2 s lease"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 1800 ] || fail "thawed after $ms ms, before the 2 s lease"
assert_eq "0x80004005 daemon" "$(answer thaw)" "THAW after the lease ended the freeze"
assert_eq "0x00000000 daemon" "$(answer freeze)" "the next FREEZE"
assert_eq "0x00000000 daemon" "$(answer thaw)" "the next THAW"
pass_step "a FREEZE without THAW thawed at the lease (${ms} ms for 2 s); the late THAW answered 0x80004005"

vss_step_slow_hook_held "0x00000000 daemon"
pass_step "a FREEZE behind a slow hook is answered when frozen (${HELD_MS} ms), not failed early"

kill -TERM "$PVICD"
wait "$PVICD" || fail "pvicd exited with status $?"
pass_step "pvicd stops cleanly"

# hv_utils without VSS: pvicd says so once and serves KVP as before.
SIM2=$TEST_TMPDIR/hv2
mkdir -p "$SIM2"
"$BIN/pvic-hostsim" hyperv --dir "$SIM2" --guest g1 --heartbeat-interval 0 --time-interval 0 --no-vss \
  >"$TEST_TMPDIR/hostsim2.out" 2>"$TEST_TMPDIR/hostsim2.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim2.out" || fail "second pvic-hostsim did not print ready"
[ -e "$SIM2/g1/root/dev/vmbus/hv_vss" ] && fail "--no-vss still made hv_vss"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=relay --root "$SIM2/g1/root" --virtual-clock --log-level=debug \
  >"$TEST_TMPDIR/pvicd-novss.log" 2>&1 &
P2=$!
track_pid $P2
kvp_ok() { [ "$(hv_ctl "$SIM2/control.sock" '{"op":"kvp","guest":0,"kvp_op":"set","pool":0,"key":"k","value":"v"}' |
  jget status)" = 0x00000000 ]; }
wait_for 10 kvp_ok || fail "KVP not served without hv_vss"
sleep 3.5 # the relay has looked for the device again meanwhile (1 s, then 2 s later)
assert_eq 1 "$(grep -c 'vss: no .*hv_vss' "$TEST_TMPDIR/pvicd-novss.log")" "lines about the missing hv_vss"
hv_ctl "$SIM2/control.sock" '{"op":"vss","guest":0,"vss_op":"freeze"}' | grep -q '"ok":false' ||
  fail "a VSS request to a guest without hv_vss did not fail"
kill -TERM $P2
wait $P2 || fail "pvicd (no hv_vss) exited with status $?"
pass_step "without hv_vss: said once, KVP served, pvicd stops cleanly"
