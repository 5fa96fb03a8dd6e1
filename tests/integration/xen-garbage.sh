#!/usr/bin/env bash
# A xenstored that sends garbage (a 5 MB length claim, an unknown message type, a
# truncated header, a reply to an unknown req_id, a malformed watch event) gets a logged
# error and a reconnect each time; pvicd keeps running and publishes once the server
# behaves.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}

sock=$TEST_TMPDIR/garbage.sock
log=$TEST_TMPDIR/server.log
"$PY" "$TOP/tests/integration/xs_garbage_server.py" "$sock" "$log" >"$TEST_TMPDIR/server.out" 2>&1 &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/server.out" || fail "garbage server did not start"

mkdir -p "$TEST_TMPDIR/root/etc"
echo 'ID=debian' > "$TEST_TMPDIR/root/etc/os-release"
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$sock" --root "$TEST_TMPDIR/root" \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd

wait_for 20 grep -q '^data/updated$' "$log" || fail "pvicd never published to the well-behaved server"
kill -0 $pvicd || fail "pvicd died"
for what in "exceeds 4096" "reply of type UNKNOWN" "closed the connection" "unknown req_id" "malformed WATCH_EVENT"; do
  grep -q "$what" "$TEST_TMPDIR/pvicd.log" || fail "no log line for: $what"
done
n=$(grep -c '^connection' "$log")
[ "$n" -ge 6 ] || fail "expected at least 6 connections, saw $n"
pass_step "$n connections, every protocol error logged, published at the end"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc"
