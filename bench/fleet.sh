#!/usr/bin/env bash
# A fleet on one simulated Xen host: FLEET_GUESTS (200) pvicd processes, one pvic-hostsim
# xenstored. Figures: time until every guest has published; xenstore requests and writes
# per guest per minute at steady state (goal: 0 writes when nothing changes) and the
# xenstored's CPU, beside a model of xe-guest-utilities' 60 s loop; an orchestrated
# shutdown of all guests at once, with outcomes. Guests run on virtual clocks and a mock
# logind: nothing is powered off.
. "$(dirname "$0")/../tests/lib.sh"
N=${FLEET_GUESTS:-200}
STEADY=${FLEET_STEADY_SECONDS:-30}
ulimit -n 8192 2>/dev/null || true

start_private_bus
start_mock_logind
ids=$(seq -s, 1 "$N")
start_xen_hostsim "$TEST_TMPDIR/xs" "$ids" --stats "$TEST_TMPDIR/stats"
mkdir -p "$TEST_TMPDIR/guest/etc"
echo 'ID=debian' > "$TEST_TMPDIR/guest/etc/os-release"
t0=$(date +%s%N)
for i in $(seq 1 "$N"); do
  mkdir -p "$TEST_TMPDIR/g$i/etc"
  cp "$TEST_TMPDIR/guest/etc/os-release" "$TEST_TMPDIR/g$i/etc/"
  "$BIN/pvicd" --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-$i.sock" --root "$TEST_TMPDIR/g$i" \
    --virtual-clock=0 --log-level=warning >"$TEST_TMPDIR/pvicd-$i.log" 2>&1 &
  track_pid $!
done
host() { "$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" "$@"; }
all_up() { [ "$(host --json guests | grep -c '"pvicd"')" -eq "$N" ]; }
wait_for 120 all_up || fail "not every guest published"
t1=$(date +%s%N)

snap() { kill -USR1 "$HOSTSIM_PID"; sleep 0.3; cp "$TEST_TMPDIR/stats" "$1"; }
sleep "${FLEET_SETTLE_SECONDS:-5}"
snap "$TEST_TMPDIR/s1"
sleep "$STEADY"
snap "$TEST_TMPDIR/s2"
read -r req wr cpu < <(awk -v n="$N" -v secs="$STEADY" '
  FNR == NR { if ($1 == "cpu_ms") c1 = $2; else { r1[$1] = $2; w1[$1] = $3 }; next }
  $1 == "cpu_ms" { c2 = $2; next }
  { dr += $2 - r1[$1]; dw += $3 - w1[$1] }
  END { printf "%.2f %.2f %d\n", dr / n * 60 / secs, dw / n * 60 / secs, c2 - c1 }' "$TEST_TMPDIR/s1" "$TEST_TMPDIR/s2")

t2=$(date +%s%N)
host --json shutdown $(seq 1 "$N") --timeout 60 > "$TEST_TMPDIR/shutdown.json" || true
t3=$(date +%s%N)
done_n=$(grep -c '"done:logind"' "$TEST_TMPDIR/shutdown.json" || true)
calls=$(grep -c PowerOff "$TEST_TMPDIR/logind.calls" || true)

printf '%-52s %12s   %s\n' "fleet: guests" "$N" ""
printf '%-52s %9s ms   %s\n' "fleet: start of all -> every guest published" "$(( (t1 - t0) / 1000000 ))" ""
printf '%-52s %12s   %s\n' "fleet: xenstore writes / guest / minute (steady)" "$wr" "xe-guest-utilities model: 1.5 (data/updated every 60 s, meminfo_free every 120 s)"
printf '%-52s %12s   %s\n' "fleet: xenstore requests / guest / minute (steady)" "$req" "xe-guest-utilities model: >= 2.5 (+ unique-domain-id read every cycle)"
printf '%-52s %9s ms   %s\n' "fleet: xenstored CPU over ${STEADY} s of steady state" "$cpu" ""
printf '%-52s %9s ms   %s\n' "fleet: orchestrated shutdown of all, wall time" "$(( (t3 - t2) / 1000000 ))" ""
printf '%-52s %12s   %s\n' "fleet: outcomes done:logind" "$done_n/$N" "logind PowerOff calls: $calls"
[ "$done_n" -eq "$N" ] || fail "not every guest shut down cleanly"
