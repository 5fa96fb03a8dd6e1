#!/usr/bin/env bash
# Hyper-V VSS through the kernel relay's protocol (spec §4.5): a stand-in for the kernel
# at /dev/vmbus/hv_vss (a SEQPACKET socket, as pvic-hostsim does for KVP) receives
# REGISTER1, answers its version, sends HOT_BACKUP (no auto-recovery), FREEZE (writers
# block) and THAW (they resume), against the relay alone (tests/helpers/freeze-vss-relay).
# The lease and the late THAW's HV_E_FAIL are checked through pvicd itself in
# freeze-vss-pvicd.sh.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"
mkdir -p "$FROOT/dev/vmbus"
dev=$FROOT/dev/vmbus/hv_vss
ctl=$TEST_TMPDIR/vss.ctl
mkfifo "$ctl"
# The kernel's side: one command per line from the fifo, results on stdout.
"$PY" -u -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
m = c.recv(64); print("register", len(m), m[0], flush=True)
c.send(struct.pack("<I", 129))
for line in open(sys.argv[2]):
    op = int(line)
    c.send(struct.pack("<B7xI", op, 0))
    r = c.recv(64)
    err, flags = struct.unpack("<I4xI", r)
    print("reply", op, len(r), "0x%08x" % err, flags, flush=True)
' "$dev" "$ctl" > "$TEST_TMPDIR/kernel.out" 2>>"$TEST_TMPDIR/kernel.log" &
track_pid $!
wait_for 5 grep -q listening "$TEST_TMPDIR/kernel.out" || fail "kernel stand-in not up"
exec 9<>"$ctl"  # read-write: opening never blocks
"$BIN/tests/helpers/freeze-vss-relay" "$FROOT" "$dev" >>"$TEST_TMPDIR/relay.log" 2>&1 &
track_pid $!
wait_for 5 grep -qx "register 12 129" "$TEST_TMPDIR/kernel.out" || fail "no REGISTER1"
pass_step "the relay registers with REGISTER1"

replies() { grep -c '^reply' "$TEST_TMPDIR/kernel.out" || true; }
op() { local n; n=$(replies); echo "$1" >&9; wait_for 15 bash -c "[ \$(grep -c '^reply' '$TEST_TMPDIR/kernel.out') -gt $n ]" || fail "no reply to op $1"; tail -n1 "$TEST_TMPDIR/kernel.out"; }

assert_eq "reply 2 12 0x00000000 5" "$(op 2)" "HOT_BACKUP answer"
assert_eq "reply 5 12 0x00000000 0" "$(op 5)" "FREEZE answer"
start_writer "$MNT_B/vss"
writer_done 800 && fail "write completed while VSS-frozen"
assert_eq "reply 6 12 0x00000000 0" "$(op 6)" "THAW answer"
writer_done 2000 || fail "writer still blocked after VSS THAW"
pass_step "VSS FREEZE blocks writers on ext4/xfs, THAW releases them; HOT_BACKUP says no auto-recovery"
