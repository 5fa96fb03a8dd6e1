#!/usr/bin/env bash
# The guest's addresses as a Xen host sees them: pvicd runs inside the guest's network
# namespace (tests/net-fixture.sh: a vif under a bridge, 200 veths on a docker-like
# bridge), pvic-hostsim's xenstored outside. The host finds the bridge's addresses under
# attr/vif/0, no container address anywhere, and an added or removed address within 1 s.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
G=pvic-$$-xg
P=pvic-$$-xp
root=$TEST_TMPDIR/root
trap 'rc=$?; ip netns del "$G" 2>/dev/null; ip netns del "$P" 2>/dev/null; (exit $rc); _cleanup' EXIT
. "$TOP/tests/net-fixture.sh"
net_fixture_create
mkdir -p "$root/etc"
echo 'ID=debian' > "$root/etc/os-release"

start_xen_hostsim "$TEST_TMPDIR/xs" 8
ip netns exec "$G" "$BIN/pvicd" --transport=xenstore --xenstore-path="$TEST_TMPDIR/xs/guest-8.sock" \
  --root "$root" >"$TEST_TMPDIR/pvicd.log" 2>&1 &
track_pid $!
export XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock
h=/local/domain/8
wait_for 10 xenstore-read $h/attr/vif/0/ipv4/0 || fail "no address published for vif 0"
assert_eq "192.0.2.10" "$(xenstore-read $h/attr/vif/0/ipv4/0)" "vif 0 ipv4 slot 0 (the bridge above it)"
xenstore-ls $h/attr/vif/0/ipv6 | grep -q '"2001:db8::10"' || fail "bridge IPv6 not under vif 0"
v1=$(xenstore-ls $h/attr/vif/1/ipv4 | grep -o '"[0-9.]*"' | tr -d '"' | sort | paste -sd' ')
assert_eq "198.51.100.5 203.0.113.7" "$v1" "vif 1: its own address and its macvlan's"
if xenstore-ls $h/attr | grep -q '10\.99\.'; then fail "a container address reached the host"; fi
assert_eq "0 1" "$(xenstore-list $h/attr/vif | sort -n | paste -sd' ')" "only the two vifs"
pass_step "bridge address under vif 0, no container address among $(g -o link | wc -l) links"

t0=$(date +%s%N)
g addr add 192.0.2.11/24 dev xenbr0
has_new() { xenstore-ls $h/attr/vif/0/ipv4 | grep -q '"192.0.2.11"'; }
wait_for 1 has_new || fail "an added address did not reach the host within 1 s"
echo "added address on the host after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
g addr del 192.0.2.11/24 dev xenbr0
gone() { ! xenstore-ls $h/attr/vif/0/ipv4 | grep -q '"192.0.2.11"'; }
wait_for 1 gone || fail "a removed address did not leave the host within 1 s"
assert_eq "192.0.2.10" "$(xenstore-read $h/attr/vif/0/ipv4/0)" "slot 0 kept its address"
pass_step "address changes reach the host within 1 s"
