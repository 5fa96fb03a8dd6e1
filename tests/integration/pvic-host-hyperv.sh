#!/usr/bin/env bash
# pvic-host --hyperv against pvic-hostsim's simulated Hyper-V host with pvicd (uio mode)
# in the guest: guests and info (from the intrinsic KVP items, as a Hyper-V host reads
# them) match golden JSON; KVP both ways; heartbeat; a time sample; an orchestrated
# reboot acknowledged by the guest and carried out through (mock) logind.
. "$(dirname "$0")/../lib.sh"
SIM=$TEST_TMPDIR/hv
root=$SIM/g1/root
start_private_bus
start_mock_logind
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not start"
mkdir -p "$root/etc"
printf 'NAME="Golden OS"\nPRETTY_NAME="Golden OS 3.14"\nID=golden\nVERSION_ID="3.14"\n' > "$root/etc/os-release"
"$BIN/pvicd" --transport=vmbus --vmbus-mode=uio --root "$root" --virtual-clock >"$TEST_TMPDIR/pvicd.log" 2>&1 &
track_pid $!
host() { "$BIN/pvic-host" --hyperv "$SIM/control.sock" "$@"; }
ready() { host --json info g1 | grep -q '"Golden OS"'; }
wait_for 20 ready || fail "the guest's intrinsic items never appeared"

golden() { # NAME CMD...
  local name=$1; shift
  "$@" | "$PY" "$TOP/tests/golden/normalize.py" > "$TEST_TMPDIR/$name.json" || fail "$name: command failed"
  if [ -n "${UPDATE_GOLDEN:-}" ]; then cp "$TEST_TMPDIR/$name.json" "$TOP/tests/golden/$name.json"; fi
  diff -u "$TOP/tests/golden/$name.json" "$TEST_TMPDIR/$name.json" || fail "$name differs from the golden file"
}
golden hyperv-guests host --json guests
golden hyperv-info host --json info g1
pass_step "guests and info match the golden files"

host kvp set g1 provisioning/role db >/dev/null || fail "kvp set"
assert_eq "db" "$("$BIN/pvicctl" kvp get --pool 0 provisioning/role)" "the host's item, read in the guest"
"$BIN/pvicctl" kvp set app/state ready
assert_eq "ready" "$(host kvp get g1 app/state --pool 1)" "the guest's item as the host enumerates it"
host kvp list g1 --pool 1 | grep -qx 'app/state=ready' || fail "human kvp list"
pass_step "kvp both ways"

out=$(host --json heartbeat g1) || fail "heartbeat: $out"
assert_eq "true" "$(jget alive <<<"$out")" "heartbeat alive"
assert_eq "healthy" "$(jget state <<<"$out")" "application state (heartbeat 3.1)"
host --json time g1 >/dev/null || fail "time sample not acknowledged"
out=$(host --json shutdown g1 --reboot --reason "kernel update") || fail "shutdown: $out"
assert_eq "accepted" "$(jget results.0.outcome <<<"$out")" "shutdown acknowledged"
calls() { [ "$(grep -c Reboot "$TEST_TMPDIR/logind.calls")" -eq 1 ]; }
wait_for 5 calls || fail "logind Reboot was not called exactly once"
pass_step "heartbeat, time, orchestrated reboot"
