#!/usr/bin/env bash
# Time discipline on the simulated clock: pvicd's policy (filter + step/slew/PI) vs the
# kernel's hv_utils policy (step on SYNC only), same host stream, side by side.
# conv_s: seconds until |offset| stays under 100 µs to the end ("never" if it does not);
# final_us / worst60s_us: |offset| at the end and worst over the last minute.
# Goal: pvicd converges in every scenario; the kernel only where no drift builds up.
. "$(dirname "$0")/../tests/lib.sh"
lib=$BIN/libpvic.a
[ -f "$lib" ] || fail "$lib not built (make all)"
exe=$TEST_TMPDIR/timesync-sim
${CC:-cc} -Iinclude -I"$TOP/include" -D_GNU_SOURCE -std=c17 -O2 -Wall -Wextra -Werror \
  -o "$exe" "$TOP/bench/timesync-sim.c" "$lib" $(pkg-config --libs libsystemd json-c uuid 2>/dev/null) -lm ||
  fail "cannot build the simulator"
"$exe"
