#!/usr/bin/env bash
# pvic-host --xen against pvic-hostsim's xenstored with pvicd in the guest: guests, info
# and KVP listings match golden JSON files (volatile values normalised); the human output
# is readable; errors are clear and exit non-zero.
. "$(dirname "$0")/../lib.sh"

root=$TEST_TMPDIR/root
mkdir -p "$root/etc" "$root/proc"
printf 'PRETTY_NAME="Golden OS 3.14"\nID=golden\nVERSION_ID="3.14"\n' > "$root/etc/os-release"
printf 'MemTotal: 1000000 kB\nMemAvailable: 500000 kB\n' > "$root/proc/meminfo"

start_xen_hostsim "$TEST_TMPDIR/xs" 4
"$BIN/pvicd" --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-4.sock" --root "$root" \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
track_pid $!
host() { "$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" "$@"; }
export XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock
wait_for 10 xenstore-read /local/domain/4/data/updated || fail "pvicd did not publish"

golden() { # NAME CMD...
  local name=$1; shift
  "$@" | "$PY" "$TOP/tests/golden/normalize.py" > "$TEST_TMPDIR/$name.json" || fail "$name: command failed"
  if [ -n "${UPDATE_GOLDEN:-}" ]; then cp "$TEST_TMPDIR/$name.json" "$TOP/tests/golden/$name.json"; fi
  diff -u "$TOP/tests/golden/$name.json" "$TEST_TMPDIR/$name.json" || fail "$name differs from the golden file"
}

golden xen-guests host --json guests
golden xen-info host --json info 4
host info 4 | grep -q '^OS: *Golden OS 3.14 (golden)$' || fail "human info output"
host info 4 | grep -q '^Version: *3.14$' || fail "human info output (version)"
pass_step "guests and info match the golden files"

# KVP from the host's side: set (pool 0, vm-data), list, delete.
host kvp set 4 "greeting/en" "hello world" >/dev/null || fail "kvp set"
assert_eq "hello world" "$(xenstore-read /local/domain/4/vm-data/pvic/kvp/greeting_2fen)" "escaped path"
golden xen-kvp-list host --json kvp list 4 --pool 0
assert_eq "hello world" "$(host kvp get 4 greeting/en)" "kvp get pool 0"
host kvp delete 4 greeting/en >/dev/null || fail "kvp delete"
rc=0; host kvp get 4 greeting/en 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -eq 1 ] || fail "kvp get of a deleted key should fail with 1, got $rc"
grep -q "no such key" "$TEST_TMPDIR/err" || fail "no clear error for a missing key"
pass_step "kvp set/list/get/delete"

rc=0; host info 77 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -eq 1 ] && grep -q "no domain 77" "$TEST_TMPDIR/err" || fail "missing domain not reported clearly"
rc=0; host info "../4" 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -eq 1 ] && grep -q "not a domain id" "$TEST_TMPDIR/err" || fail "bad guest name not refused"
rc=0; "$BIN/pvic-host" --xen "$TEST_TMPDIR/nope.sock" guests 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -eq 1 ] || fail "an unreachable socket must fail"
pass_step "errors"
