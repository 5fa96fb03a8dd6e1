#!/usr/bin/env bash
# On a machine with neither VMBus nor xenbus pvicd says so in one line and exits 0 (the
# same image boots on bare metal and on other hypervisors).
. "$(dirname "$0")/../lib.sh"
mkdir -p "$TEST_TMPDIR/root/sys/bus" "$TEST_TMPDIR/root/dev"
rc=0
env -u XENSTORED_PATH "$BIN/pvicd" --root "$TEST_TMPDIR/root" --hypervisor-signature=KVMKVMKVM \
  >"$TEST_TMPDIR/out" 2>&1 || rc=$?
assert_eq 0 "$rc" "exit status without a hypervisor interface"
grep -q "no Hyper-V (VMBus) or Xen (xenbus) interface found; CPUID says 'KVMKVMKVM'.*nothing to do" "$TEST_TMPDIR/out" \
  || fail "no clear line: $(cat "$TEST_TMPDIR/out")"
pass_step "exit 0 with a clear line"
