#!/usr/bin/env bash
# Endurance (issue 8, item 3): ENDURANCE_COUNT (default 1,000,000) host requests, half to
# a pvicd on Xen (KVP writes and removes in vm-data, unique-domain-id watch events,
# heartbeats, through pvic-hostsim's xenstored) and half to a pvicd on Hyper-V (KVP
# SET/GET/DELETE/ENUMERATE over the KVP ring and heartbeats, through pvic-hostsim
# hyperv's control socket), driven by tests/helpers/endurance-drive. Prints each pvicd's
# RSS and open fds after a warm-up (the first 10%) and at the end.
# Goals: RSS growth < 64 KB, no fd growth. Exit 1 when a goal is missed.
. "$(dirname "$0")/../tests/lib.sh"
COUNT=${ENDURANCE_COUNT:-1000000}
DRIVE=$BIN/tests/helpers/endurance-drive
[ -x "$DRIVE" ] || fail "$DRIVE missing (make tests-build)"
half=$((COUNT / 2))
warm=$((half / 10))
rc=0

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
report() { # name pid rss0 fd0 seconds
  local r1 f1; r1=$(rss "$2"); f1=$(fds "$2")
  printf '%-7s %8d requests in %5ss: RSS %5d -> %5d KB (%+d KB, goal < 64)   fds %d -> %d (goal: no growth)\n' \
    "$1" "$half" "$5" "$3" "$r1" $((r1 - $3)) "$4" "$f1"
  if [ $((r1 - $3)) -ge 64 ] || [ "$f1" -gt "$4" ]; then echo "  GOAL MISSED"; rc=1; fi
}

root=$TEST_TMPDIR/root
mkdir -p "$root/etc"
echo 'ID=debian' > "$root/etc/os-release"
start_private_bus

# Xen.
start_xen_hostsim "$TEST_TMPDIR/xs" 4
"$BIN/pvicd" --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-4.sock" --root "$root" \
  --virtual-clock >"$TEST_TMPDIR/pvicd-xen.log" 2>&1 &
xp=$!; track_pid $xp
XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock wait_for 10 xenstore-read /local/domain/4/data/updated \
  || fail "pvicd (xen) did not publish"
"$DRIVE" xen "$TEST_TMPDIR/xs/host.sock" 4 "$warm" >/dev/null || fail "xen warm-up failed"
r0=$(rss $xp); f0=$(fds $xp); t0=$(date +%s)
"$DRIVE" xen "$TEST_TMPDIR/xs/host.sock" 4 "$half" || { echo "xen drive failed"; rc=1; }
report xen $xp "$r0" "$f0" $(( $(date +%s) - t0 ))
kill -0 $xp || fail "pvicd (xen) died"

# Hyper-V (uio: all four ICs in pvicd).
SIM=$TEST_TMPDIR/hv
mkdir -p "$SIM"
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hv.out" 2>"$TEST_TMPDIR/hv.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hv.out" || fail "pvic-hostsim hyperv did not start"
"$BIN/pvicd" --transport=vmbus --vmbus-mode=uio --root "$SIM/g1/root" --virtual-clock \
  >"$TEST_TMPDIR/pvicd-hv.log" 2>&1 &
hp=$!; track_pid $hp
kvp_ready() { hv_ctl "$SIM/control.sock" '{"op":"guests"}' | jget guests.0.channels.kvp.negotiated | grep -qx true; }
wait_for 20 kvp_ready || fail "pvicd (hyperv) did not negotiate KVP"
"$DRIVE" hyperv "$SIM/control.sock" g1 "$warm" >/dev/null || fail "hyperv warm-up failed"
r0=$(rss $hp); f0=$(fds $hp); t0=$(date +%s)
"$DRIVE" hyperv "$SIM/control.sock" g1 "$half" || { echo "hyperv drive failed"; rc=1; }
report hyperv $hp "$r0" "$f0" $(( $(date +%s) - t0 ))
kill -0 $hp || fail "pvicd (hyperv) died"
exit $rc
