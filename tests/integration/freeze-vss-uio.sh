#!/usr/bin/env bash
# Hyper-V VSS over uio: pvic-hostsim hyperv --uio-vss binds the VSS channel to
# uio_hv_generic (no /dev/vmbus/hv_vss) and pvicd --vmbus-mode=uio owns it: framework
# 3.0 / message 5.0; HOT_BACKUP answered 0 with flags 5, GET_DM_INFO 0 with flags 0;
# FREEZE on the ring freezes a loop-mounted ext4 and xfs (writers block, 0x00000000),
# THAW releases them; pvic-host --hyperv freeze/thaw goes over the ring too; a FREEZE
# behind a slow pre-freeze hook is held until frozen; a malformed VSS packet resets only
# that channel; kill -9 of pvicd while frozen: writes resume at once (within lease + 1 s),
# the host's THAW finds nobody; a FREEZE never thawed ends at the lease and the late THAW
# is answered 0x80004005.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"
. "$TOP/tests/helpers/freeze-vss-steps.sh"
SIM=$TEST_TMPDIR/hv
j=$FROOT/run/pvic/freeze.journal

mkdir -p "$SIM/g1"
ln -s "$FROOT" "$SIM/g1/root"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 --uio-vss \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not print ready"
[ -S "$FROOT/dev/uio4" ] || fail "pvic-hostsim made no VSS uio node"
[ -e "$FROOT/dev/vmbus/hv_vss" ] && fail "--uio-vss still made hv_vss"

ctl() { hv_ctl "$SIM/control.sock" "$@"; }
chan() { ctl '{"op":"guests"}' | jget "guests.0.channels.$1.$2"; }
chan_is() { [ "$(chan "$1" "$2")" = "$3" ]; }
vss() { ctl "{\"op\":\"vss\",\"guest\":0,\"vss_op\":\"$1\"}"; }
# answer OP: "<status> <answered_by> <via>" of one VSS request.
answer() { local l; l=$(vss "$1"); echo "$(jget status <<<"$l") $(jget answered_by <<<"$l") $(jget via <<<"$l")"; }
host() { "$BIN/pvic-host" --hyperv "$SIM/control.sock" "$@"; }

# start_pvicd LEASE OPENS: pvicd in uio mode with that VSS lease, until the VSS channel's
# (OPENS)th open has negotiated.
start_pvicd() {
  mkdir -p "$FROOT/etc/pvic/pvicd.conf.d"
  printf '[HyperV]\nVssLease=%s\n' "$1" > "$FROOT/etc/pvic/pvicd.conf.d/vss.conf"
  # Not under valgrind: the thaw guard is pvicd re-executed from /proc/self/exe.
  "$BIN/pvicd" --transport=vmbus --vmbus-mode=uio --root "$FROOT" --virtual-clock --log-level=debug \
    >>"$TEST_TMPDIR/pvicd.log" 2>&1 &
  PVICD=$!
  track_pid $PVICD
  wait_for 10 chan_is vss opens "$2" || fail "pvicd did not open the VSS channel"
  wait_for 10 chan_is vss negotiated True || fail "the VSS channel did not negotiate"
}

start_pvicd 20 1
assert_eq "3.0 5.0" "$(chan vss framework) $(chan vss version)" "VSS versions"
grep -q "vss via uio" "$TEST_TMPDIR/pvicd.log" || fail "pvicd did not say VSS is served over uio"
l=$(vss hot_backup)
assert_eq "0x00000000 5 uio" "$(jget status <<<"$l") $(jget flags <<<"$l") $(jget via <<<"$l")" \
  "HOT_BACKUP: ok, no auto-recovery"
l=$(vss get_dm_info)
assert_eq "0x00000000 0" "$(jget status <<<"$l") $(jget flags <<<"$l")" "GET_DM_INFO: ok, flags 0"
pass_step "VSS negotiates 3.0/5.0 over uio; HOT_BACKUP flags 5, GET_DM_INFO status 0"

vss_step_writers_block "0x00000000 daemon uio"
pass_step "FREEZE over the ring blocks writers on ext4 and xfs, THAW releases them, both 0x00000000"

