#!/usr/bin/env bash
# The shutdown service against dbusmock's logind on a private dbus-daemon: each action
# makes exactly one matching logind call with interactive=false; a second request while
# one runs is answered "in-progress" and not run; a block-mode inhibitor vetoes (and
# force overrides it); halt falls back to systemd's StartUnit; without a bus the
# fallback chain ends in the stub reboot(2) only when enabled. Nothing can power off:
# logind and systemd are mocks and reboot(2) is a recording stub.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/shutdown-bus.sh"
RUN=$BIN/tests/helpers/shutdown-run
[ -x "$RUN" ] || fail "$RUN not built (make tests-build)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon not installed"
"$PY" -c 'import dbusmock' 2>/dev/null || skip "python3-dbusmock not installed"

calls=$TEST_TMPDIR/logind.calls
start_private_bus "$TEST_TMPDIR/bus"
start_mock logind "$calls"
: >> "$calls"

# run NAME ARGS...: runs the helper; its states in $TEST_TMPDIR/NAME.out, the logind
# calls it caused in $TEST_TMPDIR/NAME.calls; exit status in $rc.
run() {
  local name=$1; shift
  local before; before=$(wc -l < "$calls")
  rc=0
  timeout 30 "$RUN" --root "$TEST_TMPDIR/root" "$@" >"$TEST_TMPDIR/$name.out" 2>>"$TEST_TMPDIR/run.log" || rc=$?
  # the mock logs a call before it replies, and we only return after the reply
  tail -n +$((before + 1)) "$calls" | cut -d' ' -f2- > "$TEST_TMPDIR/$name.calls"
}
power_calls() { grep -cE '^(PowerOff|Reboot|Halt|Hibernate|Suspend)' "$TEST_TMPDIR/$1.calls" || true; }
mkdir -p "$TEST_TMPDIR/root"

