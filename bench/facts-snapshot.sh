#!/usr/bin/env bash
# Network facts with 4 and 1,000 interfaces, in a private netns (ifb links, each with an
# IPv4, a global IPv6 and a link-local address; a fake sysfs marks each as a Xen vif):
# pvic's collector from nothing to its first snapshot, and rendering it as facts JSON,
# beside qemu-guest-agent's guest-network-get-interfaces in the same netns.
# Goal (issue 4): <= 10 ms and <= 8 MB at 1,000; qemu-ga was measured elsewhere at
# 246 ms and 11.7 MB at 503.
. "$(dirname "$0")/../tests/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
helper=$BIN/tests/helpers/net-bench
[ -x "$helper" ] || fail "$helper missing: make tests-build first"

if ! command -v qemu-ga >/dev/null && [ ! -x /usr/sbin/qemu-ga ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-guest-agent \
    >"$TEST_TMPDIR/apt.log" 2>&1 || echo "note: qemu-guest-agent could not be installed; pvic figures only"
fi
QGA=$(command -v qemu-ga || echo /usr/sbin/qemu-ga)

ns=
qga_pid=
cleanup_bench() {
  [ -z "$qga_pid" ] || { kill -TERM "$qga_pid" 2>/dev/null; wait "$qga_pid" 2>/dev/null; } || true
  [ -z "$ns" ] || ip netns del "$ns" 2>/dev/null || true
}
trap 'rc=$?; cleanup_bench; (exit $rc); _cleanup' EXIT

row() { printf '%-46s %12s   %12s   %s\n' "$@"; }
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

row "" "pvic" "qemu-ga" ""
for n in 4 1000; do
  ns=pvic-bench-$$-$n
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  root=$TEST_TMPDIR/root-$n
  {
    echo "link set lo up"
    for i in $(seq 0 $((n - 1))); do
      echo "link add nic$i type ifb"
      echo "link set nic$i up"
      echo "addr add 10.$((i / 250)).$((i % 250)).1/24 dev nic$i"
      echo "addr add 2001:db8:$(printf %x "$i")::1/64 dev nic$i nodad"
      mkdir -p "$root/sys/class/net/nic$i/device"
      echo vif > "$root/sys/class/net/nic$i/device/devtype"
      echo "device/vif/$i" > "$root/sys/class/net/nic$i/device/nodename"
    done
  } > "$TEST_TMPDIR/batch-$n"
  ip -n "$ns" -batch "$TEST_TMPDIR/batch-$n"
  sleep 0.2   # let link-local addresses appear, so both sides see the same set

  p=$(ip netns exec "$ns" "$helper" --root "$root" --rounds 5) || fail "net-bench failed"
  [ "$(kv "$p" nics)" -eq "$n" ] || fail "pvic saw $(kv "$p" nics) NICs, expected $n"

  q="ifaces=- addrs=- first_ms=- best_ms=- rss_kb=- hwm_kb=-"
  if [ -x "$QGA" ]; then
    sock=$TEST_TMPDIR/qga-$n.sock
    mkdir -p "$TEST_TMPDIR/qga-state-$n"
    ip netns exec "$ns" "$QGA" -m unix-listen -p "$sock" -t "$TEST_TMPDIR/qga-state-$n" \
      >"$TEST_TMPDIR/qga-$n.log" 2>&1 &
    qga_pid=$!
    wait_for 10 test -S "$sock" || fail "qemu-ga did not create its socket"
    q=$("$PY" "$TOP/bench/facts-qga.py" "$sock" "$qga_pid" 5) || fail "qemu-ga query failed"
    kill -TERM "$qga_pid"; wait "$qga_pid" 2>/dev/null || true
    qga_pid=
  fi

  echo "-- $n interfaces (pvic: $(kv "$p" nics) NICs, $(kv "$p" addrs) addresses;" \
       "qemu-ga: $(kv "$q" ifaces) interfaces, $(kv "$q" addrs) addresses)"
  goal() { [ "$n" -eq 1000 ] && echo "$1" || true; }
  row "start -> first snapshot / first query" "$(kv "$p" cold_ms) ms" "$(kv "$q" first_ms) ms" ""
  row "restart -> first snapshot (best of 4)" "$(kv "$p" warm_ms) ms" "-" ""
  row "address change -> new snapshot (best)" "$(kv "$p" change_ms) ms" "$(kv "$q" best_ms) ms" \
      "$(goal "goal <= 10 ms (pvic: incl. 1 ms debounce; qemu-ga re-reads all per query)")"
  row "snapshot -> facts JSON (best)" "$(kv "$p" json_ms) ms" "-" ""
  row "VmRSS after first snapshot / query" "$(kv "$p" rss_kb) kB" "$(kv "$q" rss_kb) kB" "$(goal "goal <= 8192 kB")"
  row "VmHWM after all rounds" "$(kv "$p" hwm_kb) kB" "$(kv "$q" hwm_kb) kB" ""
  ip netns del "$ns"
  ns=
done
