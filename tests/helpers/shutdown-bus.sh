# Sourced by the shutdown tests and bench after tests/lib.sh: a private system bus and
# dbusmock's logind (and systemd) templates on it. Nothing here talks to the real bus.

# start_private_bus DIR: starts dbus-daemon on DIR/bus.sock allowing everything; exports
# DBUS_SYSTEM_BUS_ADDRESS so the service under test and the mocks meet there.
start_private_bus() {
  local dir=$1
  mkdir -p "$dir"
  cat > "$dir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
  dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile --nosyslog \
    >>"$TEST_TMPDIR/dbus-daemon.log" 2>&1 &
  track_pid $!
  export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/bus.sock"
  wait_for 10 test -S "$dir/bus.sock" || fail "private dbus-daemon did not start"
}

bus_has_name() {
  dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.GetNameOwner "string:$1"
}

# start_mock TEMPLATE LOGFILE [PARAMETERS-JSON]: dbusmock's template on the private bus;
# every method call it receives is appended to LOGFILE ("<time> Method args").
start_mock() {
  local tpl=$1 log=$2 params=${3:-}
  local name
  case $tpl in
    logind) name=org.freedesktop.login1 ;;
    systemd) name=org.freedesktop.systemd1 ;;
    *) fail "unknown template $tpl" ;;
  esac
  if [ -n "$params" ]; then
    "$PY" -m dbusmock --system --template "$tpl" -l "$log" -p "$params" >>"$TEST_TMPDIR/mock-$tpl.log" 2>&1 &
  else
    "$PY" -m dbusmock --system --template "$tpl" -l "$log" >>"$TEST_TMPDIR/mock-$tpl.log" 2>&1 &
  fi
  track_pid $!
  wait_for 20 bus_has_name "$name" || fail "dbusmock $tpl did not claim $name"
}

# mock_call DEST PATH IFACE.METHOD ARGS...: a dbus-send call on the private bus.
mock_call() {
  local dest=$1 path=$2 method=$3; shift 3
  dbus-send --system --print-reply --dest="$dest" "$path" "$method" "$@"
}

# no_sanitizer_reports: fails if any helper run logged an ASan/UBSan/LSan report.
no_sanitizer_reports() {
  if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TEST_TMPDIR"/*.log 2>/dev/null; then
    fail "sanitizer report in the logs above"
  fi
}
