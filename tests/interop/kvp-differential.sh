#!/usr/bin/env bash
# Differential test: the same kernel-side hv_kvp_msg sequence (tests/helpers/kvp-harness)
# against Debian's real hv_kvp_daemon (under tests/helpers/hv-kvp-shim.so: its device is
# our socket, its /var/lib/hyperv a test directory, its shell helpers refused) and
# against pvicd --vmbus-mode=relay. Replies and pool files must be identical except for
# the divergences listed in docs/kvp-differential.md; each one is asserted below (D1..)
# and only then normalised away, so a divergence that disappears fails too.
source "$(dirname "$0")/../lib.sh"

PEER=/usr/sbin/hv_kvp_daemon
HARNESS=$BIN/tests/helpers/kvp-harness
SHIM=$BIN/tests/helpers/hv-kvp-shim.so
[ -x "$PEER" ] || skip "$PEER not installed (Debian package hyperv-daemons)"
[ -x "$HARNESS" ] && [ -f "$SHIM" ] || fail "build the helpers first (make tests-build)"

FQDN=peer-guest.example.test
P=$TEST_TMPDIR/peer
R=$TEST_TMPDIR/root
mkdir -p "$P/pools" "$R/dev/vmbus" "$R/etc"
# hv_kvp_daemon reads the real /etc/os-release; pvicd reads it under --root.
[ -e /etc/os-release ] && cp /etc/os-release "$R/etc/os-release"
# The NICs as the peer sees them (getifaddrs): pvicd classifies links by sysfs.
mkdir -p "$R/sys/class" && ln -s /sys/class/net "$R/sys/class/net"

# A NIC with an address, for GET_IP_INFO (MAC upper case, as hosts send it).
nic=$(ip -o addr show 2>/dev/null | awk '$2 != "lo" {print $2; exit}' || true)
ipmac=()
[ -n "$nic" ] && ipmac=(--ip-mac "$(tr a-f A-F <"/sys/class/net/$nic/address")")

HV_SHIM_POOL_DIR=$P/pools HV_SHIM_KVP_SOCKET=$P/hv_kvp HV_SHIM_FQDN=$FQDN \
  timeout 120 "$HARNESS" --socket "$P/hv_kvp" --preload "$SHIM" --sequence "${ipmac[@]}" -- "$PEER" -n \
  >"$TEST_TMPDIR/peer.out" 2>"$TEST_TMPDIR/peer.log" || fail "harness against hv_kvp_daemon failed"
# shellcheck disable=SC2046
timeout 120 "$HARNESS" --socket "$R/dev/vmbus/hv_kvp" --sequence "${ipmac[@]}" -- \
  $(run_pvicd_cmd) --transport=vmbus --vmbus-mode=relay --root "$R" --log-level=debug \
  >"$TEST_TMPDIR/pvicd.out" 2>"$TEST_TMPDIR/pvicd.log" || fail "harness against pvicd failed"
pass_step "both peers answered the whole sequence"

peer=$TEST_TMPDIR/peer.out ours=$TEST_TMPDIR/pvicd.out
n=$(wc -l <"$peer")
[ "$n" -ge 90 ] || fail "peer answered only $n lines"
[ "$(wc -l <"$ours")" -eq "$n" ] || fail "line counts differ: peer $n, pvicd $(wc -l <"$ours")"

has() { grep -qxF -- "$2" "$1" || fail "$(basename "$1"): missing line [$2]"; }
field() { # FILE PREFIX: the value= of the first line starting with PREFIX
  grep -m1 -F -- "$2" "$1" | sed 's/.* value=//'
}

# D1 FQDN: the peer's comes from getaddrinfo (the shim's canned name); pvicd's from its
# own resolver. Both must be non-empty; the text itself is environment.
has "$peer" "ENUMERATE pool=2 index=0 status=0x00000000 key=FullyQualifiedDomainName value=$FQDN"
[ -n "$(field "$ours" "ENUMERATE pool=2 index=0 status=0x00000000 key=FullyQualifiedDomainName")" ] \
  || fail "pvicd FQDN is empty"
