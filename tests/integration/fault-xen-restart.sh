#!/usr/bin/env bash
# Fault: xenstored killed mid-transaction, 12 times (xen-publish.sh covers one clean
# kill/restart of an idle guest). Each round acknowledges a guest KVP item (pvicctl kvp
# set returned 0: pvicd is writing it, in a transaction, to data/pvic/kvp), then freezes
# pvic-hostsim's xenstored a few milliseconds later (SIGSTOP: requests, a transaction or
# its commit are in flight), SIGKILLs it and starts an empty one. pvicd logs the lost
# connection, reconnects and republishes: after every round the host has every item
# acknowledged so far, with its value, and the standard keys. Under valgrind when not
# built with sanitizers.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}
root=$TEST_TMPDIR/root
mkdir -p "$root/etc"
echo 'ID=debian' > "$root/etc/os-release"
start_private_bus
start_xen_hostsim "$TEST_TMPDIR/xs" 7
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-7.sock" --root "$root" \
  --log-level=debug >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
export XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock
h=/local/domain/7
wait_for 30 xenstore-read $h/data/updated || fail "pvicd did not publish"
wait_for 30 "$BIN/pvicctl" status || fail "pvicd not on the bus"

all_there() { # n: items 1..n with their values, and the standard keys
  xenstore-read $h/data/os_distro >/dev/null 2>&1 || return 1
  local got; got=$(xenstore-ls $h/data/pvic/kvp 2>/dev/null) || return 1
  for j in $(seq "$1"); do grep -q "^item$j = \"value $j\"\$" <<<"$got" || return 1; done
}
rounds=12
for i in $(seq $rounds); do
  "$BIN/pvicctl" kvp set "item$i" "value $i" || fail "round $i: pvicctl kvp set"
  sleep "0.00$((RANDOM % 8))"
  kill -STOP "$HOSTSIM_PID"
  kill -KILL "$HOSTSIM_PID"; wait "$HOSTSIM_PID" 2>/dev/null || true
  rm -f "$TEST_TMPDIR"/xs/*.sock
  start_xen_hostsim "$TEST_TMPDIR/xs" 7
  wait_for 5 all_there "$i" || fail "round $i: items 1..$i not all on the host after the restart: $(xenstore-ls $h/data/pvic/kvp 2>&1 | paste -sd' ')"
  kill -0 $pvicd || fail "round $i: pvicd died"
done
lost=$(grep -c "xenstore: .*\(lost\|closed\|reset\|disconnect\)" "$TEST_TMPDIR/pvicd.log" || true)
[ "$lost" -ge $rounds ] || fail "expected a log line per lost connection, found $lost: $(grep -m3 xenstore "$TEST_TMPDIR/pvicd.log")"
pass_step "$rounds kills mid-transaction: every acknowledged item republished, $lost log lines"

# A host write while xenstored is gone is simply not seen; the next one after it is.
"$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" kvp set 7 hostitem "after the storm" >/dev/null
wait_for 3 "$BIN/pvicctl" kvp get --pool 0 hostitem || fail "host item after the restarts"
pass_step "host -> guest works after the restarts"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc (99 = valgrind found a leak or error)"
