#!/usr/bin/env bash
# Freeze end to end on Xen: pvic-host freeze/thaw through pvic-hostsim's xenstored and
# pvicd, on a loop-mounted ext4 and xfs. A writer blocks while frozen and finishes after
# the thaw; each mount's outcome reaches the host (decoys skipped with their reason, a
# mount point on another device never frozen); the journal exists only while frozen; an
# un-thawed freeze ends at its lease; an answered request is not run again after a restart.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"

start_guest

out=$(host --json freeze 3 --lease 20) || fail "freeze failed: $out"
assert_eq frozen "$(jget state <<<"$out")" "freeze state"
assert_eq frozen "$(outcome /mnt/a <<<"$out")" "ext4 outcome"
assert_eq frozen "$(outcome /mnt/b <<<"$out")" "xfs outcome"
assert_eq skipped:read-only "$(outcome /mnt/ro <<<"$out")" "read-only mount"
assert_eq skipped:network "$(outcome /mnt/nfs <<<"$out")" "nfs mount"
assert_eq skipped:pseudo "$(outcome /run <<<"$out")" "tmpfs mount"
assert_eq skipped:not-mounted "$(outcome /mnt/fake <<<"$out")" "mount point on another device"
assert_eq skipped:not-mounted "$(outcome / <<<"$out")" "root on another device"
j=$FROOT/run/pvic/freeze.journal
[ -f "$j" ] || fail "no journal while frozen"
assert_eq "$DEV_B /mnt/b|$DEV_A /mnt/a" "$(paste -sd'|' "$j")" "journal: what was frozen, in freeze order"
pass_step "freeze: ext4 and xfs frozen, decoys skipped with reasons, journal written"

for m in "$MNT_A" "$MNT_B"; do
  start_writer "$m/file"
  writer_done 800 && fail "a write to $m completed while frozen"
  eval "W_${m##*/}=$WRITER"
done
pass_step "writers to ext4 and xfs block while frozen"

out=$(host --json thaw 3) || fail "thaw failed: $out"
assert_eq thawed "$(jget state <<<"$out")" "thaw state"
assert_eq thawed "$(outcome /mnt/a <<<"$out")" "ext4 after thaw"
assert_eq thawed "$(outcome /mnt/b <<<"$out")" "xfs after thaw"
WRITER=$W_a; writer_done 2000 || fail "ext4 writer still blocked after thaw"
WRITER=$W_b; writer_done 2000 || fail "xfs writer still blocked after thaw"
[ -f "$j" ] && fail "journal left after thaw"
assert_eq data "$(cat "$MNT_B/file")" "written data"
pass_step "thaw releases the writers; journal removed"

# Human output and a second thaw (nothing frozen).
host thaw 3 | grep -q "guest 3: thawed:not-frozen" || fail "human output of a thaw with nothing frozen"

# No thaw from the host: the lease ends it (pvicd's timer, before the guard's grace).
t0=$(date +%s%N)
out=$(host --json freeze 3 --lease 2) || fail "freeze failed: $out"
start_writer "$MNT_A/lease"
writer_done 1000 && fail "write completed during the lease"
writer_done 3000 || fail "not thawed after the lease"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 1900 ] || fail "thawed after $ms ms, before the 2 s lease"
v=$(xsread /local/domain/3/data/pvic/freeze)
[[ "$v" == *" thawed:lease-expired "* ]] || fail "host not told about the lease expiry: $v"
grep -q "thawed (lease-expired)" "$TEST_TMPDIR/pvicd.log" || fail "pvicd did not thaw by its own timer"
pass_step "an un-thawed freeze ends at its lease (${ms} ms for 2 s): $v" 

# Restart: the last request (answered) is not run again.
kill -TERM "$PVICD"; wait "$PVICD" 2>/dev/null || true
start_guest
sleep 1
start_writer "$MNT_B/after-restart"
writer_done 1000 || fail "an answered freeze request was run again after a restart"
pass_step "an answered request is not run again after a restart"

# A malformed lease is refused, nothing frozen.
"$PY" -c 'import pyxs,sys
with pyxs.Client(unix_socket_path=sys.argv[1]) as c:
    base = b"/local/domain/3/control/pvic/freeze/"
    c[base + b"action"] = b"freeze"
    c[base + b"lease"] = b"-5"
    c[base + b"id"] = b"bad-1"' "$TEST_TMPDIR/xs/host.sock"
wait_for 5 bash -c "xsread /local/domain/3/data/pvic/freeze | grep -qx 'bad-1 refused:malformed-request'" ||
  fail "malformed request not refused: $(xsread /local/domain/3/data/pvic/freeze)"
start_writer "$MNT_A/after-bad"
writer_done 1000 || fail "a malformed request froze something"
pass_step "a malformed request is refused"
