#!/usr/bin/env bash
# The shipped unit stays hardened: systemd-analyze's exposure score at most 2.0, and the
# sources contain no shell (popen/system) outside tests.
. "$(dirname "$0")/../lib.sh"
sed 's|@SBINDIR@|/usr/sbin|' "$TOP/systemd/pvicd.service.in" > "$TEST_TMPDIR/pvicd.service"
score=$(systemd-analyze security --offline=true "$TEST_TMPDIR/pvicd.service" 2>/dev/null | awk '/Overall exposure/ {print $(NF-2)}')
[ -n "$score" ] || fail "systemd-analyze gave no score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score > 2.0"
pass_step "exposure $score"
if grep -rnE '\b(popen|system)[[:space:]]*\(' --include='*.c' --include='*.h' \
     "$TOP/daemon" "$TOP/transport" "$TOP/kvp" "$TOP/shutdown" "$TOP/timesync" "$TOP/tools"; then
  fail "a shell call in the sources"
fi
pass_step "no popen()/system()"
