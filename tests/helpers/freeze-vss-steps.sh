# The VSS steps the relay test (freeze-vss-pvicd.sh) and the uio test (freeze-vss-uio.sh)
# share: the same host requests and the same guest-visible outcome, whichever way VSS
# reaches pvicd. Sourced after freeze-setup.sh; the caller defines answer OP (one VSS
# request, printed as "<status> <answered_by>[ <via>]") and $j (the freeze journal).
# Each takes OK: what answer prints for a request pvicd served.

# FREEZE blocks a writer on each of the ext4 and xfs images, THAW releases both.
vss_step_writers_block() {
  local ok=$1 m writers=()
  assert_eq "$ok" "$(answer freeze)" "FREEZE answer"
  [ -f "$j" ] || fail "no journal while frozen"
  for m in "$MNT_A" "$MNT_B"; do
    start_writer "$m/vss"
    writer_done 800 && fail "a write to $m completed while VSS-frozen"
    writers+=("$WRITER")
  done
  assert_eq "$ok" "$(answer thaw)" "THAW answer"
  WRITER=${writers[0]}; writer_done 2000 || fail "ext4 writer still blocked after THAW"
  WRITER=${writers[1]}; writer_done 2000 || fail "xfs writer still blocked after THAW"
  [ -f "$j" ] && fail "journal left after THAW"
  assert_eq data "$(cat "$MNT_B/vss")" "written data"
}

# A 2 s pre-freeze hook: the FREEZE is answered once frozen (as hv_vss_daemon holds the
# kernel's request), not failed early because the hooks run on the loop. Sets HELD_MS.
vss_step_slow_hook_held() {
  local ok=$1 t0
  cat > "$FROOT/etc/pvic/freeze.d/50-slow" <<'EOH'
#!/bin/sh
[ "$1" = thaw ] || sleep 2
EOH
  chmod 0755 "$FROOT/etc/pvic/freeze.d/50-slow"
  t0=$(date +%s%N)
  assert_eq "$ok" "$(answer freeze)" "FREEZE behind a 2 s hook"
  HELD_MS=$((($(date +%s%N) - t0) / 1000000))
  [ "$HELD_MS" -ge 1900 ] || fail "FREEZE answered after $HELD_MS ms, before its 2 s hook was done"
  start_writer "$MNT_A/slow"
  writer_done 500 && fail "write completed after the held FREEZE"
  assert_eq "$ok" "$(answer thaw)" "THAW after the held FREEZE"
  writer_done 2000 || fail "writer still blocked after THAW"
  rm -f "$FROOT/etc/pvic/freeze.d/50-slow"
}