for pair in poweroff:PowerOff reboot:Reboot hibernate:Hibernate; do
  action=${pair%%:*} method=${pair#*:}
  run "$action" "$action"
  assert_eq 0 "$rc" "$action exit status"
  assert_eq "accepted" "$(head -n1 "$TEST_TMPDIR/$action.out")" "$action: first state"
  assert_eq "done:logind" "$(tail -n1 "$TEST_TMPDIR/$action.out")" "$action: last state"
  assert_eq 1 "$(power_calls "$action")" "$action: power calls"
  assert_eq "$method False" "$(grep -E '^(PowerOff|Reboot|Halt|Hibernate|Suspend)' "$TEST_TMPDIR/$action.calls")" \
    "$action: the logind call and its interactive argument"
done
grep -qx "CanHibernate" "$TEST_TMPDIR/hibernate.calls" || fail "hibernate did not ask CanHibernate"
grep -qx "ListInhibitors" "$TEST_TMPDIR/poweroff.calls" || fail "poweroff did not check inhibitors"
pass_step "poweroff, reboot, hibernate: one logind call each, interactive=false"

run twice poweroff --twice
assert_eq "second: in-progress" "$(grep '^second:' "$TEST_TMPDIR/twice.out")" "second request while running"
assert_eq "done:logind" "$(tail -n1 "$TEST_TMPDIR/twice.out")" "first request outcome"
assert_eq 1 "$(power_calls twice)" "a request in progress is never run twice"
pass_step "a second request is answered in-progress and not run"

run bogus 7
assert_eq "refused:unsupported-action" "$(cat "$TEST_TMPDIR/bogus.out")" "unknown action"
assert_eq 0 "$(wc -l < "$TEST_TMPDIR/bogus.calls")" "an unsupported action makes no call at all"
pass_step "unsupported action refused without a call"

# Inhibitors, held by a separate process through logind's own Inhibit().
hold() { hold_inhibitor "$@"; holder=$HOLDER_PID; }
hold shutdown delayer delay
hold sleep sleeper block
run delay poweroff
assert_eq "done:logind" "$(tail -n1 "$TEST_TMPDIR/delay.out")" "delay-mode and sleep inhibitors do not veto poweroff"
run sleepblock hibernate
assert_eq "blocked-by-inhibitor:sleeper" "$(cat "$TEST_TMPDIR/sleepblock.out")" "a sleep block inhibitor vetoes hibernate"
assert_eq 0 "$(power_calls sleepblock)" "no call when vetoed"
assert_eq 2 "$rc" "vetoed request exit status"

hold 'handle-power-key:shutdown' 'db-backup' block
run blocked poweroff
assert_eq "blocked-by-inhibitor:db-backup" "$(cat "$TEST_TMPDIR/blocked.out")" "a shutdown block inhibitor vetoes poweroff"
assert_eq 0 "$(power_calls blocked)" "no logind power call when vetoed"

run forced poweroff --force
assert_eq "accepted" "$(head -n1 "$TEST_TMPDIR/forced.out")" "forced ack"
assert_eq "done:logind" "$(tail -n1 "$TEST_TMPDIR/forced.out")" "force overrides the inhibitor"
assert_eq 1 "$(power_calls forced)" "forced power calls"
grep -q ListInhibitors "$TEST_TMPDIR/forced.calls" && fail "a forced request still asked for inhibitors"
pass_step "block inhibitors veto (blocked-by-inhibitor:<who>), delay ones don't, force overrides"

# Releasing the inhibitor (its holder exits, the fd closes) lifts the veto.
kill "$holder"
not_listed() { ! mock_call org.freedesktop.login1 /org/freedesktop/login1 \
  org.freedesktop.login1.Manager.ListInhibitors | grep -q db-backup; }
wait_for 10 not_listed || fail "inhibitor not released"

# Halt: the logind mock has no Halt, so systemd's StartUnit is next; first with no
# systemd on the bus (the chain ends in failed:), then with dbusmock's systemd.
run halt-nosystemd halt
assert_eq "failed:logind=UnknownMethod,systemd=ServiceUnknown" "$(tail -n1 "$TEST_TMPDIR/halt-nosystemd.out")" \
  "halt with neither"
grep -qx "calling-systemd" "$TEST_TMPDIR/halt-nosystemd.out" || fail "systemd fallback not tried"
syscalls=$TEST_TMPDIR/systemd.calls
start_mock systemd "$syscalls"
mock_call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.DBus.Mock.AddMockUnit \
  string:halt.target >/dev/null
run halt halt
assert_eq "done:systemd" "$(tail -n1 "$TEST_TMPDIR/halt.out")" "halt through systemd"
assert_eq 1 "$(grep -c 'StartUnit "halt.target" "replace-irreversibly"' "$syscalls")" "one StartUnit(halt.target, replace-irreversibly)"
pass_step "halt falls back to systemd StartUnit(halt.target, replace-irreversibly)"

# No bus at all: every D-Bus step fails at once; reboot(2) is the stub, off by default.
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$TEST_TMPDIR/no-such-bus.sock
stub=$TEST_TMPDIR/stub.record
run nobus poweroff --stub-record "$stub"
assert_eq 2 "$rc" "no bus, no reboot(2): exit status"
assert_eq "failed:logind=ENOENT,systemd=ENOENT" "$(tail -n1 "$TEST_TMPDIR/nobus.out")" "no bus outcome"
[ ! -e "$stub" ] || fail "reboot(2) stub called although not enabled"
grep -q "cannot connect to the system bus" "$TEST_TMPDIR/run.log" || fail "missing bus not logged clearly"

run nobus-allowed reboot --allow-reboot-syscall --grace 1 --stub-record "$stub" --times
assert_eq 0 "$rc" "reboot(2) fallback exit status"
assert_eq "accepted running-hooks calling-logind calling-systemd calling-reboot-syscall done:reboot-syscall" \
  "$(cut -d' ' -f2 "$TEST_TMPDIR/nobus-allowed.out" | grep -v '^reboot-syscall' | tr '\n' ' ' | sed 's/ $//')" \
  "fallback chain order"
assert_eq "reboot-syscall reboot" "$(cat "$stub")" "stub reboot(2) recorded once, for reboot"
t_call=$(awk '$2 == "calling-reboot-syscall" {print $1}' "$TEST_TMPDIR/nobus-allowed.out")
t_done=$(awk '$2 == "done:reboot-syscall" {print $1}' "$TEST_TMPDIR/nobus-allowed.out")
[ $((t_done - t_call)) -ge 900000 ] || fail "grace period not honoured: $((t_done - t_call)) us"

rm -f "$stub"
run nobus-hib hibernate --allow-reboot-syscall --stub-record "$stub"
assert_eq "failed:logind=ENOENT,systemd=ENOENT" "$(tail -n1 "$TEST_TMPDIR/nobus-hib.out")" "hibernate cannot use reboot(2)"
[ ! -e "$stub" ] || fail "reboot(2) used for hibernate"
pass_step "no bus: logind → systemd → stub reboot(2) only when enabled, after the grace period"

no_sanitizer_reports
