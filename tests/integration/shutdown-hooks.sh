#!/usr/bin/env bash
# Shutdown hooks: run in name order with argv {path, action} and the request in PVIC_*
# environment variables; a hook that hangs is killed (with its children) at its timeout
# and named in the outcome, without delaying the acknowledgement; non-executable and
# non-regular entries are skipped; a reason full of shell metacharacters reaches the hook
# verbatim and nothing is executed from it; the host's timeout bounds all hooks; a failed
# hook aborts only when configured and the request is not forced.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/helpers/shutdown-bus.sh"
RUN=$BIN/tests/helpers/shutdown-run
[ -x "$RUN" ] || fail "$RUN not built (make tests-build)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon not installed"
"$PY" -c 'import dbusmock' 2>/dev/null || skip "python3-dbusmock not installed"

calls=$TEST_TMPDIR/logind.calls
start_private_bus "$TEST_TMPDIR/bus"
start_mock logind "$calls"

root=$TEST_TMPDIR/root
hooks=$root/etc/pvic/shutdown.d
out=$TEST_TMPDIR/hookout
mkdir -p "$hooks" "$out"
hook() { # NAME MODE BODY
  printf '#!/bin/sh\nOUT=%s\n%s\n' "$out" "$3" > "$hooks/$1"
  chmod "$2" "$hooks/$1"
}
hook 10-first 755 'echo 10-first >> $OUT/order
env | grep ^PVIC_ | sort > $OUT/env
printf %s "$PVIC_SHUTDOWN_REASON" > $OUT/reason
printf "%s\n" "$0" "$1" "$#" > $OUT/argv
echo "hello from first"
echo "complaint on stderr" >&2'
hook 15-fails 755 'echo 15-fails >> $OUT/order; exit 3'
hook 20-hang 755 'echo 20-hang >> $OUT/order
sleep 1000 &
echo $! > $OUT/sleeper.pid
wait'
hook 25-notexec 644 'echo 25-notexec >> $OUT/order'
hook 30-last 755 'echo 30-last >> $OUT/order'
hook .hidden 755 'echo .hidden >> $OUT/order'
mkdir "$hooks/05-dir"

# The reason: every shell metacharacter, a command substitution that would leave a trace
# if anything evaluated it, a control character and an invalid byte that must not reach
# the hook raw, and valid UTF-8 that must.
pwned=$TEST_TMPDIR/pwned
reason='a;b|c&d $(touch '"$pwned"') `touch '"$pwned"'` "q" '"'"'s'"'"' <x> *?[] \ $HOME'
reason_ctl="$reason"$'\x01end\xffé'
expect_reason="$reason?end?é"

start=$(date +%s%N)
timeout 60 "$RUN" --root "$root" --hook-timeout 1 --times --reason "$reason_ctl" \
  --reason-code 0x80000000 --timeout 120 reboot >"$TEST_TMPDIR/run.out" 2>"$TEST_TMPDIR/run.log" \
  || fail "shutdown-run failed: $(cat "$TEST_TMPDIR/run.out")"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
states=$(cut -d' ' -f2 "$TEST_TMPDIR/run.out" | tr '\n' ' ' | sed 's/ $//')
assert_eq "accepted running-hooks hook-failed:15-fails hook-timeout:20-hang calling-logind done:logind" \
  "$states" "reported states"
assert_eq "10-first 15-fails 20-hang 30-last" "$(tr '\n' ' ' < "$out/order" | sed 's/ $//')" \
  "hooks run in name order, skipped entries not run"
pass_step "hooks in name order; failed and hung hooks named; others continue"

t_ack=$(awk '$2 == "accepted" {print $1}' "$TEST_TMPDIR/run.out")
t_timeout=$(awk '$2 == "hook-timeout:20-hang" {print $1}' "$TEST_TMPDIR/run.out")
[ "$t_ack" -lt 500000 ] || fail "the acknowledgement took ${t_ack} us"
[ "$t_timeout" -ge 900000 ] || fail "the hung hook was killed too early (${t_timeout} us)"
[ "$t_timeout" -lt 5000000 ] || fail "the hung hook was not killed at its 1 s timeout (${t_timeout} us)"
[ "$elapsed_ms" -lt 10000 ] || fail "the run took ${elapsed_ms} ms"
sleeper=$(cat "$out/sleeper.pid")
wait_for 5 bash -c "! kill -0 $sleeper" || fail "the hung hook's child ($sleeper) survived its group kill"
assert_eq 1 "$(grep -c ' Reboot False$' "$calls")" "one logind Reboot after the hooks"
pass_step "accepted after ${t_ack} us; the hung hook and its child killed at ~1 s (${t_timeout} us)"

