#!/usr/bin/env bash
# A severed host channel: the host froze the guest and then vanished (pvic-hostsim
# killed, its xenstored with it). No thaw will ever come; pvicd's lease timer thaws.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"

start_guest
out=$(host --json freeze 3 --lease 3) || fail "freeze failed: $out"
t0=$(date +%s%N)
assert_eq frozen "$(jget state <<<"$out")" "freeze state"
kill -KILL "$HOSTSIM_PID"; wait "$HOSTSIM_PID" 2>/dev/null || true
start_writer "$MNT_A/severed"
W1=$WRITER
start_writer "$MNT_B/severed"
writer_done 2000 && fail "thawed long before the lease"
writer_done 2500 || fail "still frozen after lease + 1 s with the host gone"
WRITER=$W1; writer_done 500 || fail "ext4 still frozen"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 2900 ] || fail "thawed after $ms ms, before the 3 s lease"
grep -q "freeze: thawed (lease-expired)" "$TEST_TMPDIR/pvicd.log" || fail "not pvicd's lease timer"
kill -0 "$PVICD" || fail "pvicd died without its host"
pass_step "host gone while frozen: thawed at the lease ($ms ms for 3 s), pvicd still up"
