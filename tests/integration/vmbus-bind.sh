#!/usr/bin/env bash
# pvicd --vmbus-bind / --vmbus-unbind against a fake sysfs (the same writes the kernel's
# vmbus driver core takes): ICs leave hv_utils for uio_hv_generic through driver_override
# (new_id where the kernel lacks it) and come back; other devices are not touched.
. "$(dirname "$0")/../lib.sh"
R=$TEST_TMPDIR/root
bus=$R/sys/bus/vmbus
HB=242ff919-07db-4180-9c2e-b86cb68c8c55
TS=2dd1ce17-079e-403c-b352-a1921ee207ee
KVP=a9a0f4e7-5a45-4d96-b827-8a841e8c03e6
VSS=5b1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
mkdir -p "$bus/drivers/hv_utils" "$bus/drivers/uio_hv_generic"
for f in hv_utils/bind hv_utils/unbind uio_hv_generic/bind uio_hv_generic/unbind uio_hv_generic/new_id; do
  : > "$bus/drivers/$f"
done
device() { # INSTANCE CLASS DRIVER [override]
  mkdir -p "$bus/devices/$1"
  echo "{$2}" > "$bus/devices/$1/class_id"
  ln -sfn "../../drivers/$3" "$bus/devices/$1/driver"
  [ -z "${4:-}" ] || : > "$bus/devices/$1/driver_override"
}
device $HB 57164f39-9115-4e78-ab55-382f3bd5422d hv_utils override
device $TS 9527e630-d0ae-497b-adce-e80ab0175caf hv_utils         # an older kernel: no driver_override
device $KVP a9a0f4e7-5a45-4d96-b827-8a841e8c03e6 hv_utils override
device $VSS 35fa2e29-ea23-4236-96ae-3a6ebacba440 hv_utils override

"$BIN/pvicd" --root "$R" --vmbus-bind >"$TEST_TMPDIR/bind.log" 2>&1 || fail "bind failed: $(cat "$TEST_TMPDIR/bind.log")"
assert_eq "$(printf '%s\n' $HB $TS | sort)" "$(grep -o '[0-9a-f-]\{36\}' "$bus/drivers/hv_utils/unbind" | sort)" "unbound from hv_utils"
assert_eq "uio_hv_generic" "$(cat "$bus/devices/$HB/driver_override")" "heartbeat pinned by driver_override"
assert_eq "9527e630-d0ae-497b-adce-e80ab0175caf" "$(cat "$bus/drivers/uio_hv_generic/new_id")" "timesync's class taught by new_id"
assert_eq "$(printf '%s\n' $HB $TS | sort)" "$(grep -o '[0-9a-f-]\{36\}' "$bus/drivers/uio_hv_generic/bind" | sort)" "bound to uio_hv_generic"
assert_eq "" "$(cat "$bus/devices/$KVP/driver_override")" "KVP (not asked for) untouched"
assert_eq "" "$(cat "$bus/devices/$VSS/driver_override")" "VSS (opt-in) untouched by the default"
grep -q "2 channel(s) moved" "$TEST_TMPDIR/bind.log" || fail "no summary line"
pass_step "bind: heartbeat and timesync moved, KVP left alone"

ln -sfn ../../drivers/uio_hv_generic "$bus/devices/$HB/driver"
"$BIN/pvicd" --root "$R" --vmbus-unbind=heartbeat >"$TEST_TMPDIR/unbind.log" 2>&1 || fail "unbind failed"
assert_eq "$HB" "$(cat "$bus/drivers/uio_hv_generic/unbind")" "unbound from uio_hv_generic"
assert_eq "$HB" "$(cat "$bus/drivers/hv_utils/bind")" "given back to hv_utils"
# The fake attribute keeps every write (sysfs keeps only the last): look at the last one.
assert_eq "" "$(tail -n 1 "$bus/devices/$HB/driver_override")" "override cleared"
pass_step "unbind gives the channel back"

: > "$bus/drivers/hv_utils/unbind"; : > "$bus/drivers/uio_hv_generic/bind"
"$BIN/pvicd" --root "$R" --vmbus-bind=vss >"$TEST_TMPDIR/bind-vss.log" 2>&1 || fail "bind vss failed: $(cat "$TEST_TMPDIR/bind-vss.log")"
assert_eq "$VSS" "$(cat "$bus/drivers/hv_utils/unbind")" "VSS unbound from hv_utils"
assert_eq "uio_hv_generic" "$(cat "$bus/devices/$VSS/driver_override")" "VSS pinned by driver_override"
assert_eq "$VSS" "$(cat "$bus/drivers/uio_hv_generic/bind")" "VSS bound to uio_hv_generic"
grep -q "1 channel(s) moved" "$TEST_TMPDIR/bind-vss.log" || fail "no summary line for vss"
ln -sfn ../../drivers/uio_hv_generic "$bus/devices/$VSS/driver"
: > "$bus/drivers/hv_utils/bind"
"$BIN/pvicd" --root "$R" --vmbus-unbind=vss >/dev/null 2>&1 || fail "unbind vss failed"
assert_eq "$VSS" "$(cat "$bus/drivers/hv_utils/bind")" "VSS given back to hv_utils"
pass_step "--vmbus-bind=vss moves the VSS channel (opt-in), --vmbus-unbind=vss gives it back"

rc=0; "$BIN/pvicd" --root "$R" --vmbus-bind=heartbeat,bogus 2>/dev/null || rc=$?
assert_eq 1 "$rc" "an unknown IC name is refused"
