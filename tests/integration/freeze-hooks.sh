#!/usr/bin/env bash
# Freeze hooks: run in name order before the freeze and in reverse after the thaw, with a
# fixed argv; a hung pre-freeze hook is killed (its children too) at its timeout (10 s),
# the freeze is refused with the hook named, and the hooks that ran are undone.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"
hooks=$FROOT/etc/pvic/freeze.d
log=$TEST_TMPDIR/hooks.out
cat > "$hooks/10-db" <<EOH
#!/bin/sh
echo "10-db \$# \$1 \$PVIC_FREEZE_ACTION" >> "$log"
EOH
cat > "$hooks/20-app" <<EOH
#!/bin/sh
echo "20-app \$# \$1" >> "$log"
EOH
echo 'not executable' > "$hooks/30-data"
chmod 0755 "$hooks/10-db" "$hooks/20-app"
chmod 0644 "$hooks/30-data"

start_guest
out=$(host --json freeze 3 --lease 10) || fail "freeze failed: $out"
assert_eq frozen "$(jget state <<<"$out")" "freeze state"
out=$(host --json thaw 3) || fail "thaw failed: $out"
assert_eq "10-db 1 freeze freeze|20-app 1 freeze|20-app 1 thaw|10-db 1 thaw thaw" "$(paste -sd'|' "$log")" \
  "hook order and argv"
pass_step "hooks: name order before the freeze, reverse after the thaw, fixed argv"

# 15-hang quiesces nothing and never returns; its background child neither.
cat > "$hooks/15-hang" <<EOH
#!/bin/sh
sleep 1000 &
echo \$! > "$TEST_TMPDIR/hang-child.pid"
exec sleep 1000
EOH
chmod 0755 "$hooks/15-hang"
: > "$log"
t0=$(date +%s%N)
rc=0; out=$(host --json freeze 3 --lease 10) || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 1 "$rc" "pvic-host's exit status for a failed freeze"
assert_eq "failed:hook-timeout:15-hang" "$(jget state <<<"$out")" "state with a hung hook"
[ "$ms" -ge 9500 ] && [ "$ms" -lt 14000 ] || fail "hung hook handled after $ms ms, expected its 10 s timeout"
child=$(cat "$TEST_TMPDIR/hang-child.pid")
# Killed or a zombie awaiting its new parent: not running any more.
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$st" != Z* ]]; }
running "$child" && fail "the hung hook's child survived"
# 20-app never ran; 10-db was undone by the thaw hooks.
assert_eq "10-db 1 freeze freeze|10-db 1 thaw thaw" "$(paste -sd'|' "$log")" "hooks around the failed freeze"
start_writer "$MNT_A/after-hang"
writer_done 1000 || fail "something stayed frozen after the refused freeze"
grep -q "hook .*15-hang did not finish within 10 s; killing it" "$TEST_TMPDIR/pvicd.log" || fail "no log"
pass_step "a hung hook is killed at its timeout (${ms} ms), the freeze refused and undone"

# The hooks run on pvicd's loop without holding it: while a slow pre-freeze hook runs,
# the host's heartbeat is answered and a second freeze is refused as busy.
rm -f "$hooks/15-hang"
cat > "$hooks/15-slow" <<EOH
#!/bin/sh
echo "15-slow \$1" >> "$log"
[ "\$1" = thaw ] || sleep 3
EOH
chmod 0755 "$hooks/15-slow"
: > "$log"
host --json freeze 3 --lease 10 > "$TEST_TMPDIR/slow-freeze.json" &
slow=$!
wait_for 5 grep -q "15-slow freeze" "$log" || fail "the slow hook did not start"
t0=$(date +%s%N)
out=$(host --json heartbeat 3) || fail "heartbeat during a slow hook failed: $out"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1500 ] || fail "heartbeat answered after $ms ms while a hook ran: the loop waited for it"
rc=0; out=$(host --json freeze 3 --lease 10) || rc=$?
assert_eq "refused:busy" "$(jget state <<<"$out")" "a second freeze while the hooks of one run"
wait "$slow" || fail "the slow freeze failed: $(cat "$TEST_TMPDIR/slow-freeze.json")"
assert_eq frozen "$(jget state < "$TEST_TMPDIR/slow-freeze.json")" "freeze after a slow hook"
out=$(host --json thaw 3) || fail "thaw failed: $out"
assert_eq thawed "$(jget state <<<"$out")" "thaw after a slow hook"
pass_step "a slow hook holds nothing: heartbeat in ${ms} ms meanwhile, a second freeze refused busy"

# A thaw while the pre-freeze hooks run cancels the freeze: the running hook is killed,
# nothing is frozen, the hooks that started are undone, both requests hear it.
: > "$log"
host --json freeze 3 --lease 10 > "$TEST_TMPDIR/cancel-freeze.json" &
slow=$!
wait_for 5 grep -q "15-slow freeze" "$log" || fail "the slow hook did not start"
out=$(host --json thaw 3) || fail "thaw during the hooks failed: $out"
assert_eq "thawed:cancelled" "$(jget state <<<"$out")" "thaw during the pre-freeze hooks"
rc=0; wait "$slow" || rc=$?
assert_eq 1 "$rc" "pvic-host's exit status for the cancelled freeze"
assert_eq "failed:cancelled" "$(jget state < "$TEST_TMPDIR/cancel-freeze.json")" "the cancelled freeze"
assert_eq "10-db 1 freeze freeze|15-slow freeze|15-slow thaw|10-db 1 thaw thaw" "$(paste -sd'|' "$log")" \
  "hooks around the cancelled freeze: 20-app never ran, the killed hook is undone"
pgrep -f "$hooks/15-slow" >/dev/null && fail "the cancelled hook still runs"
start_writer "$MNT_B/after-cancel"
writer_done 1000 || fail "something is frozen after the cancelled freeze"
pass_step "a thaw during the pre-freeze hooks cancels the freeze"
