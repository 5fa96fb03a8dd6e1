#!/usr/bin/env bash
# The hostname is followed, not polled: pvicd runs in its own UTS namespace; renaming the
# machine there changes the facts document (and Hyper-V's FullyQualifiedDomainName item).
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root for a UTS namespace"
mkdir -p "$TEST_TMPDIR/root/etc" "$TEST_TMPDIR/root/proc/sys"
echo 'ID=debian' > "$TEST_TMPDIR/root/etc/os-release"
# The root prefix points /proc/sys at the real one so the hostname watch sees the namespace's.
ln -s /proc/sys/kernel "$TEST_TMPDIR/root/proc/sys/kernel"
start_private_bus
start_xen_hostsim "$TEST_TMPDIR/xs" 4
unshare --uts sh -c 'hostname before-rename; exec "$0" "$@"' "$BIN/pvicd" --transport=xenstore \
  --xenstore-path="$TEST_TMPDIR/xs/guest-4.sock" --root "$TEST_TMPDIR/root" >"$TEST_TMPDIR/pvicd.log" 2>&1 &
PVICD=$!
track_pid $PVICD
host_is() { "$BIN/pvicctl" facts --json | jget hostname | grep -qx "$1"; }
wait_for 10 host_is before-rename || fail "facts do not show the namespace's hostname"
nsenter --uts --target "$PVICD" hostname after-rename
wait_for 1 host_is after-rename || fail "the new hostname did not reach the facts within 1 s"
grep -q "hostname changed to after-rename" "$TEST_TMPDIR/pvicd.log" || fail "the change was not logged"
pass_step "hostname change followed"
