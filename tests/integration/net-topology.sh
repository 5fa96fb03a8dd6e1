#!/usr/bin/env bash
# The network collector in a private netns (nothing touches the host's): a Xen vif (a
# veth whose peer sits in a second netns, marked vif 0 by a fake sysfs) under a bridge,
# a macvlan on it, and a docker-like bridge with 200 veth pairs. The snapshot must put
# the bridge's and the macvlan's addresses under vif 0, show no 10.99 address, keep
# slots stable, and report an added/removed address within 1 s.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null || skip "needs iproute2"

G=pvic-$$-guest
P=pvic-$$-peer
dump_pid=
cleanup_ns() {
  [ -z "$dump_pid" ] || { kill -TERM "$dump_pid" 2>/dev/null; wait "$dump_pid" 2>/dev/null; } || true
  ip netns del "$G" 2>/dev/null || true
  ip netns del "$P" 2>/dev/null || true
}
trap 'rc=$?; cleanup_ns; (exit $rc); _cleanup' EXIT

. "$TOP/tests/net-fixture.sh"
net_fixture_create
pass_step "netns with $(g -o link | wc -l) links"

out=$TEST_TMPDIR/net-dump.out
ip netns exec "$G" "$BIN/tests/helpers/net-dump" --root "$root" >"$out" 2>"$TEST_TMPDIR/net-dump.log" &
dump_pid=$!
track_pid "$dump_pid"
wait_for 10 test -s "$out" || fail "no initial snapshot"

# check LINE-SELECTOR PYTHON-ASSERTIONS: evaluates assertions on the last snapshot `s`
# (its "network" array `n`, vif 0 as `v`, vif 1 as `v1`).
check() {
  "$PY" - "$out" "$1" <<'PYEOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
s = json.loads(lines[-1]); n = s["network"]
vifs = [x for x in n if x["kind"] == "xen-vif" and x["devid"] == 0]
v = vifs[0] if vifs else None
v1 = ([x for x in n if x["kind"] == "xen-vif" and x["devid"] == 1] or [None])[0]
def slot(fam, a):
    return dict(zip(v[fam], v[fam + "_slot"])).get(a)
ok = eval(sys.argv[2])
if not ok:
    print("assertion failed:", sys.argv[2], "\nsnapshot:", json.dumps(n), file=sys.stderr)
sys.exit(0 if ok else 1)
PYEOF
}

check 'len(n) == 2 and [x["devid"] for x in n] == [0, 1] and v["name"] == "enX0" and v["mac"] == "00:16:3e:00:00:01"' \
  || fail "vif 0 and 1 should be the only NICs, in devid order"
check 'v["ipv4"] == ["192.0.2.10"] and "2001:db8::10" in v["ipv6"]' \
  || fail "bridge addresses not attributed to vif 0"
check 'sorted(v1["ipv4"]) == ["198.51.100.5", "203.0.113.7"]' || fail "macvlan address not attributed to vif 1"
check '"10.99." not in json.dumps(n)' || fail "a docker/veth address was reported"
check 'all(a.startswith("fe80:") or a == "2001:db8::10" for a in v["ipv6"])' || fail "unexpected IPv6"
pass_step "initial snapshot: bridge and macvlan under vif 0, no 10.99"

# Slot stability: note the bridge address's slot, add, remove, add again.
slot_of() { # ADDRESS: its ipv4 slot on vif 0 in the last snapshot
  "$PY" -c 'import json,sys; v=json.loads(open(sys.argv[1]).readlines()[-1])["network"][0]; print(dict(zip(v["ipv4"],v["ipv4_slot"]))[sys.argv[2]])' "$out" "$1"
}
s10=$(slot_of 192.0.2.10)
before=$(wc -l < "$out")
t0=$(date +%s%N)
g addr add 192.0.2.11/24 dev xenbr0
wait_for 3 grep -q '"192.0.2.11"' "$out" || fail "added address not reported"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "added address took ${ms} ms"
[ "$(wc -l < "$out")" -eq $((before + 1)) ] || fail "one change should give one snapshot"
check 'slot("ipv4", "192.0.2.10") == '"$s10" || fail "192.0.2.10 changed slot"
pass_step "added address reported in ${ms} ms"

s11=$(slot_of 192.0.2.11)
t0=$(date +%s%N)
g addr del 192.0.2.10/24 dev xenbr0
wait_for 3 check '"192.0.2.10" not in v["ipv4"]' || fail "removed address still reported"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "removed address took ${ms} ms"
check 'slot("ipv4", "192.0.2.11") == '"$s11" || fail "192.0.2.11 moved after a removal"
pass_step "removed address gone in ${ms} ms, others kept their slots"

g addr add 192.0.2.12/24 dev xenbr0
wait_for 3 grep -q '"192.0.2.12"' "$out" || fail "third address not reported"
check 'slot("ipv4", "192.0.2.12") == '"$s10" || fail "new address did not take the freed slot $s10"
pass_step "new address took the freed slot"

# Churn on the docker side changes nothing visible: no new snapshot.
before=$(wc -l < "$out")
g addr add 10.99.200.200/16 dev docker0
g link set veth7 down
sleep 0.6
[ "$(wc -l < "$out")" -eq "$before" ] || fail "docker-side changes produced a snapshot"
pass_step "docker-side churn is invisible"

# The vif leaves the bridge: the bridge no longer has a NIC below it.
g link set enX0 nomaster
wait_for 3 check '"192.0.2.11" not in v["ipv4"] and "198.51.100.5" in v1["ipv4"]' \
  || fail "bridge addresses still attributed after the vif left it"
pass_step "topology change re-attributes"

kill -TERM "$dump_pid"
wait "$dump_pid" || fail "net-dump exited with $?"
dump_pid=

# Lost events: a collector with a tiny receive queue is stopped while links and
# addresses churn, so the kernel drops notifications (ENOBUFS); once it runs again it
# must re-dump and end up with the right state.
out=$TEST_TMPDIR/net-dump-2.out
ip netns exec "$G" "$BIN/tests/helpers/net-dump" --root "$root" --rcvbuf 2048 --debounce-ms 50 \
  >"$out" 2>"$TEST_TMPDIR/net-dump-2.log" &
dump_pid=$!
track_pid "$dump_pid"
wait_for 10 test -s "$out" || fail "no initial snapshot (second collector)"
kill -STOP "$dump_pid"
{
  for i in $(seq 0 39); do
    echo "link add burst$i type veth peer name burstp$i"
    echo "addr add 10.97.0.$((i + 1))/24 dev burst$i"
  done
  echo "addr add 192.0.2.50/24 dev enX1"
  echo "addr del 203.0.113.7/24 dev enX1"
} > "$TEST_TMPDIR/burst"
g -batch "$TEST_TMPDIR/burst"
kill -CONT "$dump_pid"
wait_for 5 check '"192.0.2.50" in v1["ipv4"] and "203.0.113.7" not in v1["ipv4"]' \
  || fail "state after lost events is wrong"
check '"10.97." not in json.dumps(n) and "10.99." not in json.dumps(n)' || fail "veth addresses after re-dump"
grep -q "overflowed" "$TEST_TMPDIR/net-dump-2.log" || fail "the burst did not overflow the queue (test setup)"
kill -TERM "$dump_pid"
wait "$dump_pid" || fail "net-dump exited with $?"
dump_pid=
pass_step "lost events (ENOBUFS) recovered by a re-dump"
