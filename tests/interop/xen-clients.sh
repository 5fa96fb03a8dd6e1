#!/usr/bin/env bash
# Debian's libxenstore clients (xenstore-utils) against pvic-hostsim's xenstored: the
# dom0 socket, guest sockets with permission checks, watches and transactions.
source "$(dirname "$0")/../lib.sh"

command -v xenstore-write >/dev/null || skip "xenstore-utils not installed"
XS="$TEST_TMPDIR/xs"
start_xen_hostsim "$XS" 5,7
SIM=$HOSTSIM_PID
host() { XENSTORED_PATH="$XS/host.sock" "$@"; }
guest5() { XENSTORED_PATH="$XS/guest-5.sock" "$@"; }
guest7() { XENSTORED_PATH="$XS/guest-7.sock" "$@"; }
H=/local/domain/5

# --- dom0: seed tree, read/write/ls/list/rm/exists/chmod
assert_eq 5 "$(host xenstore-read $H/domid)" "seeded domid"
vm=$(host xenstore-read $H/vm)
[[ $vm =~ ^/vm/[0-9a-f-]{36}$ ]] || fail "vm path: $vm"
assert_eq "${vm#/vm/}" "$(host xenstore-read "$vm/uuid")" "/vm/<uuid>/uuid"
[[ $(host xenstore-read $H/unique-domain-id) =~ ^[0-9a-f-]{36}$ ]] || fail "unique-domain-id"
assert_eq "00:16:3e:00:00:01" "$(host xenstore-read $H/device/vif/0/mac)" "vif mac"
pass_step "seed tree"

host xenstore-write $H/data/x hello
assert_eq hello "$(host xenstore-read $H/data/x)" "write/read"
host xenstore-write $H/data/empty ""
assert_eq "" "$(host xenstore-read $H/data/empty)" "empty value"
host xenstore-write $H/data/deep/er/node v
assert_eq "deep" "$(host xenstore-list $H/data | grep deep)" "implicit parent listed"
assert_eq "x empty deep" "$(host xenstore-list $H/data | tr '\n' ' ' | sed 's/ $//')" "insertion order"
host xenstore-exists $H/data/x || fail "exists on a present node must exit 0"
if host xenstore-exists $H/data/nope; then fail "exists on a missing node must exit non-zero"; fi
host xenstore-rm $H/data/deep
if host xenstore-exists $H/data/deep/er/node; then fail "rm is not recursive"; fi
host xenstore-rm $H/data/never-existed || fail "rm of a missing node with a parent must succeed"
if host xenstore-rm /no/such/parent 2>/dev/null; then fail "rm with a missing parent must fail"; fi
pass_step "read/write/list/exists/rm"

host xenstore-chmod $H/data/x n5 r7
line=$(host xenstore-ls -p $H/data | grep '^x = ')
[[ $line == *'"hello"'*'(n5,r7)' ]] || fail "ls -p after chmod: $line"
ls_out=$(host xenstore-ls $H)
grep -q '^domid = "5"$' <<<"$ls_out" || fail "ls: $ls_out"
grep -q '^ *mac = "00:16:3e:00:00:01"$' <<<"$ls_out" || fail "ls nesting: $ls_out"
pass_step "chmod and ls -p"

# Relative paths on the dom0 socket resolve against /local/domain/0, like C xenstored.
host xenstore-write rel 1
assert_eq 1 "$(host xenstore-read /local/domain/0/rel)" "dom0 relative path"

# --- transactions: xenstore-write with two pairs wraps them in one
host xenstore-write $H/data/t1 a $H/data/t2 b
assert_eq "a b" "$(host xenstore-read $H/data/t1 $H/data/t2 | tr '\n' ' ' | sed 's/ $//')" "two-pair write"
pass_step "transaction commit"

# --- a directory longer than one message: DIRECTORY says E2BIG, libxenstore falls back
# to DIRECTORY_PART and reassembles the list
pairs=()
for i in $(seq -w 1 200); do pairs+=("/tool/big/child-$i-with-a-long-name" "$i"); done
host xenstore-write "${pairs[@]}"
list=$(host xenstore-list /tool/big)
assert_eq 200 "$(wc -l <<<"$list")" "children listed through DIRECTORY_PART"
assert_eq "child-001-with-a-long-name" "$(head -n1 <<<"$list")" "first child"
assert_eq "child-200-with-a-long-name" "$(tail -n1 <<<"$list")" "last child"
assert_eq 200 "$(host xenstore-ls /tool/big | grep -c '^child-')" "ls of a big directory"
pass_step "DIRECTORY_PART fallback"

# --- watches: initial fire, change events, RM events
out="$TEST_TMPDIR/watch.out"
host xenstore-watch -n 3 $H/data/w >"$out" &
wpid=$!
track_pid $wpid
wait_for 5 grep -qx "$H/data/w" "$out" || fail "no initial watch event"
host xenstore-write $H/data/w/child 1
wait_for 5 grep -qx "$H/data/w/child" "$out" || fail "no change event"
host xenstore-rm $H/data/w
wait_for 5 test "$(wc -l <"$out")" -ge 3 || fail "no rm event: $(cat "$out")"
wait $wpid || fail "xenstore-watch -n 3 failed"
assert_eq "$H/data/w|$H/data/w/child|$H/data/w" "$(tr '\n' '|' <"$out" | sed 's/|$//')" "watch events"
pass_step "watch"

