#!/usr/bin/env bash
# `make demo`: a simulated Xen host (pvic-hostsim's xenstored), pvicd as the guest agent,
# and the host reading the guest's keys with Debian's real xenstore client. Everything it
# starts is stopped before it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
dir=$(mktemp -d /tmp/pvic-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting a simulated Xen host (pvic-hostsim xen, guest domid 7)"
"$BUILD/pvic-hostsim" xen --dir "$dir/xs" --domid 7 >"$dir/hostsim.out" 2>"$dir/hostsim.log" &
pids+=($!)
for _ in $(seq 100); do grep -qx ready "$dir/hostsim.out" 2>/dev/null && break; sleep 0.05; done
grep -qx ready "$dir/hostsim.out" || { echo "pvic-hostsim did not start"; cat "$dir/hostsim.log"; exit 1; }

say "Starting pvicd in the guest (its xenstore connection is the guest socket)"
XENSTORED_PATH=$dir/xs/guest-7.sock "$BUILD/pvicd" --transport=xenstore >"$dir/pvicd.log" 2>&1 &
pids+=($!)
export XENSTORED_PATH=$dir/xs/host.sock
for _ in $(seq 100); do xenstore-read /local/domain/7/data/updated >/dev/null 2>&1 && break; sleep 0.05; done
sed 's/^/  pvicd: /' "$dir/pvicd.log"

say "Host: the guest's OS facts and agent version (xenstore-read, as XAPI reads them)"
for k in data/os_name data/os_distro data/os_majorver data/os_minorver data/os_uname \
         data/meminfo_total attr/PVAddons/MajorVersion attr/PVAddons/MinorVersion \
         attr/PVAddons/BuildVersion data/updated; do
  printf '  %-28s %s\n' "$k" "$(xenstore-read /local/domain/7/$k)"
done

say "Host: the migration signal (new unique-domain-id, guest keys wiped) -> pvicd republishes"
xenstore-rm /local/domain/7/data/os_name
xenstore-write /local/domain/7/unique-domain-id "$(cat /proc/sys/kernel/random/uuid)"
for _ in $(seq 100); do xenstore-read /local/domain/7/data/os_name >/dev/null 2>&1 && break; sleep 0.05; done
printf '  data/os_name after resume: %s\n' "$(xenstore-read /local/domain/7/data/os_name)"

say "Stopping pvicd (SIGTERM) and the simulated host"
kill -TERM "${pids[1]}"; wait "${pids[1]}" && echo "  pvicd exited cleanly"
echo
echo "demo: done"
