# Sourced by tools/demo.sh: the same guest agent under a simulated Hyper-V host.
step "A simulated Hyper-V host: pvic-hostsim hyperv, guest \"web1\" (VMBus channels in files and sockets)"
"$B/pvic-hostsim" hyperv --dir "$dir/hv" --guest web1 >"$dir/hv.out" 2>"$dir/hv.log" &
pids+=($!)
wait_file_line "$dir/hv.out" ready || { echo "pvic-hostsim hyperv did not start"; cat "$dir/hv.log"; exit 1; }
echo "  heartbeat, shutdown, timesync and KVP channels bound to (simulated) uio_hv_generic"

step "pvicd in the Hyper-V guest: all four integration services in user space"
mkdir -p "$dir/hv/web1/root/etc"
cp /etc/os-release "$dir/hv/web1/root/etc/os-release"
"$B/pvicd" --transport=vmbus --vmbus-mode=uio --root "$dir/hv/web1/root" --virtual-clock \
  >"$dir/pvicd-hv.log" 2>&1 &
pids+=($!)
HV=$!
hv() { run "$B/pvic-host" --hyperv "$dir/hv/control.sock" "$@"; }
wait_cmd "$B/pvic-host" --hyperv "$dir/hv/control.sock" info web1 || { echo "no intrinsic items"; cat "$dir/pvicd-hv.log"; exit 1; }
grep -E "negotiated|started" "$dir/pvicd-hv.log" | sed 's/^/  /'

step "Host: the Hyper-V guest as Get-VMKvp would see it (intrinsic items)"
hv guests
hv info web1

step "KVP on Hyper-V: host -> guest and guest -> host, the same pools and pvicctl"
hv kvp set web1 provisioning/role cache
hv kvp list web1 --pool 0
hv heartbeat web1
hv time web1
