#!/usr/bin/env bash
# pvicd against pvic-hostsim's xenstored: the startup keys appear with the right values,
# a changed unique-domain-id makes pvicd republish, a killed and restarted xenstored is
# reconnected to and republished within 2 s, and SIGTERM exits cleanly (under valgrind
# when not built with sanitizers: no leak).
. "$(dirname "$0")/../lib.sh"
VALGRIND=${VALGRIND-1}

sim=$TEST_TMPDIR/xs
root=$TEST_TMPDIR/root
mkdir -p "$root/etc" "$root/proc"
cat > "$root/etc/os-release" <<'OS'
PRETTY_NAME="Pvic Linux 7.3 (test)"
NAME="Pvic Linux"
ID=PvicLinux
VERSION_ID="7.3"
OS
printf 'MemTotal:        4026540 kB\nMemFree:          100000 kB\nMemAvailable:    3120332 kB\n' > "$root/proc/meminfo"
mkdir -p "$root/sys/devices/system/xen_memory/xen_memory0" # the balloon driver is there

start_xen_hostsim "$sim" 5
export XENSTORED_PATH=$sim/host.sock
h=/local/domain/5

# shellcheck disable=SC2046
XENSTORED_PATH=$sim/guest-5.sock $(run_pvicd_cmd) --root "$root" --log-level=debug \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd

wait_for 20 xenstore-read $h/data/updated || fail "pvicd did not publish data/updated"
assert_eq "Pvic Linux 7.3 (test)" "$(xenstore-read $h/data/os_name)" "data/os_name"
assert_eq "$(uname -r)" "$(xenstore-read $h/data/os_uname)" "data/os_uname"
assert_eq "pviclinux" "$(xenstore-read $h/data/os_distro)" "data/os_distro is the lowercase ID"
assert_eq "7" "$(xenstore-read $h/data/os_majorver)" "data/os_majorver"
assert_eq "3" "$(xenstore-read $h/data/os_minorver)" "data/os_minorver"
assert_eq "4026540" "$(xenstore-read $h/data/meminfo_total)" "data/meminfo_total"
assert_eq "3120332" "$(xenstore-read $h/data/meminfo_free)" "data/meminfo_free"
assert_eq "1" "$(xenstore-read $h/attr/PVAddons/Installed)" "Installed"
for k in Major Minor Micro Build; do
  v=$(xenstore-read $h/attr/PVAddons/${k}Version)
  [[ "$v" =~ ^[0-9]+$ ]] || fail "attr/PVAddons/${k}Version is not a plain integer: [$v]"
done
# The guest owns what it wrote (permissions as xenstored gives them).
perms=$(xenstore-ls -p $h/data | grep '^os_name' | grep -o '([a-z0-9, ]*)$')
[[ "$perms" == *"n5"* ]] || fail "data/os_name should be owned by domain 5, perms: [$perms]"
wait_for 5 xenstore-read $h/control/feature-balloon || fail "feature-balloon not advertised with a balloon driver"
assert_eq "1" "$(xenstore-read $h/control/feature-balloon)" "control/feature-balloon"
pass_step "startup keys published"

# Idle: nothing is rewritten when nothing changed.
before=$(xenstore-read $h/data/updated)
sleep 1.2
assert_eq "$before" "$(xenstore-read $h/data/updated)" "data/updated rewritten while idle"

# Resume/migration: the toolstack rebuilt the tree (guest keys gone) with a new id.
xenstore-rm $h/data/os_name
xenstore-write $h/unique-domain-id "$(cat /proc/sys/kernel/random/uuid)"
wait_for 5 xenstore-read $h/data/os_name || fail "no republish after unique-domain-id changed"
wait_for 5 xenstore-read $h/control/feature-poweroff || fail "feature-poweroff not re-advertised after resume"
assert_eq "1" "$(xenstore-read $h/control/feature-reboot)" "feature-reboot re-advertised"
grep -q "identity changed" "$TEST_TMPDIR/pvicd.log" || fail "the resume was not logged"
pass_step "republished after unique-domain-id changed"

# xenstored dies and comes back empty: reconnect and republish within 2 s.
kill -KILL "$HOSTSIM_PID"
wait "$HOSTSIM_PID" 2>/dev/null || true
rm -f "$sim"/*.sock
start_xen_hostsim "$sim" 5
t0=$(date +%s%N)
wait_for 2 xenstore-read $h/data/os_name || fail "not republished within 2 s of the restart"
t1=$(date +%s%N)
echo "republished $(( (t1 - t0) / 1000000 )) ms after xenstored came back"
kill -0 $pvicd || fail "pvicd died"
pass_step "reconnected and republished"

# SIGTERM: prompt, clean exit (valgrind's exit code 99 means a leak or memory error).
t0=$(date +%s%N)
kill -TERM $pvicd
rc=0; wait $pvicd || rc=$?
t1=$(date +%s%N)
[ $rc -eq 0 ] || fail "pvicd exited with $rc on SIGTERM"
ms=$(( (t1 - t0) / 1000000 ))
[ $ms -lt 5000 ] || fail "pvicd took $ms ms to exit on SIGTERM"
pass_step "SIGTERM: exit 0 in $ms ms"