assert_eq "$hooks/10-first
reboot
1" "$(cat "$out/argv")" "argv is {path, action}"
assert_eq "PVIC_SHUTDOWN_ACTION=reboot
PVIC_SHUTDOWN_FORCE=0
PVIC_SHUTDOWN_HOOK_TIMEOUT=1
PVIC_SHUTDOWN_REASON=$expect_reason
PVIC_SHUTDOWN_REASON_CODE=0x80000000
PVIC_SHUTDOWN_TIMEOUT=120" "$(cat "$out/env")" "the hook's environment"
assert_eq "$expect_reason" "$(cat "$out/reason")" "reason reaches the hook verbatim (control char replaced)"
[ ! -e "$pwned" ] || fail "something executed the host's reason string"
grep -q 'Shutdown hook 10-first: hello from first' "$TEST_TMPDIR/run.log" || fail "hook stdout not logged"
grep -q 'Shutdown hook 10-first: complaint on stderr' "$TEST_TMPDIR/run.log" || fail "hook stderr not logged"
grep -q 'skipping .*/25-notexec: not executable' "$TEST_TMPDIR/run.log" || fail "non-executable hook: no log line"
grep -q 'skipping .*/05-dir: not a regular file' "$TEST_TMPDIR/run.log" || fail "directory: no log line"
pass_step "argv, environment, verbatim reason, output logged per hook, skipped entries logged"

# A long reason is cut at 255 bytes, never in the middle of a character.
root2=$TEST_TMPDIR/root2
mkdir -p "$root2/etc/pvic/shutdown.d"
printf '#!/bin/sh\nprintf %%s "$PVIC_SHUTDOWN_REASON" > %s/long\n' "$out" > "$root2/etc/pvic/shutdown.d/dump"
chmod 755 "$root2/etc/pvic/shutdown.d/dump"
long="$(printf 'x%.0s' $(seq 254))éééé"
timeout 30 "$RUN" --root "$root2" --force poweroff --reason "$long" >/dev/null 2>>"$TEST_TMPDIR/run.log" \
  || fail "long reason run failed"
assert_eq "$(printf 'x%.0s' $(seq 254))" "$(cat "$out/long")" "reason bounded at a character boundary"
pass_step "reason sanitised: control/invalid bytes replaced, UTF-8 kept, bounded"

# The host's timeout (2 s) is smaller than the deadline: the hung hook is killed at it
# even though its own timeout is longer, and 30-last is skipped.
rm -f "$out/order"
timeout 60 "$RUN" --root "$root" --hook-timeout 30 --timeout 2 --times poweroff \
  >"$TEST_TMPDIR/deadline.out" 2>>"$TEST_TMPDIR/run.log" || fail "deadline run failed"
assert_eq "10-first 15-fails 20-hang" "$(tr '\n' ' ' < "$out/order" | sed 's/ $//')" "hooks after the deadline skipped"
grep -q ' hook-timeout:20-hang$' "$TEST_TMPDIR/deadline.out" || fail "deadline kill not reported"
t=$(awk '$2 == "hook-timeout:20-hang" {print $1}' "$TEST_TMPDIR/deadline.out")
[ "$t" -ge 1900000 ] && [ "$t" -lt 6000000 ] || fail "host deadline not honoured (${t} us)"
grep -q 'PVIC_SHUTDOWN_HOOK_TIMEOUT=2' "$out/env" || fail "the hook was not told its shortened timeout"
pass_step "the host's timeout bounds the hooks"

# abort_on_hook_failure: the failed hook ends the request, nothing is called ...
rm -f "$out/order"
before=$(grep -c ' PowerOff ' "$calls" || true)
rc=0
timeout 60 "$RUN" --root "$root" --hook-timeout 1 --abort-on-hook-failure poweroff \
  >"$TEST_TMPDIR/abort.out" 2>>"$TEST_TMPDIR/run.log" || rc=$?
assert_eq 2 "$rc" "aborted exit status"
assert_eq "failed:hook-failed:15-fails" "$(tail -n1 "$TEST_TMPDIR/abort.out")" "abort outcome"
assert_eq "10-first 15-fails" "$(tr '\n' ' ' < "$out/order" | sed 's/ $//')" "no hook after the abort"
assert_eq "$before" "$(grep -c ' PowerOff ' "$calls" || true)" "no logind call after an abort"
# ... unless the host forces it.
timeout 60 "$RUN" --root "$root" --hook-timeout 1 --abort-on-hook-failure --force poweroff \
  >"$TEST_TMPDIR/abort-forced.out" 2>>"$TEST_TMPDIR/run.log" || fail "forced run failed"
assert_eq "done:logind" "$(tail -n1 "$TEST_TMPDIR/abort-forced.out")" "force continues past failed hooks"
pass_step "abort on hook failure only when configured and not forced"

no_sanitizer_reports
