#!/usr/bin/env bash
# The freeze hooks under valgrind: a slow hook on the loop, a second freeze refused busy,
# a thaw that cancels the freeze, a failing hook; pvicd then stops cleanly with no error
# and no leak. No freeze reaches FIFREEZE here: the thaw guard is pvicd re-executed
# from /proc/self/exe, which under valgrind is valgrind (the freeze tests cover it, and
# `make check SANITIZE=1` runs them under ASan; there this test runs without valgrind).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/freeze-setup.sh"
hooks=$FROOT/etc/pvic/freeze.d
cat > "$hooks/10-slow" <<'EOH'
#!/bin/sh
echo "10-slow $1"
[ "$1" = thaw ] || sleep 2
EOH
chmod 0755 "$hooks/10-slow"
start_xen_hostsim "$TEST_TMPDIR/xs" 3
VALGRIND=${VALGRIND-1}
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-3.sock" --root "$FROOT" \
  --log-level=debug >>"$TEST_TMPDIR/pvicd.log" 2>&1 &
PVICD=$!
track_pid $PVICD
wait_for 60 sh -c "'$BIN/pvic-host' --xen '$TEST_TMPDIR/xs/host.sock' --json info 3 | grep -q 'shutdown time freeze'" ||
  fail "pvicd did not advertise freeze"

host --json freeze 3 --lease 30 > "$TEST_TMPDIR/f1.json" &
f1=$!
wait_for 10 grep -q "10-slow: running" "$TEST_TMPDIR/pvicd.log" || fail "the slow hook did not start"
assert_eq "refused:busy" "$(host --json freeze 3 | jget state)" "second freeze"
assert_eq "thawed:cancelled" "$(host --json thaw 3 | jget state)" "thaw during the hooks"
wait "$f1" || true
assert_eq "failed:cancelled" "$(jget state < "$TEST_TMPDIR/f1.json")" "the cancelled freeze"
grep -q "Freeze hook 10-slow: 10-slow thaw" "$TEST_TMPDIR/pvicd.log" || fail "hook output not logged"
printf '#!/bin/sh\necho "20-fail $1"\n[ "$1" = thaw ]\n' > "$hooks/20-fail"
chmod 0755 "$hooks/20-fail"
rm "$hooks/10-slow"
cat > "$hooks/10-fast" <<'EOH'
#!/bin/sh
echo "10-fast $1"
EOH
chmod 0755 "$hooks/10-fast"
assert_eq "failed:hook-failed:20-fail" "$(host --json freeze 3 | jget state)" "freeze with a failing hook"
grep -q "Freeze hook 10-fast: 10-fast thaw" "$TEST_TMPDIR/pvicd.log" || fail "the hook before the failed one not undone"
kill -TERM "$PVICD"
rc=0; wait "$PVICD" || rc=$?
# valgrind's exit code 99: a memory error or a leak (its report is in pvicd.log).
[ $rc -eq 0 ] || fail "pvicd exited $rc: $(grep '==[0-9]*==' "$TEST_TMPDIR/pvicd.log" | head -40)"
pass_step "freeze hooks (slow, busy, cancelled, failing) under valgrind: no error, no leak"
