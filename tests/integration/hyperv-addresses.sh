#!/usr/bin/env bash
# The guest's addresses as a Hyper-V host sees them: pvicd (uio mode) inside the guest's
# network namespace (tests/net-fixture.sh with netvsc NICs: a bridge above enX0, 200
# veths on a docker-like bridge), pvic-hostsim hyperv outside. GET_IP_INFO for enX0's MAC
# returns the bridge's addresses; the intrinsic NetworkAddressIPv4 item has no container
# address; an added address reaches the host within 1 s.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
G=pvic-$$-hg
P=pvic-$$-hp
SIM=$TEST_TMPDIR/hv
root=$SIM/g1/root
trap 'rc=$?; ip netns del "$G" 2>/dev/null; ip netns del "$P" 2>/dev/null; (exit $rc); _cleanup' EXIT
"$BIN/pvic-hostsim" hyperv --dir "$SIM" --guest g1 --heartbeat-interval 0 --time-interval 0 \
  >"$TEST_TMPDIR/hostsim.out" 2>"$TEST_TMPDIR/hostsim.log" &
track_pid $!
wait_for 10 grep -qx ready "$TEST_TMPDIR/hostsim.out" || fail "pvic-hostsim did not start"
NET_FIXTURE_KIND=hyperv
. "$TOP/tests/net-fixture.sh"
net_fixture_create
ip netns exec "$G" "$BIN/pvicd" --transport=vmbus --vmbus-mode=uio --root "$root" --virtual-clock \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
track_pid $!
ctl() { hv_ctl "$SIM/control.sock" "$@"; }
ipinfo() { ctl '{"op":"kvp","guest":0,"kvp_op":"get_ip_info","adapter":"00:16:3E:00:00:01"}'; }
ipv4_item() { "$BIN/pvic-host" --hyperv "$SIM/control.sock" kvp get g1 NetworkAddressIPv4 --pool 2; }
wait_for 20 ipv4_item || fail "no NetworkAddressIPv4 item"
ipinfo_ready() { ipinfo | grep -q 192.0.2.10; }
wait_for 5 ipinfo_ready || fail "GET_IP_INFO never showed the bridge address: $(ipinfo)"
r=$(ipinfo)
ip4=$(jget ip <<<"$r")
[[ "$ip4" == *192.0.2.10* && "$ip4" == *2001:db8::10* ]] || fail "GET_IP_INFO for enX0's MAC: [$ip4]"
[[ "$ip4" != *10.99.* ]] || fail "a container address in GET_IP_INFO"
items=$(ipv4_item)
[[ "$items" == *192.0.2.10* && "$items" == *203.0.113.7* ]] || fail "NetworkAddressIPv4 lacks the NICs' addresses: [$items]"
[[ "$items" != *10.99.* ]] || fail "a container address in NetworkAddressIPv4: [$items]"
pass_step "GET_IP_INFO and NetworkAddressIPv4 from the virtual NICs only"

g addr add 192.0.2.11/24 dev xenbr0
has_new() { ipv4_item | grep -q 192.0.2.11; }
wait_for 1 has_new || fail "an added address did not reach the host within 1 s"
g addr del 192.0.2.11/24 dev xenbr0
gone() { ! ipv4_item | grep -q 192.0.2.11; }
wait_for 1 gone || fail "a removed address did not leave the host within 1 s"
pass_step "address changes reach the host within 1 s"
