#!/usr/bin/env bash
# Shutdown request -> logind method call latency through the shutdown service (inhibitor
# query, empty hooks directory, PowerOff) against dbusmock's logind on a private bus.
# The mock's PowerOff records CLOCK_MONOTONIC on arrival; the helper records it before
# each request. Goal (issue 5): p50 <= 2 ms. Nothing can power off: logind is a mock.
. "$(dirname "$0")/../tests/lib.sh"
. "$TOP/tests/helpers/shutdown-bus.sh"
N=${N:-200}
RUN=$BIN/tests/helpers/shutdown-run
[ -x "$RUN" ] || fail "$RUN not built (make tests-build)"

start_private_bus "$TEST_TMPDIR/bus"
start_mock logind "$TEST_TMPDIR/logind.calls"
arrivals=$TEST_TMPDIR/arrivals
# Replace the template's PowerOff with one that timestamps each call as it arrives.
mock_call org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.DBus.Mock.AddMethod \
  string:org.freedesktop.login1.Manager string:PowerOff string:b string: \
  "string:import time; open('$arrivals', 'a').write('%d\\n' % time.monotonic_ns())" >/dev/null
mkdir -p "$TEST_TMPDIR/root"

"$RUN" --root "$TEST_TMPDIR/root" --repeat "$N" poweroff >"$TEST_TMPDIR/bench.out" 2>"$TEST_TMPDIR/bench.log" \
  || fail "bench run failed: $(tail -n3 "$TEST_TMPDIR/bench.log")"
n_req=$(grep -c '^req ' "$TEST_TMPDIR/bench.out")
n_arr=$(wc -l < "$arrivals")
[ "$n_req" -eq "$N" ] && [ "$n_arr" -eq "$N" ] || fail "requests $n_req, logind calls $n_arr, expected $N each"
# the whole path was measured: every request asked for inhibitors before powering off
assert_eq "$N" "$(grep -c ' ListInhibitors$' "$TEST_TMPDIR/logind.calls")" "inhibitor queries"

# pairs in order: one request, then its one call, then the next request
awk '/^req / {print $2}' "$TEST_TMPDIR/bench.out" | paste - "$arrivals" |
  awk '{printf "%.3f\n", ($2 - $1) / 1e6}' | sort -n > "$TEST_TMPDIR/lat-call"
awk '/^lat / {printf "%.3f\n", $2 / 1e3}' "$TEST_TMPDIR/bench.out" | sort -n > "$TEST_TMPDIR/lat-done"
pct() { awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}' "$1"; }
printf '%-52s %10s   %s\n' "shutdown: request -> logind PowerOff, p50 (n=$N)" "$(pct "$TEST_TMPDIR/lat-call" 50) ms" "goal <= 2 ms"
printf '%-52s %10s\n' "shutdown: request -> logind PowerOff, p99" "$(pct "$TEST_TMPDIR/lat-call" 99) ms"
printf '%-52s %10s   %s\n' "shutdown: request -> done:logind (reply seen), p50" "$(pct "$TEST_TMPDIR/lat-done" 50) ms" "incl. the mock's reply"
printf '%-52s %10s\n' "shutdown: request -> done:logind, p99" "$(pct "$TEST_TMPDIR/lat-done" 99) ms"
