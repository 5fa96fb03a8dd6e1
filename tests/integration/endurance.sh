#!/usr/bin/env bash
# Endurance, short (issue 8, item 3; the million-request run is bench/endurance.sh):
# ENDURANCE_COUNT (default 20,000) host requests to pvicd under valgrind (when not built
# with sanitizers; with them, ASan's leak check does the same), half on Xen (KVP writes
# and removes in vm-data, unique-domain-id watch events, heartbeats) and half on Hyper-V
# (KVP SET/GET/DELETE/ENUMERATE and heartbeats over uio channels). Every request is
# answered, no fd is left open that was not open before, and SIGTERM exits 0 (valgrind's
# 99 = a leak or a memory error).
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}
COUNT=${ENDURANCE_COUNT:-20000}
DRIVE=$BIN/tests/helpers/endurance-drive
[ -x "$DRIVE" ] || fail "$DRIVE missing"
half=$((COUNT / 2))
fds() { ls "/proc/$1/fd" | wc -l; }
# Under valgrind the pid is valgrind's own process (it execs the tool in place): the fds
# counted include valgrind's, which stay constant.
stop() { # pid name
  kill -TERM "$1"
  local rc=0; wait "$1" || rc=$?
  [ $rc -eq 0 ] || fail "$2: pvicd exited with $rc after the run (99 = valgrind found a leak or error)"
}

root=$TEST_TMPDIR/root
mkdir -p "$root/etc"
echo 'ID=debian' > "$root/etc/os-release"
start_private_bus

start_xen_hostsim "$TEST_TMPDIR/xs" 4
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-4.sock" --root "$root" \
  --virtual-clock >"$TEST_TMPDIR/pvicd-xen.log" 2>&1 &
xp=$!; track_pid $xp
XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock wait_for 30 xenstore-read /local/domain/4/data/updated \
  || fail "pvicd (xen) did not publish"
wait_for 30 "$BIN/pvicctl" status || fail "pvicd (xen) not on the bus"
"$DRIVE" xen "$TEST_TMPDIR/xs/host.sock" 4 200 >/dev/null || fail "xen warm-up"
f0=$(fds $xp)
out=$("$DRIVE" xen "$TEST_TMPDIR/xs/host.sock" 4 "$half") || fail "xen requests not all answered: $out"
echo "$out"
f1=$(fds $xp)
[ "$f1" -le "$f0" ] || fail "xen: fds grew from $f0 to $f1"
# KVP state is right at the end: the last value written to k0..k63 is what pvicctl sees.
last=$(XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock xenstore-read /local/domain/4/vm-data/pvic/kvp/k5 2>/dev/null || echo ABSENT)
if [ "$last" = ABSENT ]; then
  "$BIN/pvicctl" kvp get --pool 0 k5 >/dev/null 2>&1 && fail "k5 deleted on the host but still in pool 0"
else
  got() { [ "$("$BIN/pvicctl" kvp get --pool 0 k5 2>/dev/null)" = "$last" ]; }
  wait_for 5 got || fail "pool 0 k5 is not the host's last value $last"
fi
stop $xp xen
pass_step "xen: $half requests answered, fds $f0 -> $f1, clean exit"

SIM=$TEST_TMPDIR/hv
mkdir -p "$SIM"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hv.out" 2>"$TEST_TMPDIR/hv.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hv.out" || fail "pvic-hostsim hyperv did not start"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=vmbus --vmbus-mode=uio --root "$SIM/g1/root" --virtual-clock \
  >"$TEST_TMPDIR/pvicd-hv.log" 2>&1 &
hp=$!; track_pid $hp
kvp_ready() { hv_ctl "$SIM/control.sock" '{"op":"guests"}' | jget guests.0.channels.kvp.negotiated | grep -qx true; }
wait_for 30 kvp_ready || fail "pvicd (hyperv) did not negotiate KVP"
"$DRIVE" hyperv "$SIM/control.sock" g1 200 >/dev/null || fail "hyperv warm-up"
f0=$(fds $hp)
out=$("$DRIVE" hyperv "$SIM/control.sock" g1 "$half") || fail "hyperv requests not all answered: $out"
echo "$out"
f1=$(fds $hp)
[ "$f1" -le "$f0" ] || fail "hyperv: fds grew from $f0 to $f1"
r=$(hv_ctl "$SIM/control.sock" '{"op":"guests"}')
assert_eq "0 1" "$(jget guests.0.channels.kvp.bad_replies <<<"$r") $(jget guests.0.channels.kvp.opens <<<"$r")" \
  "KVP channel: bad replies, opens (no reset during the run)"
stop $hp hyperv
pass_step "hyperv: $half requests answered, fds $f0 -> $f1, clean exit"
