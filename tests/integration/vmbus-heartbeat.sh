#!/usr/bin/env bash
# A heartbeat that means something: the simulated Hyper-V host sends periodic heartbeats
# (one outstanding at a time, as a host waits for each); pvicd answers them from its main
# loop. SIGSTOP pvicd and the host records missed heartbeats; SIGCONT and answers resume.
# (The kernel's hv_utils would keep answering for a dead user space.)
. "$(dirname "$0")/../lib.sh"
SIM=$TEST_TMPDIR/hv
ctl() { hv_ctl "$SIM/control.sock" "$@"; }
hb() { ctl '{"op":"guests"}' | jget "guests.0.channels.heartbeat.$1"; }

mkdir -p "$SIM"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 200 --time-interval 0 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not start"
"$BIN/pvicd" --transport=vmbus --vmbus-mode=uio --root "$SIM/g1/root" --virtual-clock \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
PVICD=$!
track_pid $PVICD
answered() { [ "$(hb periodic_sent)" -ge "$1" ]; }
wait_for 20 answered 5 || fail "periodic heartbeats are not being answered"
assert_eq 0 "$(hb missed)" "missed heartbeats while pvicd runs"
pass_step "periodic heartbeats answered"

kill -STOP $PVICD
sleep 1.5
missed=$(hb missed)
[ "$missed" -ge 4 ] || fail "only $missed heartbeats recorded as missed in 1.5 s with pvicd stopped"
pass_step "pvicd stopped: $missed heartbeats missed"

kill -CONT $PVICD
sent=$(hb periodic_sent)
wait_for 5 answered $((sent + 3)) || fail "heartbeats did not resume after SIGCONT"
m2=$(hb missed)
sleep 1
m3=$(hb missed)
# Five ticks pass; on a loaded machine one answer may come late, a stopped loop misses all.
[ $((m3 - m2)) -le 1 ] || fail "still missing heartbeats after SIGCONT ($m2 -> $m3)"
pass_step "answers resumed after SIGCONT"
