#!/usr/bin/env bash
# The thaw does not depend on pvicd: kill -9 of pvicd while frozen → the guard thaws at
# once (well within lease + 1 s); pvicd stopped (SIGSTOP: a wedged loop) → the guard
# thaws at the lease; a journal left behind (guard gone too) → the next pvicd thaws
# first, and so does `pvicd --thaw-journal` (ExecStopPost=).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"
j=$FROOT/run/pvic/freeze.journal

start_guest
out=$(host --json freeze 3 --lease 5) || fail "freeze failed: $out"
assert_eq frozen "$(jget state <<<"$out")" "freeze state"
pgrep -f -- "--thaw-guard $FROOT " >/dev/null || fail "no thaw guard while frozen"
start_writer "$MNT_B/kill9"
writer_done 500 && fail "write completed while frozen"
t0=$(date +%s%N)
kill -KILL "$PVICD"
writer_done 6000 || fail "still frozen 6 s (lease + 1 s) after kill -9 of pvicd"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 2000 ] || fail "the guard took $ms ms; it should act on pvicd's exit, not the lease"
grep -q "thaw guard: pvicd exited; 2 filesystem(s) thawed" "$TEST_TMPDIR/pvicd.log" || fail "guard did not report"
[ -f "$j" ] && fail "the guard left the journal"
pass_step "kill -9 of pvicd while frozen: the guard thawed both in $ms ms"

start_guest
out=$(host --json freeze 3 --lease 2) || fail "freeze failed: $out"
t0=$(date +%s%N)
kill -STOP "$PVICD"
start_writer "$MNT_A/stopped"
writer_done 1500 && fail "thawed before the lease"
writer_done 2500 || { kill -CONT "$PVICD"; fail "a stopped pvicd kept the filesystems frozen past lease + 1 s"; }
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q "thaw guard: the lease passed" "$TEST_TMPDIR/pvicd.log" || fail "guard did not say why"
kill -CONT "$PVICD"
# pvicd wakes up, sees its guard gone or its lease passed: it thaws too (EINVAL = already) and answers.
wait_for 3 bash -c 'xsread /local/domain/3/data/pvic/freeze | grep -q " thawed:"' || fail "pvicd did not catch up"
pass_step "a stopped pvicd: the guard thawed at the lease ($ms ms for 2 s)"

# A journal without a guard (both gone): the next start thaws first.
kill -KILL "$PVICD"; wait "$PVICD" 2>/dev/null || true
pkill_guards
fsfreeze -f "$MNT_A"
mkdir -p "$FROOT/run/pvic"
echo "$DEV_A /mnt/a" > "$j"
start_writer "$MNT_A/journal"
writer_done 300 && fail "fsfreeze -f did not freeze"
start_guest
writer_done 1000 || fail "pvicd did not thaw what the journal lists"
grep -q "left frozen by an earlier pvicd were thawed" "$TEST_TMPDIR/pvicd.log" || fail "no recovery message"
[ -f "$j" ] && fail "journal not removed after recovery"
pass_step "a restarted pvicd thaws what the journal lists"

kill -TERM "$PVICD"; wait "$PVICD" 2>/dev/null || true
fsfreeze -f "$MNT_B"
echo "$DEV_B /mnt/b" > "$j"
start_writer "$MNT_B/execstoppost"
"$BIN/pvicd" --thaw-journal --root "$FROOT" >>"$TEST_TMPDIR/pvicd.log" 2>&1 || fail "--thaw-journal failed"
writer_done 1000 || fail "pvicd --thaw-journal did not thaw"
# A journal naming a mount point on another device must not touch it.
fsfreeze -f "$MNT_B"
echo "250:9 /mnt/b" > "$j"
start_writer "$MNT_B/wrong-dev"
"$BIN/pvicd" --thaw-journal --root "$FROOT" >>"$TEST_TMPDIR/pvicd.log" 2>&1 || true
writer_done 500 && fail "a journal entry with the wrong device thawed a filesystem"
fsfreeze -u "$MNT_B"
writer_done 1000 || fail "writer stuck"
pass_step "pvicd --thaw-journal thaws (ExecStopPost), and only the listed device"