out=$(host --json freeze g1) || fail "pvic-host freeze: $out"
assert_eq "frozen True 0x00000000 daemon uio" \
  "$(jget state <<<"$out") $(jget ok <<<"$out") $(jget status <<<"$out") $(jget answered_by <<<"$out") $(jget via <<<"$out")" \
  "pvic-host freeze"
start_writer "$MNT_A/host"
writer_done 800 && fail "write completed after pvic-host freeze"
host thaw g1 | grep -qx "guest g1: thawed" || fail "human output of pvic-host thaw"
writer_done 2000 || fail "writer still blocked after pvic-host thaw"
pass_step "pvic-host --hyperv freeze/thaw over the uio channel"

# The freeze service reports from the loop after its hooks: the ring transaction is held.
vss_step_slow_hook_held "0x00000000 daemon uio"
pass_step "a FREEZE behind a slow hook is held on the ring until frozen (${HELD_MS} ms)"

hb_opens=$(chan heartbeat opens)
for how in vss_short header; do
  opens=$(chan vss opens)
  assert_eq True "$(ctl "{\"op\":\"corrupt\",\"guest\":0,\"channel\":\"vss\",\"how\":\"$how\"}" | jget ok)" "corrupt $how"
  wait_for 10 chan_is vss opens $((opens + 1)) || fail "$how: VSS channel not reopened"
  wait_for 10 chan_is vss negotiated True || fail "$how: VSS channel not renegotiated"
  kill -0 "$PVICD" || fail "$how: pvicd died"
  assert_eq "$hb_opens" "$(chan heartbeat opens)" "$how: heartbeat channel untouched"
  assert_eq 5 "$(ctl '{"op":"heartbeat","guest":0,"count":5}' | jget answered)" "$how: heartbeat answered"
done
grep -q "vmbus vss: .*resetting the channel" "$TEST_TMPDIR/pvicd.log" || fail "no logged VSS reset"
[ -f "$j" ] && fail "a malformed VSS packet froze something"
assert_eq "0x00000000 daemon uio" "$(answer freeze)" "FREEZE after the resets"
assert_eq "0x00000000 daemon uio" "$(answer thaw)" "THAW after the resets"
pass_step "a malformed VSS packet resets only the VSS channel; it serves again after renegotiating"

assert_eq "0x00000000 daemon uio" "$(answer freeze)" "FREEZE before kill -9"
start_writer "$MNT_B/kill9"
writer_done 500 && fail "write completed while frozen"
t0=$(date +%s%N)
kill -KILL "$PVICD"
writer_done 2000 || fail "still frozen 2 s after kill -9 of pvicd"
ms=$((($(date +%s%N) - t0) / 1000000))
wait "$PVICD" 2>/dev/null || true
wait_for 5 chan_is vss open False || fail "hostsim did not see the VSS channel closed"
assert_eq "0x80004005 host uio" "$(answer thaw)" "THAW with nobody on the channel"
pass_step "kill -9 of pvicd while frozen: writes resumed after $ms ms (lease 20 s); the THAW finds nobody"

start_pvicd 2 $(($(chan vss opens) + 1))
assert_eq "0x00000000 daemon uio" "$(answer freeze)" "FREEZE with a 2 s lease"
t0=$(date +%s%N)
start_writer "$MNT_A/lease"
writer_done 1000 && fail "write completed during the lease"
writer_done 3000 || fail "not thawed within lease + 1 s"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 1800 ] || fail "thawed after $ms ms, before the 2 s lease"
assert_eq "0x80004005 daemon uio" "$(answer thaw)" "THAW after the lease ended the freeze"
assert_eq "0x00000000 daemon uio" "$(answer freeze)" "the next FREEZE"
assert_eq "0x00000000 daemon uio" "$(answer thaw)" "the next THAW"
pass_step "a FREEZE without THAW thawed at the lease (${ms} ms for 2 s); the late THAW answered 0x80004005"

kill -TERM "$PVICD"
wait "$PVICD" || fail "pvicd exited with status $?"
pass_step "pvicd stops cleanly"
