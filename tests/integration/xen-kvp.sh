#!/usr/bin/env bash
# KVP on Xen, both directions, through the real store and pool files: a host item
# (vm-data) reaches pvicctl; a guest item (pvicctl, or a record appended to the pool file
# by another program, as cloud-init does) reaches the host; deletes follow; a restarted
# xenstored gets pool 1 again.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}

root=$TEST_TMPDIR/root
mkdir -p "$root/etc"
echo 'ID=debian' > "$root/etc/os-release"
start_private_bus
start_xen_hostsim "$TEST_TMPDIR/xs" 6
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-6.sock" --root "$root" \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
host() { "$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" "$@"; }
ctl() { "$BIN/pvicctl" "$@"; }
wait_for 20 ctl status || fail "pvicd not on the bus"

host kvp set 6 "greeting/en" "hello from the host" >/dev/null
wait_for 1 ctl kvp get --pool 0 greeting/en || fail "host item did not reach the guest within 1 s"
assert_eq "hello from the host" "$(ctl kvp get --pool 0 greeting/en)" "pool 0 value"
perm=$(stat -c %a "$root/var/lib/hyperv/.kvp_pool_0")
assert_eq "600" "$perm" "pool 0 file mode (host data)"
pass_step "host -> guest"

ctl kvp set app/state ready
wait_for 1 host kvp get 6 app/state --pool 1 || fail "guest item did not reach the host within 1 s"
assert_eq "ready" "$(host kvp get 6 app/state --pool 1)" "pool 1 value on the host"
pass_step "guest -> host (pvicctl)"

# Another program appends a record to pool 1 under flock, as cloud-init's handler does.
"$PY" - "$root/var/lib/hyperv/.kvp_pool_1" <<'PYEOF'
import fcntl, sys
with open(sys.argv[1], "ab") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(b"cloud-init-event".ljust(512, b"\0") + b"provisioned".ljust(2048, b"\0"))
    f.flush()
    fcntl.flock(f, fcntl.LOCK_UN)
PYEOF
wait_for 1 host kvp get 6 cloud-init-event --pool 1 || fail "appended record did not reach the host within 1 s"
assert_eq "provisioned" "$(host kvp get 6 cloud-init-event --pool 1)" "appended value"
pass_step "guest -> host (another writer's append)"

host kvp delete 6 greeting/en >/dev/null
gone() { ! ctl kvp get --pool 0 greeting/en; }
wait_for 1 gone || fail "host delete did not reach the guest"
rc=0; ctl kvp get --pool 0 greeting/en 2>/dev/null || rc=$?
assert_eq 3 "$rc" "pvicctl exit status for a missing key"
ctl kvp delete app/state
gone_host() { ! host kvp get 6 app/state --pool 1; }
wait_for 1 gone_host || fail "guest delete did not reach the host"
pass_step "deletes both ways"

# A key too long for a Hyper-V host is refused with a clear error, nothing stored.
long=$(printf 'k%.0s' $(seq 300))
rc=0; ctl kvp set "$long" v 2>"$TEST_TMPDIR/err" || rc=$?
[ $rc -ne 0 ] && grep -q "254" "$TEST_TMPDIR/err" || fail "an over-long key was not refused clearly"
pass_step "limits"

# xenstored restarts empty: pool 1 is published again.
kill -KILL "$HOSTSIM_PID"; wait "$HOSTSIM_PID" 2>/dev/null || true
rm -f "$TEST_TMPDIR"/xs/*.sock
start_xen_hostsim "$TEST_TMPDIR/xs" 6
wait_for 3 host kvp get 6 cloud-init-event --pool 1 || fail "pool 1 not republished after a xenstored restart"
pass_step "republished after reconnect"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc"
