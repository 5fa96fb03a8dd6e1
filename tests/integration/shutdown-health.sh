#!/usr/bin/env bash
# The health signal (heartbeat application state / watchdog) against dbusmock's systemd
# on a private bus: healthy while the loop turns and SystemState is running; critical
# when systemd reports degraded or maintenance, when a watched unit fails, or when the
# loop stalls; stopped while the system stops; loop-only (healthy) without a bus.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/shutdown-bus.sh"
HEALTH=$BIN/tests/helpers/shutdown-health
[ -x "$HEALTH" ] || fail "$HEALTH not built (make tests-build)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon not installed"
"$PY" -c 'import dbusmock' 2>/dev/null || skip "python3-dbusmock not installed"

start_private_bus "$TEST_TMPDIR/bus"
start_mock systemd "$TEST_TMPDIR/systemd.calls"
SD=(org.freedesktop.systemd1 /org/freedesktop/systemd1)
mock_call "${SD[@]}" org.freedesktop.DBus.Mock.AddProperty string:org.freedesktop.systemd1.Manager \
  string:SystemState variant:string:running >/dev/null
mock_call "${SD[@]}" org.freedesktop.DBus.Mock.AddMockUnit string:watched.service >/dev/null
unit_path=$(mock_call "${SD[@]}" org.freedesktop.systemd1.Manager.GetUnit string:watched.service |
  awk '/object path/ {gsub(/"/, "", $3); print $3}')
[ -n "$unit_path" ] || fail "mock unit has no path"
set_state() { mock_call "${SD[@]}" org.freedesktop.DBus.Properties.Set \
  string:org.freedesktop.systemd1.Manager string:SystemState "variant:string:$1" >/dev/null; }
set_unit() { mock_call org.freedesktop.systemd1 "$unit_path" org.freedesktop.DBus.Properties.Set \
  string:org.freedesktop.systemd1.Unit string:ActiveState "variant:string:$1" >/dev/null; }

out=$TEST_TMPDIR/health.out
"$HEALTH" --tick-ms 50 --stall-ms 400 --refresh-ms 100 --poll-ms 50 --unit watched.service \
  --unit not-loaded.service >"$out" 2>"$TEST_TMPDIR/health.log" &
health_pid=$!
track_pid $health_pid
last_is() { [ "$(tail -n1 "$out")" == "$1" ]; }
expect() { wait_for 5 last_is "$1" || fail "expected [$1], last states: $(tail -n3 "$out" | tr '\n' '|')"; }

expect "healthy ok"
set_state degraded
expect "critical system-state:degraded"
set_state maintenance
expect "critical system-state:maintenance"
set_state running
expect "healthy ok"
pass_step "SystemState degraded/maintenance is critical, running is healthy"

set_unit failed
expect "critical unit-failed:watched.service"
set_unit active
expect "healthy ok"
pass_step "a watched unit that failed is critical; a unit that is not loaded is not"

set_state stopping
expect "stopped system-state:stopping"
set_state running
expect "healthy ok"
pass_step "stopping is reported as stopped"
kill -TERM $health_pid
rc=0; wait $health_pid || rc=$?
assert_eq 0 "$rc" "the health helper's exit status after SIGTERM (leaks, sanitizers)"

# The loop stalls for 1 s (more than --stall-ms): the first reader after it sees it.
"$HEALTH" --tick-ms 50 --stall-ms 400 --refresh-ms 100 --poll-ms 50 --block-at-ms 300 \
  --block-ms 1000 --duration-ms 1800 >"$TEST_TMPDIR/stall.out" 2>>"$TEST_TMPDIR/health.log" \
  || fail "stall run failed"
assert_eq "after-block critical loop-stalled" "$(grep after-block "$TEST_TMPDIR/stall.out")" "stalled loop"
assert_eq "healthy ok" "$(tail -n1 "$TEST_TMPDIR/stall.out")" "healthy again once the loop turns"
pass_step "a stalled loop is critical, and healthy again once it turns"


DBUS_SYSTEM_BUS_ADDRESS=unix:path=$TEST_TMPDIR/nobus.sock "$HEALTH" --tick-ms 50 --poll-ms 50 \
  --duration-ms 300 >"$TEST_TMPDIR/nobus.out" 2>>"$TEST_TMPDIR/health.log" || fail "no-bus run failed"
assert_eq "healthy ok" "$(cat "$TEST_TMPDIR/nobus.out")" "without a bus the loop's word is enough"
pass_step "no bus: healthy while the loop turns"

no_sanitizer_reports
