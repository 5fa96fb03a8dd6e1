#!/usr/bin/env bash
# pvicd's xenstore client against a xenstored that (1) fails commits with EAGAIN, as a
# busy xenstored does, and (2) sends a watch's initial event before the WATCH reply, as
# the kernel device may: the keys still appear, and a resume is still noticed.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$TEST_TMPDIR/root/etc"
echo 'ID=debian' > "$TEST_TMPDIR/root/etc/os-release"

run_guest() { # extra hostsim options...
  start_xen_hostsim "$TEST_TMPDIR/xs" 2 "$@"
  "$BIN/pvicd" --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-2.sock" --root "$TEST_TMPDIR/root" \
    --log-level=debug >"$TEST_TMPDIR/pvicd.log" 2>&1 &
  PVICD=$!
  track_pid $PVICD
}
stop_guest() {
  kill -TERM $PVICD; wait $PVICD || fail "pvicd exited with $?"
  kill -TERM "$HOSTSIM_PID"; wait "$HOSTSIM_PID" 2>/dev/null || true
}
export XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock

run_guest --force-eagain 3
wait_for 10 xenstore-read /local/domain/2/data/updated || fail "no publish when commits fail with EAGAIN"
assert_eq "debian" "$(xenstore-read /local/domain/2/data/os_distro)" "os_distro after EAGAIN retries"
n=$(grep -c "transaction conflicted (EAGAIN)" "$TEST_TMPDIR/pvicd.log" || true)
[ "$n" -ge 3 ] || fail "expected 3 EAGAIN retries in the log, saw $n"
stop_guest
pass_step "three EAGAIN commits retried"

run_guest --event-before-ok
wait_for 10 xenstore-read /local/domain/2/data/updated || fail "no publish with events before OK"
xenstore-rm /local/domain/2/data/os_distro
xenstore-write /local/domain/2/unique-domain-id "$(cat /proc/sys/kernel/random/uuid)"
wait_for 5 xenstore-read /local/domain/2/data/os_distro || fail "resume not noticed with events before OK"
stop_guest
pass_step "initial watch events before the OK"

# libxl's layout: control/ is read-only for the guest; the balloon advertisement is
# refused (EACCES), logged once, and everything else still published.
mkdir -p "$TEST_TMPDIR/root/sys/devices/system/xen_memory/xen_memory0"
run_guest --libxl
wait_for 10 xenstore-read /local/domain/2/data/updated || fail "no publish under libxl"
wait_for 5 grep -q "feature-balloon is not writable here" "$TEST_TMPDIR/pvicd.log" || fail "EACCES not reported"
if xenstore-read /local/domain/2/control/feature-balloon >/dev/null 2>&1; then fail "feature-balloon written under libxl"; fi
stop_guest
pass_step "libxl: balloon advertisement refused cleanly"

# The kernel owns control/shutdown and answers at once; pvicd only says what it saw.
run_guest
wait_for 10 xenstore-read /local/domain/2/data/updated || fail "no publish"
xenstore-write /local/domain/2/control/shutdown poweroff
xenstore-write /local/domain/2/control/shutdown ""   # what the guest kernel does
wait_for 5 grep -q "toolstack.*control/shutdown\|control/shutdown changed" "$TEST_TMPDIR/pvicd.log" || fail "a toolstack shutdown request was not logged"
assert_eq "" "$(xenstore-read /local/domain/2/control/shutdown)" "pvicd never writes control/shutdown"
sleep 0.5  # both events handled
assert_eq 1 "$(grep -c "toolstack requested\|control/shutdown changed" "$TEST_TMPDIR/pvicd.log")" \
  "one log line for one request (two watch events)"
stop_guest
pass_step "control/shutdown observed, never acknowledged by pvicd"
