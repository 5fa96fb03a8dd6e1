#!/usr/bin/env bash
# The guest-local API: pvicd offers io.pvic.Agent1 on a (private, real) system bus;
# pvicctl reads status and the facts document. pvicd survives the bus going away and
# offers the API again when it returns.
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}

root=$TEST_TMPDIR/root
mkdir -p "$root/etc" "$root/proc"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' > "$root/etc/os-release"
printf 'MemTotal: 2048000 kB\nMemAvailable: 1024000 kB\n' > "$root/proc/meminfo"

start_private_bus
start_xen_hostsim "$TEST_TMPDIR/xs" 9
# shellcheck disable=SC2046
$(run_pvicd_cmd) --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-9.sock" --root "$root" \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd

wait_for 20 "$BIN/pvicctl" status || fail "pvicctl status never answered"
json=$("$BIN/pvicctl" facts --json)
get() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); 
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1" <<<"$json"; }
assert_eq "pvic.facts/1" "$(get schema)" "facts schema"
assert_eq "Debian GNU/Linux 12 (bookworm)" "$(get os.name)" "os.name"
assert_eq "debian" "$(get os.id)" "os.id"
assert_eq "12" "$(get os.major)" "os.major"
assert_eq "$(uname -r)" "$(get kernel.release)" "kernel.release"
assert_eq "2048000" "$(get memory.total_kib)" "memory.total_kib"
assert_eq "pvicd" "$(get agent.name)" "agent.name"
"$BIN/pvicctl" status | grep -q "Transport: xenstore" || fail "human status lacks the transport"
pass_step "pvicctl status and facts"

# The bus goes away and comes back: pvicd keeps serving the host and re-offers the API.
kill -TERM "${_pids[0]}"; wait "${_pids[0]}" 2>/dev/null || true
sleep 0.3
kill -0 $pvicd || fail "pvicd died with the bus"
start_private_bus
wait_for 10 "$BIN/pvicctl" status || fail "API not offered again after the bus returned"
pass_step "bus restart survived"

kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
[ $rc -eq 0 ] || fail "pvicd exited with $rc"
