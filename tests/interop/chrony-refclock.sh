#!/usr/bin/env bash
# The real chronyd reads pvicd's SOCK refclock samples (timesync/chrony_sock.c) and
# sees the offset they imply; the post-resume `chronyc makestep` (timesync/chronyc.c)
# reaches it. chronyd runs with -x: it never touches this machine's clock.
. "$(dirname "$0")/../lib.sh"
command -v chronyd >/dev/null || skip "chronyd not installed"
[ "$(id -u)" = 0 ] || skip "chronyd -x needs root here"
FEED=$BIN/tests/helpers/chrony-feed
[ -x "$FEED" ] || fail "$FEED not built"

# Everything private to this test: config, sockets, pid file; no NTP or UDP command port.
chmod 700 "$TEST_TMPDIR"
conf=$TEST_TMPDIR/chrony.conf
refsock=$TEST_TMPDIR/pvic.sock
cmdsock=$TEST_TMPDIR/chronyd.sock
cat >"$conf" <<CONF
refclock SOCK $refsock refid PVIC poll 1 dpoll -2 filter 4
pidfile $TEST_TMPDIR/chronyd.pid
bindcmdaddress $cmdsock
cmdport 0
port 0
CONF
chronyd -x -d -u root -f "$conf" >"$TEST_TMPDIR/chronyd.log" 2>&1 &
track_pid $!
wait_for 10 test -S "$refsock" || fail "chronyd did not create $refsock"
wait_for 10 test -S "$cmdsock" || fail "chronyd did not create $cmdsock"
pass_step "chronyd -x started with refclock SOCK $refsock"

# +25 ms: the host is 25 ms ahead of us. chronyd reports the local clock's offset
# from the source (local - source), so the PVIC sample must read -0.025 s.
implied=-0.025
tolerance=0.001
"$FEED" "$refsock" 25 40 100 >"$TEST_TMPDIR/feed.log" || fail "feeding failed: $(cat "$TEST_TMPDIR/feed.log")"
grep -qx "sent 40 failed 0" "$TEST_TMPDIR/feed.log" || fail "not every sample was sent: $(cat "$TEST_TMPDIR/feed.log")"

pvic_line() { chronyc -h "$cmdsock" -c sources 2>/dev/null | awk -F, '$3 == "PVIC"'; }
has_sample() { [ -n "$(pvic_line | awk -F, '$6 != "0"')" ]; }
wait_for 10 has_sample || fail "chronyd shows no PVIC sample: $(chronyc -h "$cmdsock" -c sources 2>&1)"
line=$(pvic_line)
echo "chronyc -c sources: $line"
# Fields: mode,state,name,stratum,poll,reach,lastrx,adjusted offset,measured offset,error
measured=$(echo "$line" | cut -d, -f9)
awk -v m="$measured" -v w="$implied" -v t="$tolerance" 'BEGIN { d = m - w; if (d < 0) d = -d; exit !(d <= t) }' ||
  fail "PVIC offset $measured s, expected $implied s +- $tolerance s"
pass_step "chronyd sees PVIC at $measured s (implied $implied s, tolerance $tolerance s)"

# After a resume pvicd runs `chronyc makestep` with a fixed argv. chronyd -x answers
# "500 Failure" (it may not step), so chronyc exits 1, and chronyd logs the attempt:
# that proves the request got there. The clock is untouched.
"$FEED" "$refsock" 25 3 100 "$cmdsock" >"$TEST_TMPDIR/makestep.log" || true
grep -q "makestep status 1" "$TEST_TMPDIR/makestep.log" || fail "chronyc makestep: $(cat "$TEST_TMPDIR/makestep.log")"
wait_for 5 grep -q "Could not step system clock" "$TEST_TMPDIR/chronyd.log" ||
  fail "chronyd never got the makestep request"
pass_step "chronyc makestep reached chronyd (refused under -x, as it must be)"
