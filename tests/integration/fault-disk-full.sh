#!/usr/bin/env bash
# Fault: the disk under the KVP pool directory is full. In a private mount namespace
# (nothing is mounted for anyone else), a 512 KiB tmpfs is the guest's /var/lib/hyperv;
# pvicd (uio, pvic-hostsim hyperv) stores host items; then the tmpfs is filled. A host SET
# is answered with a failure status (never acknowledged) and logged with ENOSPC, pvicctl's
# SET fails with a clear message, items acknowledged before are intact (in memory and in
# the file), heartbeats are answered; once space returns, SETs work again.
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
mount -t tmpfs -o size=512k,mode=0755 pvic-test-full "$pool" || skip "cannot mount a tmpfs"
trap 'rc=$?; umount -l "$pool" 2>/dev/null || true; (exit $rc); _cleanup' EXIT
start_private_bus
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hv.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hv.out" || fail "pvic-hostsim did not print ready"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=uio --root "$G" --virtual-clock \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
ctl() { hv_ctl "$SIM/control.sock" "$@"; }
kvp_ready() { [ "$(ctl '{"op":"guests"}' | jget guests.0.channels.kvp.negotiated)" = true ]; }
wait_for 30 kvp_ready || fail "KVP did not negotiate"
wait_for 30 "$BIN/pvicctl" status || fail "pvicd not on the bus"
set_status() { ctl "{\"op\":\"kvp\",\"kvp_op\":\"set\",\"pool\":0,\"key\":\"$1\",\"value\":\"$2\"}" | jget status; }
get_value() { ctl "{\"op\":\"kvp\",\"kvp_op\":\"get\",\"pool\":0,\"key\":\"$1\"}" | jget value; }

# 8 records of 2560 bytes fill 5 pages exactly: the next append needs a new block.
for i in $(seq 8); do
  assert_eq 0x00000000 "$(set_status "acked$i" "value $i")" "SET acked$i"
done
pass_step "8 items acknowledged"

# Fill the file system to the last block.
dd if=/dev/zero of="$pool/filler" bs=4k 2>/dev/null || true
[ "$(df --output=avail "$pool" | tail -1 | tr -d ' ')" -eq 0 ] || fail "the tmpfs is not full"
st=$(set_status newkey "written while full")
[ "$st" != 0x00000000 ] || fail "a SET on a full disk was acknowledged"
wait_for 2 grep -q "No space left on device" "$TEST_TMPDIR/pvicd.log" || fail "no ENOSPC log line"
rc=0; "$BIN/pvicctl" kvp set guestkey v 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -ne 0 ] || fail "pvicctl kvp set succeeded on a full disk"
grep -qi "space" "$TEST_TMPDIR/err" || fail "pvicctl's error does not say why: $(cat "$TEST_TMPDIR/err")"
for i in 1 5 8; do assert_eq "value $i" "$(get_value "acked$i")" "acked$i while full"; done
r=$(ctl '{"op":"heartbeat","count":20}')
assert_eq "20 0" "$(jget answered <<<"$r") $(jget bad <<<"$r")" "heartbeats while full"
kill -0 $pvicd || fail "pvicd died"
pass_step "disk full: SET refused with status $st, logged, acknowledged items intact"

# Every acknowledged record is whole in the file (another reader's view).
"$PY" - "$pool/.kvp_pool_0" <<'PY' || fail "pool file 0 lost acknowledged items"
import sys
d = open(sys.argv[1], 'rb').read()
assert len(d) % 2560 == 0, "torn record"
kv = {d[i:i+512].split(b'\0')[0]: d[i+512:i+2560].split(b'\0')[0] for i in range(0, len(d), 2560)}
for i in range(1, 9):
    assert kv.get(b"acked%d" % i) == b"value %d" % i, i
assert b"newkey" not in kv
PY

rm -f "$pool/filler"
assert_eq 0x00000000 "$(set_status newkey "written after")" "SET once space is back"
assert_eq "written after" "$(get_value newkey)" "newkey after recovery"
"$BIN/pvicctl" kvp set guestkey v || fail "pvicctl kvp set after recovery"
pass_step "space back: SETs work again"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc (99 = valgrind found a leak or error)"
