#!/usr/bin/env bash
# KVP through the /dev/vmbus/hv_kvp relay: host SET and ENUMERATE round trips per second
# at 100, 1,000 and 5,000 records in pool 1, pvicd beside Debian's hv_kvp_daemon, same
# harness (tests/helpers/kvp-harness plays the kernel), same run. Each peer starts with
# the same pre-filled pool file. The peer rereads the whole file per request and
# rewrites it per SET, so its rates fall with the record count; pvicd's should not.
. "$(dirname "$0")/../tests/lib.sh"
H=$BIN/tests/helpers/kvp-harness
SHIM=$BIN/tests/helpers/hv-kvp-shim.so
PEER=/usr/sbin/hv_kvp_daemon
[ -x "$H" ] && [ -f "$SHIM" ] || fail "missing helpers (make tests-build)"
SECS=${KVP_RELAY_BENCH_SECONDS:-1}
have_peer=1
[ -x "$PEER" ] || { have_peer=0; echo "note: $PEER not installed; peer column empty"; }

declare -A res
run() { # WHO OP N
  local who=$1 op=$2 n=$3 d=$TEST_TMPDIR/$1-$2-$3
  mkdir -p "$d/pools" "$d/root/dev/vmbus" "$d/root/var/lib/hyperv" "$d/root/etc"
  local out
  if [ "$who" = peer ]; then
    out=$(HV_SHIM_POOL_DIR=$d/pools HV_SHIM_KVP_SOCKET=$d/sock HV_SHIM_FQDN=bench.test \
      timeout 300 "$H" --socket "$d/sock" --preload "$SHIM" --prefill "$d/pools:1:$n" \
        --bench "$op" --pool 1 --records "$n" --seconds "$SECS" -- "$PEER" -n 2>>"$TEST_TMPDIR/peer.log")
  else
    out=$(timeout 300 "$H" --socket "$d/root/dev/vmbus/hv_kvp" --prefill "$d/root/var/lib/hyperv:1:$n" \
        --bench "$op" --pool 1 --records "$n" --seconds "$SECS" -- \
        "$BIN/pvicd" --transport=vmbus --vmbus-mode=relay --root "$d/root" --log-level=warning \
        2>>"$TEST_TMPDIR/pvicd.log")
  fi || fail "$who $op $n failed"
  res[$who,$op,$n]=$(sed -n 's/.*ops_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
  rm -rf "$d"
}

for n in 100 1000 5000; do
  for op in set enumerate; do
    run pvicd "$op" "$n"
    [ $have_peer = 1 ] && run peer "$op" "$n"
  done
done

printf '%-38s %10s %10s %10s\n' "kvp relay round trips/s (pool 1)" "100" "1,000" "5,000"
for op in set enumerate; do
  printf '%-38s %10s %10s %10s\n' "pvicd: $op" "${res[pvicd,$op,100]}" "${res[pvicd,$op,1000]}" "${res[pvicd,$op,5000]}"
  printf '%-38s %10s %10s %10s\n' "hv_kvp_daemon: $op" "${res[peer,$op,100]:-}" "${res[peer,$op,1000]:-}" "${res[peer,$op,5000]:-}"
done
