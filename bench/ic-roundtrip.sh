#!/usr/bin/env bash
# Hyper-V integration-component round trip, host -> guest -> host through pvic-hostsim:
# 20,000 heartbeats, one after the other, answered by pvicd from user space over the
# uio ring; p50 and p99. (The kernel's hv_utils answers in the kernel; the point of
# answering from pvicd's loop is that a wedged user space shows as a lost heartbeat.)
. "$(dirname "$0")/../tests/lib.sh"
SIM=$TEST_TMPDIR/hv
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not start"
"$BIN/pvicd" --transport=vmbus --vmbus-mode=uio --root "$SIM/g1/root" --virtual-clock --log-level=warning \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
track_pid $!
ready() { hv_ctl "$SIM/control.sock" '{"op":"guests"}' | jget guests.0.channels.heartbeat.negotiated | grep -qx true; }
wait_for 20 ready || fail "heartbeat channel not negotiated"
r=$(hv_ctl "$SIM/control.sock" '{"op":"heartbeat","guest":0,"count":20000}')
printf '%-48s %8s us   %s\n' "vmbus: heartbeat round trip p50 (20,000)" "$(jget rtt_us_p50 <<<"$r")" "through the simulated host's ring and interrupt sockets"
printf '%-48s %8s us\n' "vmbus: heartbeat round trip p99" "$(jget rtt_us_p99 <<<"$r")"
