# Shared helpers for shell tests (sourced). Each test runs in its own $TEST_TMPDIR and
# must leave nothing running: register what you start with `track_pid`.
set -euo pipefail
: "${BUILD:=build}"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$TOP/$BUILD"
# Debian's Python packages (pyxs, dbusmock) import only under the system interpreter.
PY=/usr/bin/python3
TEST_TMPDIR=${TEST_TMPDIR:-$(mktemp -d /tmp/pvic-test.XXXXXX)}
_pids=()

track_pid() { _pids+=("$1"); }

_cleanup() {
  local rc=$?
  for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ] && [ -z "${KEEP_LOGS:-}" ]; then
    for f in "$TEST_TMPDIR"/*.log; do
      [ -f "$f" ] || continue
      echo "---- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"
    done
  fi
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TEST_TMPDIR"
  exit $rc
}
trap _cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass_step() { echo "ok - $*"; }

assert_eq() { # expected actual message
  [ "$1" == "$2" ] || fail "$3: expected [$1], got [$2]"
}

# wait_for TIMEOUT_SECONDS CMD...: retries CMD every 50 ms until it succeeds.
wait_for() {
  local t=$1; shift
  local deadline; deadline=$(($(date +%s%N) + t * 1000000000))
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# Under sanitizers valgrind cannot run; elsewhere VALGRIND wraps pvicd when set.
run_pvicd_cmd() {
  if [ -n "${VALGRIND:-}" ] && [ -z "${SANITIZE:-}" ]; then
    echo valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 "$BIN/pvicd"
  else
    echo "$BIN/pvicd"
  fi
}

# start_xen_hostsim DIR DOMIDS [extra args]: starts pvic-hostsim xen in the background,
# waits until it prints "ready"; sets HOSTSIM_PID.
start_xen_hostsim() {
  local dir=$1 domids=$2; shift 2
  mkdir -p "$dir"
  local out="$TEST_TMPDIR/hostsim.$RANDOM.out"
  "$BIN/pvic-hostsim" xen --dir "$dir" --domid "$domids" "$@" >"$out" 2>>"$TEST_TMPDIR/hostsim.log" &
  HOSTSIM_PID=$!
  track_pid "$HOSTSIM_PID"
  wait_for 10 grep -qx ready "$out" || fail "pvic-hostsim did not print ready"
}

# start_private_bus: a real dbus-daemon on a socket in $TEST_TMPDIR, standing in for the
# system bus; exports DBUS_SYSTEM_BUS_ADDRESS so pvicd, pvicctl and dbusmock use it.
start_private_bus() {
  local sock=$TEST_TMPDIR/system_bus_socket
  sed "s|@SOCKET@|$sock|" "$TOP/tests/dbus-test.conf" > "$TEST_TMPDIR/dbus.conf"
  dbus-daemon --config-file="$TEST_TMPDIR/dbus.conf" --nofork --nopidfile \
    >"$TEST_TMPDIR/dbus.log" 2>&1 &
  track_pid $!
  export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$sock
  wait_for 10 test -S "$sock" || fail "dbus-daemon did not start"
}

# start_mock_logind: python3-dbusmock's logind template on the private bus; its calls are
# logged to $TEST_TMPDIR/logind.calls.
start_mock_logind() {
  "$PY" -m dbusmock --system --template logind -l "$TEST_TMPDIR/logind.calls" \
    >"$TEST_TMPDIR/logind.log" 2>&1 &
  track_pid $!
  wait_for 10 busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status org.freedesktop.login1 \
    || fail "mock logind did not appear"
}

# hv_ctl SOCKET JSON...: one request per argument to pvic-hostsim hyperv's control
# socket, printing one reply line each.
hv_ctl() {
  "$PY" - "$@" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(sys.argv[1])
f = s.makefile('rw')
for req in sys.argv[2:]:
    f.write(req + "\n"); f.flush()
    print(f.readline().strip())
PYEOF
}

# jget PATH < JSON: prints the value at a dotted path ("guests.0.name").
jget() {
  "$PY" -c 'import json,sys; o=json.load(sys.stdin)
for k in sys.argv[1].split("."): o = o[int(k)] if isinstance(o, list) else o[k]
print(json.dumps(o) if isinstance(o, (dict, list, bool)) else o)' "$1"
}

# hold_inhibitor WHAT WHO MODE: takes a logind inhibitor through logind's own Inhibit()
# from a separate process (killed at the end of the test; HOLDER_PID), and waits until
# it is held.
hold_inhibitor() {
  "$PY" - "$@" >>"$TEST_TMPDIR/holder.log" 2>&1 <<'PYEOF' &
import sys, time, dbus
what, who, mode = sys.argv[1:4]
m = dbus.SystemBus().get_object('org.freedesktop.login1', '/org/freedesktop/login1')
fd = m.Inhibit(what, who, 'test', mode, dbus_interface='org.freedesktop.login1.Manager')
print('held', who, flush=True)
time.sleep(1000)
PYEOF
  HOLDER_PID=$!
  track_pid $HOLDER_PID
  wait_for 10 grep -q "held $2" "$TEST_TMPDIR/holder.log" || fail "could not take inhibitor $2"
}
