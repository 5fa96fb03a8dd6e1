#!/usr/bin/env bash
# cloud-init's own Hyper-V KVP reporting handler (Debian package cloud-init) appending to
# pool 1 while our store enumerates it, then eight flock-appenders doing what cloud-init
# does plus our SET/DELETE on the same pool: every record arrives whole, nothing is lost.
source "$(dirname "$0")/../lib.sh"
W="$BIN/tests/helpers/kvp-writer"
[ -x "$W" ] || fail "missing $W (make tests-build)"
"$PY" -c 'import cloudinit.reporting.handlers' 2>/dev/null || skip "cloud-init is not installed"
DIR="$TEST_TMPDIR/root/var/lib/hyperv"
POOL1="$DIR/.kvp_pool_1"
EVENTS=${KVP_EVENTS:-1500}
SECS=${KVP_STRESS_SECS:-30}

# The store creates the directory and all pool files, as pvicd does at start.
"$W" watch "$DIR" 1 0 >/dev/null || fail "store did not open $DIR"
[ -f "$POOL1" ] || fail "pool 1 file not created"

cat >"$TEST_TMPDIR/publish.py" <<'PYEOF'
import json, sys, time
from cloudinit.reporting import events, handlers

path, n = sys.argv[1], int(sys.argv[2])
h = handlers.HyperVKvpReportingHandler(kvp_file_path=path)
for i in range(n):
    # Every 50th event is long: cloud-init splits it over several records.
    desc = "event %d" % i if i % 50 else "long " + "d" * 3000
    h.publish_event(events.ReportingEvent("start", "evt-%d" % i, desc))
    if i % 25 == 0:
        time.sleep(0.003)  # many append batches, not one
h.flush()
# Read back with cloud-init's own reader.
recs = list(h._iterate_kvps(0))
names = set()
for r in recs:
    if r["key"].startswith(h.event_key_prefix + "|"):
        names.add(json.loads(r["value"])["name"])
missing = [i for i in range(n) if "evt-%d" % i not in names]
if missing:
    sys.exit("events missing from the pool file: %s" % missing[:10])
print(len(recs))
PYEOF

STOP="$TEST_TMPDIR/stop"
"$W" watch "$DIR" 1 120 "$STOP" >"$TEST_TMPDIR/watch1.out" 2>"$TEST_TMPDIR/watch1.log" &
watch_pid=$!; track_pid "$watch_pid"
file_records=$("$PY" "$TEST_TMPDIR/publish.py" "$POOL1" "$EVENTS" 2>"$TEST_TMPDIR/publish.log") ||
  fail "cloud-init publisher: $(tail -n 5 "$TEST_TMPDIR/publish.log")"
touch "$STOP"
wait "$watch_pid" || fail "store saw a torn record while cloud-init appended: $(cat "$TEST_TMPDIR/watch1.log")"
read -r _ seen _ rounds _ <"$TEST_TMPDIR/watch1.out"
assert_eq "$file_records" "$seen" "records enumerated by the store after cloud-init's $EVENTS events"
[ "$rounds" -gt 1 ] || fail "the store enumerated only $rounds times: not concurrent"
pass_step "cloud-init published $EVENTS events ($file_records records); the store enumerated $rounds times concurrently, never a torn record, all present"

