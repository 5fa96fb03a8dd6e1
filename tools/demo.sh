#!/usr/bin/env bash
# `make demo`: simulated hosts (pvic-hostsim: a xenstored and a Hyper-V host), a private
# system bus with python3-dbusmock's logind standing in for the guest's, one pvicd per
# transport, and the host operator's view through pvic-host. Nothing touches the real
# clock or powers anything off: pvicd disciplines a virtual clock and logind is a mock.
# Everything started here is stopped before it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
B=$PWD/$BUILD
PY=/usr/bin/python3
dir=$(mktemp -d /tmp/pvic-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
wait_file_line() { for _ in $(seq 200); do grep -qx "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
wait_cmd() { for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

step "A private system bus with a mock logind (the guest's power manager)"
sed "s|@SOCKET@|$dir/bus|" tests/dbus-test.conf > "$dir/dbus.conf"
dbus-daemon --config-file="$dir/dbus.conf" --nofork --nopidfile >"$dir/dbus.log" 2>&1 &
pids+=($!)
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/bus
wait_cmd test -S "$dir/bus" || { echo "dbus-daemon did not start"; exit 1; }
"$PY" -m dbusmock --system --template logind -l "$dir/logind.calls" >"$dir/logind.log" 2>&1 &
pids+=($!)
wait_cmd busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status org.freedesktop.login1 || { echo "mock logind did not start"; exit 1; }
echo "  bus at $dir/bus, logind mocked by python3-dbusmock"

step "A simulated Xen host: pvic-hostsim's xenstored, guest domid 7"
"$B/pvic-hostsim" xen --dir "$dir/xs" --domid 7 >"$dir/xs.out" 2>"$dir/xs.log" &
pids+=($!)
wait_file_line "$dir/xs.out" ready || { echo "pvic-hostsim xen did not start"; cat "$dir/xs.log"; exit 1; }
echo "  dom0 socket $dir/xs/host.sock, guest socket $dir/xs/guest-7.sock"

step "pvicd in the Xen guest (this machine's os-release; its clock is virtual, 2.5 s fast)"
mkdir -p "$dir/guest-xen/etc"
cp /etc/os-release "$dir/guest-xen/etc/os-release"
cp /proc/meminfo "$dir/guest-xen/meminfo" && mkdir -p "$dir/guest-xen/proc" && mv "$dir/guest-xen/meminfo" "$dir/guest-xen/proc/meminfo"
"$B/pvicd" --transport=xenstore --xenstore-path="$dir/xs/guest-7.sock" --root "$dir/guest-xen" \
  --virtual-clock=2500 >"$dir/pvicd-xen.log" 2>&1 &
pids+=($!)
XEN=$!
xen() { run "$B/pvic-host" --xen "$dir/xs/host.sock" "$@"; }
export XENSTORED_PATH=$dir/xs/host.sock
wait_cmd xenstore-read /local/domain/7/data/updated || { echo "pvicd did not publish"; cat "$dir/pvicd-xen.log"; exit 1; }
sed 's/^/  /' "$dir/pvicd-xen.log"

step "Host: the guests, and what XAPI would read (Debian's xenstore-read on the real keys)"
xen guests
run xenstore-read /local/domain/7/data/os_name /local/domain/7/attr/PVAddons/MajorVersion \
  /local/domain/7/attr/PVAddons/BuildVersion

step "Host: guest info (OS, kernel, memory, agent)"
xen info 7

step "KVP, host -> guest: the host sets an item, the guest reads it with pvicctl"
xen kvp set 7 provisioning/role web-frontend
wait_cmd "$B/pvicctl" kvp get --pool 0 provisioning/role
run "$B/pvicctl" kvp get --pool 0 provisioning/role

step "KVP, guest -> host: an application publishes an item, the host reads it"
run "$B/pvicctl" kvp set app/status "ready since $(date -u +%H:%M:%S)"
wait_cmd "$B/pvic-host" --xen "$dir/xs/host.sock" kvp get 7 app/status --pool 1
xen kvp list 7 --pool 1

step "Heartbeat: answered from pvicd's main loop, with its health"
xen heartbeat 7

step "Time: a four-timestamp exchange measures the guest's offset; pvicd steps its clock"
xen time 7
sleep 0.3
run "$B/pvicctl" time
echo "  and a second exchange:"
xen time 7

step "Resume/migration: the toolstack rebuilds the guest's keys; pvicd republishes"
run xenstore-rm /local/domain/7/data/os_name
run xenstore-write /local/domain/7/unique-domain-id "$(cat /proc/sys/kernel/random/uuid)"
wait_cmd xenstore-read /local/domain/7/data/os_name
run xenstore-read /local/domain/7/data/os_name

. tools/demo-hyperv.sh

step "Orchestrated shutdown of every guest, in parallel, with outcomes"
xen shutdown 7 --reason "maintenance window" --timeout 30
if [ -n "${HV:-}" ]; then
  hv shutdown web1 --reason "maintenance window"
  for _ in $(seq 100); do [ "$(grep -c PowerOff "$dir/logind.calls")" -ge 2 ] && break; sleep 0.05; done
fi
echo "  logind saw: $(grep -E 'PowerOff|Reboot' "$dir/logind.calls" | awk '{print $2, $3}' | paste -sd ',' -)"

step "Stopping pvicd (SIGTERM) and the simulated hosts"
kill -TERM "$XEN"; wait "$XEN" && echo "  pvicd (xen) exited cleanly"
if [ -n "${HV:-}" ]; then kill -TERM "$HV"; wait "$HV" && echo "  pvicd (hyper-v) exited cleanly"; fi
echo
echo "demo: done"
