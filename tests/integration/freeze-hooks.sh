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
