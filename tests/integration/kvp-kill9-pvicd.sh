#!/usr/bin/env bash
# kill -9 of pvicd itself during 10,000 host SETs through the /dev/vmbus/hv_kvp relay:
# after the last restart every acknowledged SET is there with its value, exactly once,
# and the pool file parses cleanly (a whole number of 2,560-byte records).
#
# tests/helpers/kvp-harness --kill9 plays the kernel: it sends the SETs to pool 0 (key
# "kill9-SEQ", a value that encodes SEQ), kills pvicd with SIGKILL every 50-300 ms -
# at a random point of a SET's round trip, so before, during or after pvicd's write, or
# now and then while pvicd is still starting - restarts it, and retries every SET that
# got no answer. Every other start of pvicd has kvp-slowwrite.so preloaded, which
# pauses pool-file writes at page boundaries: kills then also cut appends in two. The
# harness logs "A SEQ" for each SET pvicd acknowledged with success (what the host
# would be told), and after the last restart checks through host GET and ENUMERATE.
# This script then checks the pool file with its own parser of the hv_kvp_daemon
# record format, against that log.
#
# It can fail: a pvicd that answered before its write returned would lose the SETs
# whose kill landed between the two (docs/kvp.md, "Tests", has the mutation runs).
. "$(dirname "$0")/../lib.sh"
H=$BIN/tests/helpers/kvp-harness
SHIM=$BIN/tests/helpers/kvp-slowwrite.so
[ -x "$H" ] && [ -f "$SHIM" ] || fail "missing $H or $SHIM (make tests-build)"
N=${KVP_KILL9_SETS:-10000}
SECS=${KVP_KILL9_SECONDS:-25}
R=$TEST_TMPDIR/root
POOL=$R/var/lib/hyperv/.kvp_pool_0
mkdir -p "$R/dev/vmbus" "$R/var/lib/hyperv" "$R/etc"

# ASan wants to be first in the link order; the shim is not instrumented.
harness_rc=0
# shellcheck disable=SC2046
KVP_SLOW_US=400 ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
  timeout --kill-after=10 $((SECS + 60)) "$H" --socket "$R/dev/vmbus/hv_kvp" --kill9 "$N" --seconds "$SECS" \
  --kill-ms 50:300 --pool-file "$POOL" --preload "$SHIM" ${KVP_KILL9_SEED:+--seed "$KVP_KILL9_SEED"} -- \
  $(run_pvicd_cmd) --transport=vmbus --vmbus-mode=relay --root "$R" --virtual-clock --log-level=info \
  >"$TEST_TMPDIR/kill9.out" 2>"$TEST_TMPDIR/pvicd.log" || harness_rc=$?
harness_err=$(grep kvp-harness "$TEST_TMPDIR/pvicd.log" | tail -n 3 || true)

# The pool file, read on its own: 512-byte key + 2048-byte value records, each field
# NUL-terminated (spec/hyperv-ic.md §6.2), checked against the acknowledgements.
# Run even when the harness failed: two independent views of what went wrong.
file_rc=0
"$PY" - "$POOL" "$N" "$TEST_TMPDIR/kill9.out" <<'PYEOF' || file_rc=$?
import re, sys
path, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
KEY, VALUE = 512, 2048
REC = KEY + VALUE

def value(seq):  # kvp-harness.c k9_value
    return "value-%05d-" % seq + chr(ord("a") + seq % 26) * ((seq % 97) * 7)

data = open(path, "rb").read()
bad = []
if len(data) % REC:
    bad.append("file is %d bytes: %d whole records and %d bytes more" % (len(data), len(data) // REC, len(data) % REC))
found = {}
for i in range(len(data) // REC):
    rec = data[i * REC:(i + 1) * REC]
    k, v = rec[:KEY], rec[KEY:]
    if b"\0" not in k or b"\0" not in v:
        bad.append("record %d: a field without its NUL" % i)
        continue
    k, v = k.split(b"\0", 1)[0].decode(), v.split(b"\0", 1)[0].decode()
    m = re.fullmatch(r"kill9-(\d{5})", k)
    if not m:
        bad.append("record %d: unexpected key %r" % (i, k[:40]))
        continue
    seq = int(m.group(1))
    if seq in found:
        bad.append("record %d: %s also in record %d" % (i, k, found[seq][0]))
    if v != value(seq):
        bad.append("record %d: %s has value %r" % (i, k, v[:40]))
    found[seq] = (i, v)
acked = set()
for line in open(log):
    f = line.split()
    if f and f[0] == "A":
        acked.add(int(f[1]))
missing = sorted(acked - set(found))
if missing:
    bad.append("%d acknowledged SETs missing, first %s" % (len(missing), missing[:10]))
if len(acked) != n:
    bad.append("%d SETs acknowledged, want %d" % (len(acked), n))
for b in bad[:20]:
    print("  " + b, file=sys.stderr)
if not bad:
    print("pool file: %d records, %d acknowledged SETs, all present with their values" % (len(found), len(acked)))
sys.exit(1 if bad else 0)
PYEOF
[ $harness_rc -eq 0 ] || fail "kvp-harness --kill9 failed (exit $harness_rc, $(head -n 1 "$TEST_TMPDIR/kill9.out")): $harness_err"
summary=$(grep '^kill9 ' "$TEST_TMPDIR/kill9.out") || fail "no summary from the harness"
pass_step "host view after the last restart: $(grep '^verify ' "$TEST_TMPDIR/kill9.out")"
[ $file_rc -eq 0 ] || fail "pool file check failed"
pass_step "pool file parses cleanly: every acknowledged SET is in it once, with its value"

kills=$(sed -n 's/.* kills=\([0-9]*\).*/\1/p' <<<"$summary")
in_set=$(sed -n 's/.* in_set=\([0-9]*\).*/\1/p' <<<"$summary")
applied=$(sed -n 's/.* lost_applied=\([0-9]*\).*/\1/p' <<<"$summary")
absent=$(sed -n 's/.* lost_absent=\([0-9]*\).*/\1/p' <<<"$summary")
torn=$(sed -n 's/.* torn=\([0-9]*\).*/\1/p' <<<"$summary")
# Enough kills, and some on each side of the write: otherwise the run proved little.
[ "$kills" -ge "${KVP_KILL9_MIN_KILLS:-40}" ] || fail "only $kills kills: $summary"
[ "$applied" -ge 1 ] && [ "$absent" -ge 1 ] ||
  fail "kills did not land on both sides of a write (applied $applied, not applied $absent): $summary"
[ "$torn" -ge 1 ] || fail "no kill cut an append short: $summary"
pass_step "$N host SETs, $kills kill -9 of pvicd ($in_set during a SET), unanswered SETs found applied $applied / not applied $absent, $torn appends cut short: $summary"
