#!/usr/bin/env bash
# Fault: the KVP pool directory is read-only (a read-only bind mount in a private mount
# namespace: root ignores permissions, not a read-only mount). pvicd (uio, pvic-hostsim
# hyperv) starts on it with items acknowledged by an earlier run: it logs that the pools
# are read-only, serves GET/ENUMERATE of those items, answers a host SET with a failure
# status (never acknowledged) and a log line, fails pvicctl's SET with a clear message,
# and keeps answering heartbeats. When the mount is writable again the same pvicd, not
# restarted, stores new items (it looks again, through the path, before refusing one),
# and a restarted pvicd has every item.
if [ -z "${PVIC_MOUNTNS:-}" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a mount namespace" >&2; exit 77; }
  PVIC_MOUNTNS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}
SIM=$TEST_TMPDIR/hv
G=$SIM/g1/root
pool=$G/var/lib/hyperv
mkdir -p "$SIM" "$pool"
trap 'rc=$?; umount -l "$pool" 2>/dev/null || true; (exit $rc); _cleanup' EXIT
start_private_bus
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hv.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hv.out" || fail "pvic-hostsim did not print ready"
ctl() { hv_ctl "$SIM/control.sock" "$@"; }
kvp_ready() { [ "$(ctl '{"op":"guests"}' | jget guests.0.channels.kvp.negotiated)" = true ]; }
set_status() { ctl "{\"op\":\"kvp\",\"kvp_op\":\"set\",\"pool\":0,\"key\":\"$1\",\"value\":\"$2\"}" | jget status; }
get_value() { ctl "{\"op\":\"kvp\",\"kvp_op\":\"get\",\"pool\":0,\"key\":\"$1\"}" | jget value; }
start_pvicd() { # log
  # shellcheck disable=SC2046
  $(run_pvicd_cmd) --transport=vmbus --vmbus-mode=uio --root "$G" --virtual-clock \
    >"$TEST_TMPDIR/$1" 2>&1 &
  pvicd=$!
  track_pid $pvicd
  wait_for 30 kvp_ready || fail "KVP did not negotiate"
  wait_for 30 "$BIN/pvicctl" status || fail "pvicd not on the bus"
}
stop_pvicd() {
  kill -TERM $pvicd
  local rc=0; wait $pvicd || rc=$?
  [ $rc -eq 0 ] || fail "pvicd exited with $rc (99 = valgrind found a leak or error)"
}
kvp_down() { [ "$(ctl '{"op":"guests"}' | jget guests.0.channels.kvp.open)" = false ]; }

start_pvicd pvicd1.log
for i in 1 2 3; do assert_eq 0x00000000 "$(set_status "acked$i" "value $i")" "SET acked$i"; done
"$BIN/pvicctl" kvp set guestkey "guest value" || fail "pvicctl kvp set"
stop_pvicd
wait_for 10 kvp_down || fail "hostsim still sees the channel open"
pass_step "3 host items and 1 guest item acknowledged"

mount --bind "$pool" "$pool" && mount -o remount,bind,ro "$pool" || skip "cannot make a read-only bind mount"
touch "$pool/probe" 2>/dev/null && fail "the bind mount is writable"
start_pvicd pvicd2.log
grep -q "KVP pool file .kvp_pool_0 is read-only" "$TEST_TMPDIR/pvicd2.log" || fail "no read-only notice at start"
for i in 1 2 3; do assert_eq "value $i" "$(get_value "acked$i")" "acked$i on a read-only pool"; done
assert_eq "guest value" "$("$BIN/pvicctl" kvp get --pool 1 guestkey)" "guest item on a read-only pool"
st=$(set_status newkey "while read-only")
[ "$st" != 0x00000000 ] || fail "a SET on a read-only pool was acknowledged"
grep -q "read-only, cannot set 'newkey'" "$TEST_TMPDIR/pvicd2.log" || fail "the refused SET was not logged"
rc=0; "$BIN/pvicctl" kvp set other v 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -ne 0 ] || fail "pvicctl kvp set succeeded on a read-only pool"
grep -qi "read-only" "$TEST_TMPDIR/err" || fail "pvicctl's error does not say why: $(cat "$TEST_TMPDIR/err")"
r=$(ctl '{"op":"heartbeat","count":20}')
assert_eq "20 0" "$(jget answered <<<"$r") $(jget bad <<<"$r")" "heartbeats while read-only"
kill -0 $pvicd || fail "pvicd died"
pass_step "read-only: items served, SETs refused with status $st and a log line"

umount -l "$pool"  # lazily: pvicd still holds the read-only mount open
touch "$pool/probe" || fail "the pool directory is still read-only"; rm -f "$pool/probe"
assert_eq 0x00000000 "$(set_status newkey "after")" "SET once writable again, same pvicd"
"$BIN/pvicctl" kvp set other v || fail "pvicctl kvp set once writable again, same pvicd"
grep -q "KVP pool directory .* is writable again" "$TEST_TMPDIR/pvicd2.log" || fail "the recovery was not logged"
assert_eq "after" "$(get_value newkey)" "newkey read back"
pass_step "writable again: the running pvicd stores new items without a restart"
stop_pvicd

wait_for 10 kvp_down || fail "hostsim still sees the channel open"
start_pvicd pvicd3.log
for i in 1 2 3; do assert_eq "value $i" "$(get_value "acked$i")" "acked$i after the fault"; done
assert_eq "after" "$(get_value newkey)" "newkey after a restart"
assert_eq "v" "$("$BIN/pvicctl" kvp get --pool 1 other)" "guest item after a restart"
pass_step "after a restart: every acknowledged item is there"
stop_pvicd
