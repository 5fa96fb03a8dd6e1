# Shared by tests/integration/freeze-*.sh (sourced after tests/lib.sh): an ext4 and an
# xfs image loop-mounted under $TEST_TMPDIR/root/mnt, and a mountinfo under that root
# listing only them plus decoys, so pvicd --root never sees the machine's filesystems.
# The decoys carry device numbers no real mount has (250:*): opening them finds another
# device, which pvicd must skip, never freeze.
[ "$(id -u)" -eq 0 ] || skip "needs root (loop mounts, FIFREEZE)"
command -v mkfs.xfs >/dev/null || skip "mkfs.xfs missing (scripts/deps.sh installs xfsprogs)"
command -v fsfreeze >/dev/null || skip "fsfreeze (util-linux) missing"
[ -e /dev/loop-control ] || skip "no loop devices"

FROOT=$TEST_TMPDIR/root
MNT_A=$FROOT/mnt/a   # ext4
MNT_B=$FROOT/mnt/b   # xfs
mkdir -p "$FROOT/proc/self" "$FROOT/etc/pvic/freeze.d" "$MNT_A" "$MNT_B" "$FROOT/mnt/ro" "$FROOT/mnt/fake" \
  "$FROOT/run"
echo 'ID=debian' > "$FROOT/etc/os-release"

# Before lib.sh's cleanup: nothing may stay frozen or mounted, whatever happened.
_freeze_cleanup() {
  local m
  for m in "$MNT_A" "$MNT_B"; do
    mountpoint -q "$m" 2>/dev/null || continue
    fsfreeze -u "$m" 2>/dev/null || true
  done
  for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  pkill_guards
  for m in "$MNT_A" "$MNT_B"; do
    mountpoint -q "$m" 2>/dev/null || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
# Guards started by this test's pvicd: found by their argv naming this test's root.
pkill_guards() {
  local pid
  for pid in $(pgrep -f -- "--thaw-guard $FROOT " 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
}
trap '_rc=$?; _freeze_cleanup; (exit $_rc); _cleanup' EXIT

truncate -s 64M "$TEST_TMPDIR/a.img"
truncate -s 320M "$TEST_TMPDIR/b.img"   # xfs wants at least 300 MB; the file is sparse
mkfs.ext4 -q -F "$TEST_TMPDIR/a.img" >/dev/null
mkfs.xfs -q -f "$TEST_TMPDIR/b.img" >/dev/null
mount -o loop "$TEST_TMPDIR/a.img" "$MNT_A"
mount -o loop "$TEST_TMPDIR/b.img" "$MNT_B"
DEV_A=$(mountpoint -d "$MNT_A")
DEV_B=$(mountpoint -d "$MNT_B")

# Mount points as pvicd sees them: absolute inside --root.
cat > "$FROOT/proc/self/mountinfo" <<EOM
20 1 250:1 / / rw,relatime shared:1 - ext4 /dev/fake-root rw
21 20 0:22 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1024k
30 20 $DEV_A / /mnt/a rw,relatime shared:10 - ext4 /dev/loopA rw
31 20 $DEV_B / /mnt/b rw,relatime shared:11 - xfs /dev/loopB rw,attr2,inode64
32 20 250:2 / /mnt/ro ro,relatime - ext4 /dev/sdz1 ro
33 20 0:55 / /mnt/nfs rw,relatime - nfs4 srv:/export rw,vers=4.2
34 20 250:3 / /mnt/fake rw,relatime - ext4 /dev/sdz2 rw
EOM

# start_writer FILE: a background write that must block while its filesystem is frozen.
start_writer() {
  ( echo data > "$1"; sync -f "$1" ) &
  WRITER=$!
}
# writer_done MS: whether the writer ended within MS milliseconds.
writer_done() {
  local deadline; deadline=$(($(date +%s%N) + $1 * 1000000))
  while kill -0 "$WRITER" 2>/dev/null; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
  wait "$WRITER" 2>/dev/null || true
}
host() { "$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" "$@"; }
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$1"; }
# xsread PATH: a value in the host's xenstore.
xsread() { "$PY" -c 'import pyxs,sys
with pyxs.Client(unix_socket_path=sys.argv[1]) as c: print(c[sys.argv[2].encode()].decode())' \
  "$TEST_TMPDIR/xs/host.sock" "$1"; }
export -f xsread; export PY TEST_TMPDIR
# outcome JSON MOUNT: the per-mount outcome in a pvic-host freeze document.
outcome() { "$PY" -c 'import json,sys; d=json.load(sys.stdin)
print(next((m["outcome"] for m in d["mounts"] if m["mount"]==sys.argv[1]), "absent"))' "$1"; }

# start_guest: hostsim for domid 3 and pvicd on this root; waits until "freeze" is advertised.
start_guest() {
  [ -n "${HOSTSIM_PID:-}" ] && kill -0 "$HOSTSIM_PID" 2>/dev/null || start_xen_hostsim "$TEST_TMPDIR/xs" 3
  "$BIN/pvicd" --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-3.sock" --root "$FROOT" \
    --log-level=debug >>"$TEST_TMPDIR/pvicd.log" 2>&1 &
  PVICD=$!
  track_pid $PVICD
  wait_for 20 sh -c "'$BIN/pvic-host' --xen '$TEST_TMPDIR/xs/host.sock' --json info 3 | grep -q 'shutdown time freeze'" ||
    fail "pvicd did not advertise freeze"
}