# Part 2: eight appenders + our SET/DELETE + our enumeration, on the same pool.
: >"$POOL1"
cat >"$TEST_TMPDIR/appender.py" <<'PYEOF'
import fcntl, json, random, struct, sys, time
path, j, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rnd = random.Random(j)
end = time.time() + secs
seq = 0
while time.time() < end:
    batch = []
    for _ in range(rnd.randint(1, 3)):
        val = json.dumps({"a": j, "n": seq, "pad": "p" * rnd.randint(0, 1900)}, separators=(",", ":"))
        batch.append(struct.pack("512s2048s", ("app%d|%d" % (j, seq)).encode(), val.encode()))
        seq += 1
    # What cloud-init's _append_kvp_item does: buffered "ab" writes under flock.
    with open(path, "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        for d in batch:
            f.write(d)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
    time.sleep(rnd.uniform(0.02, 0.06))
print(seq)
PYEOF

cat >"$TEST_TMPDIR/check.py" <<'PYEOF'
import fcntl, json, sys
path, counts_file, ours_file = sys.argv[1:4]
counts = [int(l) for l in open(counts_file)]
ours = dict(l.split()[1:3] for l in open(ours_file) if l.startswith("K "))
with open(path, "rb") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    data = f.read()
if len(data) % 2560:
    sys.exit("pool file size %d is not a multiple of 2560" % len(data))
seen = [set() for _ in counts]
pvic = {}
for off in range(0, len(data), 2560):
    k, v = data[off:off + 512], data[off + 512:off + 2560]
    if b"\0" not in k or b"\0" not in v:
        sys.exit("record %d is not NUL-terminated" % (off // 2560))
    k = k.split(b"\0")[0].decode()
    v = v.split(b"\0")[0].decode()
    if k.startswith("pvic-"):
        if k in pvic:
            sys.exit("duplicate %s" % k)
        pvic[k] = v
        continue
    j, n = (int(x) for x in k[3:].split("|"))
    o = json.loads(v)
    if o["a"] != j or o["n"] != n:
        sys.exit("record %s holds %s" % (k, v[:60]))
    if n in seen[j]:
        sys.exit("duplicate %s" % k)
    seen[j].add(n)
for j, c in enumerate(counts):
    if seen[j] != set(range(c)):
        sys.exit("appender %d: %d of %d records present" % (j, len(seen[j]), c))
if pvic != ours:
    sys.exit("our keys: file has %s, acknowledged state %s" % (sorted(pvic.items())[:5], sorted(ours.items())[:5]))
print(len(data) // 2560, sum(counts), len(pvic))
PYEOF

rm -f "$STOP"
"$W" watch "$DIR" 1 $((SECS + 60)) "$STOP" >"$TEST_TMPDIR/watch2.out" 2>"$TEST_TMPDIR/watch2.log" &
watch_pid=$!; track_pid "$watch_pid"
"$W" churn "$DIR" 1 "$SECS" >"$TEST_TMPDIR/ours.out" 2>"$TEST_TMPDIR/churn.log" &
churn_pid=$!; track_pid "$churn_pid"
app_pids=()
for j in 0 1 2 3 4 5 6 7; do
  "$PY" "$TEST_TMPDIR/appender.py" "$POOL1" "$j" "$SECS" >"$TEST_TMPDIR/app$j.out" 2>"$TEST_TMPDIR/app$j.log" &
  app_pids+=($!); track_pid "$!"
done
for p in "${app_pids[@]}"; do wait "$p" || fail "an appender failed: $(cat "$TEST_TMPDIR"/app?.log | tail -n 20)"; done
wait "$churn_pid" || fail "our SET/DELETE failed: $(tail -n 5 "$TEST_TMPDIR/churn.log")"
touch "$STOP"
wait "$watch_pid" || fail "store saw a torn record: $(cat "$TEST_TMPDIR/watch2.log")"
cat "$TEST_TMPDIR"/app?.out >"$TEST_TMPDIR/counts"
summary=$("$PY" "$TEST_TMPDIR/check.py" "$POOL1" "$TEST_TMPDIR/counts" "$TEST_TMPDIR/ours.out" 2>&1) ||
  fail "after the stress run: $summary"
read -r records appended ours <<<"$summary"
read -r _ seen _ rounds _ <"$TEST_TMPDIR/watch2.out"
assert_eq "$records" "$seen" "records the store enumerated at the end"
pass_step "${SECS}s: 8 appenders ($appended records) + our SET/DELETE ($(grep -o '[0-9]* ops' "$TEST_TMPDIR/churn.log"), $ours keys left) + $rounds enumerations: nothing lost, nothing torn"
