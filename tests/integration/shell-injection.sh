#!/usr/bin/env bash
# No shell anywhere (issue 8, item 1): bytes chosen to run commands if they ever reached a
# shell — interface names, KVP keys and values, a shutdown reason — go through pvicd as
# data. In a network namespace of its own (loopback plus veths, nothing reaches the host's
# network), three interfaces whose names are shell payloads are marked as Xen vifs 0–2 in
# a fake sysfs; pvicd (xenstore transport, against pvic-hostsim's xenstored) runs inside
# the namespace. The host sees each vif's address; no payload file exists anywhere it
# could have been created (pvicd's cwd, /, a hook's cwd); the KVP payloads come back
# verbatim; the reason reaches a hook verbatim in its environment and pvicd's log.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
NS=pvic-$$-inj
root=$TEST_TMPDIR/root
trap 'rc=$?; ip netns del "$NS" 2>/dev/null || true; (exit $rc); _cleanup' EXIT
ip netns add "$NS" || skip "cannot create a network namespace"
n() { ip -n "$NS" "$@"; }
n link set lo up

# IFNAMSIZ is 16 and names cannot hold '/' or spaces, so the payloads create files by a
# relative name (a redirection alone creates its file in sh and bash), unique per test.
# Every form the shell knows: $(…), `…`, ';', '|'.
tag=$(( $$ % 100000 ))
names=("a\$(>q$tag)" "b\`>r$tag\`" "c;>s$tag" "d|>t$tag" "\$(touch\${IFS}u)")
files=("q$tag" "r$tag" "s$tag" "t$tag" "u")
for nm in "${names[@]}"; do [ ${#nm} -le 15 ] || fail "payload name too long: $nm"; done
# Control: each payload does create its file when a shell does evaluate it.
mkdir -p "$TEST_TMPDIR/control"
for i in "${!names[@]}"; do
  (cd "$TEST_TMPDIR/control" && sh -c "echo ${names[$i]}" >/dev/null 2>&1) || true
  [ -e "$TEST_TMPDIR/control/${files[$i]}" ] || fail "payload ${names[$i]} would not fire in sh"
done
# vif 0 and 1 are a veth pair, vif 2 and 3 another; the last name is the peer of a decoy.
n link add "${names[0]}" type veth peer name "${names[1]}"
n link add "${names[2]}" type veth peer name "${names[3]}"
n link add "${names[4]}" type veth peer name decoy0
for i in 0 1 2 3; do
  n link set "${names[$i]}" up
  n addr add "192.0.2.$((10 + i))/24" dev "${names[$i]}" noprefixroute
  mkdir -p "$root/sys/class/net/${names[$i]}/device"
  echo vif > "$root/sys/class/net/${names[$i]}/device/devtype"
  echo "device/vif/$i" > "$root/sys/class/net/${names[$i]}/device/nodename"
done
n link set "${names[4]}" up
n addr add 198.51.100.1/24 dev "${names[4]}"
[ "$(n -o link | grep -c 'q'"$tag"'\|r'"$tag"'\|s'"$tag"'\|t'"$tag")" -eq 4 ] || fail "payload interfaces not created"

mkdir -p "$root/etc/pvic/shutdown.d" "$TEST_TMPDIR/cwd"
echo 'ID=debian' > "$root/etc/os-release"
# A well-behaved hook: records what it was given, never evaluates it.
cat > "$root/etc/pvic/shutdown.d/10-record" <<EOF
#!/bin/sh
printf '%s' "\$PVIC_SHUTDOWN_REASON" > "$TEST_TMPDIR/hook-reason"
EOF
chmod 0755 "$root/etc/pvic/shutdown.d/10-record"

start_private_bus
start_mock_logind
start_xen_hostsim "$TEST_TMPDIR/xs" 9
export XENSTORED_PATH=$TEST_TMPDIR/xs/host.sock
h=/local/domain/9
# pvicd's cwd is a directory of the test's own: a relative payload would land there.
(cd "$TEST_TMPDIR/cwd" && exec ip netns exec "$NS" "$BIN/pvicd" --transport=xenstore \
  --xenstore-path="$TEST_TMPDIR/xs/guest-9.sock" --root "$root" --log-level=debug) \
  >"$TEST_TMPDIR/pvicd.log" 2>&1 &
pvicd=$!
track_pid $pvicd
host() { "$BIN/pvic-host" --xen "$TEST_TMPDIR/xs/host.sock" "$@"; }
ctl() { "$BIN/pvicctl" "$@"; }

vif_has() { [ "$(xenstore-read "$h/attr/vif/$1/ipv4/0" 2>/dev/null)" == "$2" ]; }
for i in 0 1 2 3; do
  wait_for 10 vif_has $i "192.0.2.$((10 + i))" || fail "vif $i (${names[$i]}) address not published"
done
if xenstore-ls $h/attr 2>/dev/null | grep -q '198\.51\.100\.1'; then fail "the decoy's address was published"; fi
pass_step "addresses of interfaces named ${names[*]} published under vif 0-3"

# A name change is an event pvicd reacts to (rename to another payload, then back).
n link set "${names[0]}" down
n link set "${names[0]}" name "e\$(>v$tag)"
n link set "e\$(>v$tag)" up
files+=("v$tag")
sleep 0.5
kill -0 $pvicd || fail "pvicd died"

# KVP from the host with shell metacharacters in key and value, both ways.
kkey="k\$(>w$tag);\`>x$tag\`"
kval="v|>y$tag && \$(touch z$tag) '\" \\"
files+=("w$tag" "x$tag" "y$tag" "z$tag")
wait_for 20 ctl status || fail "pvicd not on the bus"
host kvp set 9 "$kkey" "$kval" >/dev/null
wait_for 2 ctl kvp get --pool 0 "$kkey" || fail "host item with metacharacters did not reach the guest"
assert_eq "$kval" "$(ctl kvp get --pool 0 "$kkey")" "pool 0 value verbatim"
ctl kvp set "g\$(>A$tag)" "\`>B$tag\`"
files+=("A$tag" "B$tag")
wait_for 2 host kvp get 9 "g\$(>A$tag)" --pool 1 || fail "guest item with metacharacters did not reach the host"
assert_eq "\`>B$tag\`" "$(host kvp get 9 "g\$(>A$tag)" --pool 1)" "pool 1 value verbatim on the host"
pass_step "KVP key and value with shell metacharacters stored verbatim"

# A shutdown reason with metacharacters: logged verbatim, handed to the hook verbatim.
reason="night \$(>C$tag) \`>D$tag\`; >E$tag | >F$tag"
files+=("C$tag" "D$tag" "E$tag" "F$tag")
out=$(host --json shutdown 9 --reason "$reason" --timeout 30) || fail "shutdown failed: $out"
assert_eq "done:logind" "$(jget results.0.outcome <<<"$out")" "shutdown outcome"
assert_eq "$reason" "$(cat "$TEST_TMPDIR/hook-reason")" "reason in the hook's environment"
grep -qF "reason '$reason'" "$TEST_TMPDIR/pvicd.log" || fail "the reason was not logged verbatim"
pass_step "shutdown reason with metacharacters passed as data"

kill -0 $pvicd || fail "pvicd died"
found=()
for f in "${files[@]}"; do
  for d in "$TEST_TMPDIR/cwd" / "$root" "$TEST_TMPDIR" "$TOP" /tmp; do
    [ ! -e "$d/$f" ] || found+=("$d/$f")
  done
done
[ ${#found[@]} -eq 0 ] || fail "a payload ran: ${found[*]}"
pass_step "no payload file created (${#files[@]} payloads, 6 places each)"
