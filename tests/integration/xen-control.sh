#!/usr/bin/env bash
# pvic's host requests on Xen, end to end through pvic-host, pvic-hostsim's xenstored,
# pvicd and a real dbus-daemon with python3-dbusmock's logind: heartbeat, the four-
# timestamp time exchange (on pvicd's virtual clock: the machine's clock is never
# touched), and an orchestrated reboot that ends in exactly one logind call.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}

root=$TEST_TMPDIR/root
mkdir -p "$root/etc"
echo 'ID=debian' > "$root/etc/os-release"
start_private_bus
start_mock_logind
start_xen_hostsim "$TEST_TMPDIR/xs" 3
# The guest's clock runs 250 ms ahead of the host's.
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-3.sock" --root "$root" \
  --virtual-clock=250 --log-level=debug >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
host() { "$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" "$@"; }
jget() { "$PY" -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$1"; }
wait_for 20 "$BIN/pvicctl" status || fail "pvicd not up"

out=$(host --json heartbeat 3) || fail "heartbeat failed: $out"
assert_eq "True" "$(jget alive <<<"$out")" "heartbeat alive"
assert_eq "healthy" "$(jget state <<<"$out")" "heartbeat state"
pass_step "heartbeat answered: $(jget round_trip_us <<<"$out") us"

out=$(host --json time 3) || fail "time exchange failed: $out"
off=$(jget guest_offset_ns <<<"$out")
[ "$off" -gt 200000000 ] && [ "$off" -lt 300000000 ] || fail "guest offset $off ns, expected about +250 ms"
wait_for 2 "$BIN/pvicctl" time --json || fail "pvicctl time"
t=$("$BIN/pvicctl" time --json)
assert_eq "disciplining" "$(jget mode <<<"$t")" "time mode"
last=$(jget last_offset_ns <<<"$t")
[ "$last" -lt -200000000 ] && [ "$last" -gt -300000000 ] || fail "pvicd saw offset $last ns (host - guest), expected about -250 ms"
"$BIN/pvicctl" time | grep -q "Mode: *disciplining" || fail "human time output"
pass_step "time exchange: guest +$((off / 1000000)) ms, pvicd corrected ($(jget history.0.action <<<"$t"))"

# An application holds a block inhibitor: the host is told who, nothing is called.
hold_inhibitor shutdown db-backup block
rc=0; out=$(host --json shutdown 3 --reboot --timeout 30) || rc=$?
assert_eq 1 "$rc" "pvic-host's exit status for a blocked shutdown"
assert_eq "blocked-by-inhibitor:db-backup" "$(jget results.0.outcome <<<"$out")" "blocked shutdown outcome"
grep -q Reboot "$TEST_TMPDIR/logind.calls" && fail "logind was called despite the inhibitor"
kill "$HOLDER_PID"; wait "$HOLDER_PID" 2>/dev/null || true
pass_step "a block inhibitor is reported to the host"

out=$(host --json shutdown 3 --reboot --reason 'patch $(reboot) night' --timeout 30) || fail "shutdown failed: $out"
assert_eq "done:logind" "$(jget results.0.outcome <<<"$out")" "shutdown outcome"
n=$(grep -c "Reboot" "$TEST_TMPDIR/logind.calls" || true)
assert_eq 1 "$n" "logind Reboot calls"
grep -q "reason 'patch \$(reboot) night'" "$TEST_TMPDIR/pvicd.log" || fail "the reason was not logged verbatim"
pass_step "orchestrated reboot: one logind call"

# The same request seen again (pvicd restarts, the watch fires anew) is not run twice.
kill -TERM $pvicd; wait $pvicd || fail "pvicd exit status $?"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-3.sock" --root "$root" \
  --virtual-clock=250 >"$TEST_TMPDIR/pvicd2.log" 2>&1 &
pvicd=$!
track_pid $pvicd
wait_for 20 "$BIN/pvicctl" status || fail "pvicd did not come back"
sleep 0.5
n=$(grep -c "Reboot" "$TEST_TMPDIR/logind.calls" || true)
assert_eq 1 "$n" "logind Reboot calls after a pvicd restart"
pass_step "an answered request is not run again"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc"