# --- guests: identity, relative paths, permissions
assert_eq 5 "$(guest5 xenstore-read domid)" "guest relative read"
guest5 xenstore-write data/os_name "Debian 12"
assert_eq "Debian 12" "$(host xenstore-read $H/data/os_name)" "guest relative write lands in its home"
line=$(host xenstore-ls -p $H/data | grep '^os_name = ')
[[ $line == *'(n5)' ]] || fail "guest-written node not guest-owned: $line"
if guest5 xenstore-write name renamed 2>/dev/null; then fail "guest wrote a read-only node"; fi
if guest5 xenstore-read /local/domain/7/domid 2>/dev/null; then fail "guest 5 read domain 7's home"; fi
if guest5 xenstore-write /local/domain/7/data/x 1 2>/dev/null; then fail "guest 5 wrote into domain 7's home"; fi
host xenstore-exists /local/domain/7/data/x && fail "cross-domain write landed"
err=$(guest5 xenstore-ls /local/domain/7 2>&1 >/dev/null || true)
[[ $err == *"Permission denied"* ]] || fail "expected EACCES listing another home: $err"
err=$(guest5 xenstore-ls /local/domain/7/nope 2>&1 >/dev/null || true)
[[ $err == *"Permission denied"* ]] || fail "missing node under an unreadable home must be EACCES: $err"
if guest5 xenstore-rm /local/domain/5 2>/dev/null; then fail "guest removed its own home"; fi
# Domain 7 may read what 5 granted it; the grant came from the chmod above.
assert_eq hello "$(guest7 xenstore-read $H/data/x)" "r7 grant"
if guest7 xenstore-write $H/data/x no 2>/dev/null; then fail "r7 allowed a write"; fi
pass_step "guest permissions"

# Implicit parents take the creator as owner, keeping the rest of the parent's list.
host xenstore-write $H/shared ""
host xenstore-chmod $H/shared n0 b5
guest5 xenstore-write shared/a/b 1
line=$(host xenstore-ls -p $H/shared | grep '^a = ')
[[ $line == *'(n5,b5)' ]] || fail "implicit parent perms: $line"
line=$(host xenstore-ls -p $H/shared | grep '^ b = ')
[[ $line == *'(n5,b5)' ]] || fail "implicit node perms: $line"
# An unprivileged owner may not give a node away.
if guest5 xenstore-chmod shared/a n7 2>/dev/null; then fail "guest changed an owner"; fi
guest5 xenstore-chmod shared/a n5 r7 || fail "guest owner chmod"
pass_step "implicit ownership"

# Relative watch on a guest socket: relative event paths.
out="$TEST_TMPDIR/gwatch.out"
guest5 xenstore-watch -n 2 control >"$out" &
wpid=$!
track_pid $wpid
wait_for 5 grep -qx control "$out" || fail "no initial relative event: $(cat "$out")"
host xenstore-write $H/control/shutdown poweroff
wait $wpid || fail "guest xenstore-watch failed"
assert_eq "control|control/shutdown" "$(tr '\n' '|' <"$out" | sed 's/|$//')" "relative watch events"
pass_step "guest relative watch"

# Events are filtered by read permission: guest 7 watching / must not see domain 5's nodes.
out="$TEST_TMPDIR/g7watch.out"
guest7 xenstore-watch -n 2 / >"$out" &
wpid=$!
track_pid $wpid
wait_for 5 grep -qx / "$out" || fail "no initial event for /"
host xenstore-write $H/data/secret s
host xenstore-write /local/domain/7/data/visible v
wait $wpid || fail "guest 7 xenstore-watch failed"
assert_eq "/|/local/domain/7/data/visible" "$(tr '\n' '|' <"$out" | sed 's/|$//')" "watch permission filter"
pass_step "watch permission filter"

# Guest transaction through a multi-pair write.
guest5 xenstore-write data/g1 1 data/g2 2
assert_eq "1 2" "$(host xenstore-read $H/data/g1 $H/data/g2 | tr '\n' ' ' | sed 's/ $//')" "guest transaction"

# --- clean shutdown removes the sockets
kill -TERM $SIM
rc=0
wait $SIM || rc=$?
assert_eq 0 $rc "hostsim exit status on SIGTERM"
[ ! -e "$XS/host.sock" ] && [ ! -e "$XS/guest-5.sock" ] || fail "sockets left behind"
pass_step "SIGTERM"

# --- forced EAGAIN: libxenstore's multi-pair write retries until the commit succeeds
XS="$TEST_TMPDIR/xs-eagain"
start_xen_hostsim "$XS" 3 --force-eagain 2 --log-level debug
host xenstore-write /local/domain/3/data/r1 x /local/domain/3/data/r2 y || fail "write did not retry"
assert_eq "x y" "$(host xenstore-read /local/domain/3/data/r1 /local/domain/3/data/r2 | tr '\n' ' ' | sed 's/ $//')" \
  "values after retries"
assert_eq 2 "$(grep -c 'TRANSACTION_END from domid 0: EAGAIN' "$TEST_TMPDIR/hostsim.log")" "forced EAGAINs seen"
pass_step "EAGAIN retry"

# --- libxl layout: control is read-only, pre-created feature nodes are writable
XS="$TEST_TMPDIR/xs-libxl"
start_xen_hostsim "$XS" 9 --libxl
guest9() { XENSTORED_PATH="$XS/guest-9.sock" "$@"; }
XENSTORED_PATH="$XS/host.sock" xenstore-exists /local/domain/9/unique-domain-id && fail "libxl has no unique-domain-id"
guest9 xenstore-write control/feature-poweroff 1 || fail "libxl feature-poweroff not writable"
if guest9 xenstore-write control/feature-balloon 1 2>/dev/null; then fail "libxl control must be read-only"; fi
pass_step "libxl layout"
