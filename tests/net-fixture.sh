# A guest's network in its own namespaces (sourced by tests; nothing touches the host's):
# Xen vif 0 (enX0, a veth whose peer sits in $P) under bridge xenbr0 with 192.0.2.10/24
# and 2001:db8::10/64; vif 1 (enX1) with 203.0.113.7/24 and a macvlan mv0 holding
# 198.51.100.5/24; a decoy veth named eth1 and a docker-like bridge of 200 veth pairs with
# 10.99.x.y addresses; a fake sysfs under $root marks only enX0 and enX1 as vifs 0 and 1
# (or as Hyper-V netvsc NICs with NET_FIXTURE_KIND=hyperv).
# Needs G, P (namespace names) and root set; defines g() (ip -n $G).
g() { ip -n "$G" "$@"; }
net_fixture_create() {
  ip netns add "$G" || skip "cannot create a network namespace"
  ip netns add "$P"
  # DAD would leave test addresses tentative (excluded, by design) for a second.
  ip netns exec "$G" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  # Deleting a primary IPv4 address would otherwise take its secondaries with it.
  ip netns exec "$G" sysctl -qw net.ipv4.conf.default.promote_secondaries=1 net.ipv4.conf.all.promote_secondaries=1
  g link set lo up

  # The vif: predictable name, nothing "eth" about it.
  g link add enX0 address 00:16:3e:00:00:01 type veth peer name vif0peer netns "$P"
  g link add xenbr0 type bridge
  g link set enX0 master xenbr0
  g link set enX0 up
  g link set xenbr0 up
  g addr add 192.0.2.10/24 dev xenbr0
  g addr add 2001:db8::10/64 dev xenbr0 nodad
  # vif 1 with a macvlan on top (a bridge port cannot carry one).
  g link add enX1 address 00:16:3e:00:00:02 type veth peer name vif1peer netns "$P"
  g link set enX1 up
  g addr add 203.0.113.7/24 dev enX1
  g link add link enX1 name mv0 type macvlan mode bridge
  g link set mv0 up
  g addr add 198.51.100.5/24 dev mv0

  # A decoy named like a NIC, and a docker-like bridge of veths.
  g link add eth1 type veth peer name eth1peer
  g addr add 10.99.250.1/24 dev eth1
  {
    echo "link add docker0 type bridge"
    echo "addr add 10.99.0.1/16 dev docker0"
    echo "link set docker0 up"
    for i in $(seq 0 199); do
      echo "link add veth$i type veth peer name ceth$i"
      echo "link set veth$i master docker0"
      echo "link set veth$i up"
      echo "link set ceth$i up"
      if [ $((i % 4)) -eq 0 ]; then
        echo "addr add 10.99.$((i / 250 + 1)).$((i % 250 + 1))/16 dev ceth$i"
        echo "addr add 10.99.$((i / 250 + 100)).$((i % 250 + 1))/32 dev veth$i"
      fi
    done
  } > "$TEST_TMPDIR/batch"
  g -batch "$TEST_TMPDIR/batch"

  # Fake sysfs: only enX0 and enX1 have a bus device: Xen vifs 0 and 1, or with
  # NET_FIXTURE_KIND=hyperv, NICs driven by hv_netvsc.
  root=${root:-$TEST_TMPDIR/root}
  for i in 0 1; do
    mkdir -p "$root/sys/class/net/enX$i/device"
    if [ "${NET_FIXTURE_KIND:-xen}" = hyperv ]; then
      mkdir -p "$root/sys/bus/vmbus/drivers/hv_netvsc"
      ln -sfn "$root/sys/bus/vmbus/drivers/hv_netvsc" "$root/sys/class/net/enX$i/device/driver"
    else
      echo vif > "$root/sys/class/net/enX$i/device/devtype"
      echo device/vif/$i > "$root/sys/class/net/enX$i/device/nodename"
    fi
  done
}