# D2 addresses: the peer lists every non-loopback address (getifaddrs); pvicd lists the
# NICs' addresses from rtnetlink and may leave some out, but never invents one.
for k in 2:NetworkAddressIPv4 3:NetworkAddressIPv6; do
  i=${k%%:*} key=${k#*:}
  pa=$(field "$peer" "ENUMERATE pool=2 index=$i status=0x00000000 key=$key") || fail "peer: no $key"
  oa=$(field "$ours" "ENUMERATE pool=2 index=$i status=0x00000000 key=$key") || fail "pvicd: no $key"
  for a in ${oa//;/ }; do
    [[ ";$pa;" == *";$a;"* ]] || fail "pvicd reports $key $a that the peer does not see ($pa)"
  done
done
# D11 GET_IP_INFO of a real NIC: the peer's gateway and DNS come from shell commands
# (`ip route | awk`, hv_get_dns_info, hv_get_dhcp_info), which the shim refuses, so
# its gateway/dns/dhcp are empty here; pvicd's gateway is not collected and its DNS
# comes from ROOT/etc/resolv.conf (absent here). Addresses, masks and families must
# match; the refused commands prove the peer tried to run them.
if [ -n "$nic" ]; then
  grep -q "^GET_IP_INFO pool=1 adapter=.* status=0x00000000 family=[123] dhcp=0 ip=[^ ]\+ subnet=[^ ]\+ gateway= dns=$" "$peer" \
    || fail "D11: peer GET_IP_INFO of $nic"
  grep -q 'refused popen("ip route show dev' "$TEST_TMPDIR/peer.log" || fail "D11: the peer's ip route popen was not refused"
  grep -q 'refused popen(".*hv_get_dns_info' "$TEST_TMPDIR/peer.log" || fail "D11: the peer's DNS script was not refused"
fi
# D3 GET: the kernel relay passes value_size 0, so the peer copies no value; pvicd puts
# the value where the kernel reads it (offset 532), so GET works through the relay.
for pool in 0 1 3; do
  has "$peer" "GET pool=$pool key=k1 status=0x00000000 value="
  has "$ours" "GET pool=$pool key=k1 status=0x00000000 value=v1-modified"
done
# D4 GET in pool 2: the peer reads its (empty) pool-2 file; pvicd answers the intrinsic item.
osname=$(field "$ours" "ENUMERATE pool=2 index=5 status=0x00000000 key=OSName")
has "$peer" "GET pool=2 key=OSName status=0x80070103"
has "$ours" "GET pool=2 key=OSName status=0x00000000 value=$osname"
# D5 SET in pool 2: the peer writes .kvp_pool_2 (which it never reads back); pvicd
# refuses host writes to generated items with HV_E_FAIL.
has "$peer" "SET pool=2 key=OSName value_len=12 status=0x00000000"
has "$ours" "SET pool=2 key=OSName value_len=12 status=0x80004005"
# D6 SET_IP_INFO: the peer looks for a NIC with that VMBus id (none: HV_GUID_NOTFOUND);
# pvicd does not inject addresses at all (HV_E_FAIL, as Debian's daemon does for a NIC
# it finds, lacking hv_set_ifconfig).
has "$peer" "SET_IP_INFO pool=1 adapter={f8615163-0000-0000-0000-000000000000} status=0x80041002"
has "$ours" "SET_IP_INFO pool=1 adapter={f8615163-0000-0000-0000-000000000000} status=0x80004005"
# D7 a host SET into pool 1 (guest -> host) of a value longer than the 1022 UTF-16 units
# the host can read back: the peer stores it (the host later reads it cut), pvicd refuses.
has "$peer" "SET pool=1 key=big value_len=1500 status=0x00000000"
has "$ours" "SET pool=1 key=big value_len=1500 status=0x80070103"

normalise() {
  sed -E \
    -e 's/^(ENUMERATE pool=2 index=0 status=0x00000000 key=FullyQualifiedDomainName) value=.*/\1 value=<D1>/' \
    -e 's/^(ENUMERATE pool=2 index=[23] status=0x00000000 key=NetworkAddressIPv[46]) value=.*/\1 value=<D2>/' \
    -e 's/^(GET pool=[013] key=k1 status=0x00000000) value=.*/\1 value=<D3>/' \
    -e 's/^GET pool=2 key=OSName status=.*/GET pool=2 key=OSName <D4>/' \
    -e 's/^SET pool=2 key=OSName value_len=12 status=.*/SET pool=2 key=OSName <D5>/' \
    -e 's/^(SET_IP_INFO .*) status=.*/\1 <D6>/' \
    -e 's/^SET pool=1 key=big value_len=1500 status=.*/SET pool=1 key=big <D7>/' \
    "$1"
}
diff -u <(normalise "$peer") <(normalise "$ours") >"$TEST_TMPDIR/replies.diff" \
  || { cat "$TEST_TMPDIR/replies.diff"; fail "replies differ beyond D1-D7"; }
pass_step "replies identical apart from D1-D7 ($n requests)"

# Pool files: the same records (key and value up to the NUL) in 0, 1 and 3.
dump() { "$PY" - "$1" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
for i in range(len(d) // 2560):
    r = d[i * 2560:(i + 1) * 2560]
    k, v = r[:512].split(b'\0')[0], r[512:].split(b'\0')[0]
    print(k.decode('utf-8', 'replace'), '=', v.decode('utf-8', 'replace'), sep='')
PY
}
ph=$P/pools mine=$R/var/lib/hyperv
# D10 file order: after a DELETE the peer shifts the later records down, pvicd moves the
# last record into the hole (docs/kvp.md "Ordering"); the host's enumeration order is
# the same for both (compared above), the files hold the same records in another order.
[ "$(dump "$ph/.kvp_pool_0" | head -2 | cut -d= -f1 | tr '\n' ' ')" = "k2 k3 " ] || fail "D10: peer file order"
[ "$(dump "$mine/.kvp_pool_0" | head -2 | cut -d= -f1 | tr '\n' ' ')" = "k3 k2 " ] || fail "D10: pvicd file order"
for pool in 0 3; do
  diff -u <(dump "$ph/.kvp_pool_$pool" | sort) <(dump "$mine/.kvp_pool_$pool" | sort) || fail "pool $pool files differ"
done
# D7 again: the refused record is only in the peer's pool 1.
diff -u <(dump "$ph/.kvp_pool_1" | grep -v '^big=' | sort) <(dump "$mine/.kvp_pool_1" | sort) || fail "pool 1 files differ"
dump "$ph/.kvp_pool_1" | grep -q '^big=b' || fail "D7: the peer did not store pool 1 'big'"
# D5 again: the peer's pool-2 file holds the host's write, ours stays empty.
dump "$ph/.kvp_pool_2" | grep -qx 'OSName=host-written' || fail "D5: peer pool 2 file"
[ ! -s "$mine/.kvp_pool_2" ] || fail "D5: pvicd wrote its pool-2 file"
pass_step "pool files hold the same records"

# D8 modes: the peer leaves every pool world-readable (0644), host data in 0 and 3
# included; pvicd keeps pools 0 and 3 at 0600.
for pool in 0 1 2 3 4; do
  assert_eq 644 "$(stat -c %a "$ph/.kvp_pool_$pool")" "peer pool $pool mode"
done
for pool in 0 3; do assert_eq 600 "$(stat -c %a "$mine/.kvp_pool_$pool")" "pvicd pool $pool mode"; done
for pool in 1 2 4; do assert_eq 644 "$(stat -c %a "$mine/.kvp_pool_$pool")" "pvicd pool $pool mode"; done
# D9 pvicd's crash journals beside the pools (docs/kvp.md); nothing else is extra.
extra=$(cd "$mine" && ls -A | grep -v -E '^\.kvp_pool_[0-4]$|^\.pvic_pool_[0-4]\.journal$' || true)
[ -z "$extra" ] || fail "unexpected files in pvicd's pool directory: $extra"
pass_step "file modes as documented (D8, D9)"

# The peer ran against the test directory only: its pool files are where the shim put
# them (an unset HV_SHIM_POOL_DIR makes the shim abort the peer instead).
[ -s "$ph/.kvp_pool_0" ] || fail "the peer's pool files are not in the test directory"
pass_step "peer confined to the test directory"
