#!/bin/bash
# pvic's Xen end-to-end test (make check-e2e): a real Xen 4.17 host (Debian packages) in
# QEMU TCG, pvicd as a systemd service in a PV and a PVH Debian guest, checked from dom0.
# Exit: 0 all passed; 1 a pvicd check failed; 2 infrastructure failure (build, QEMU, Xen,
# domain creation) with no pvicd failure. Logs: build-e2e/logs/<time>/ (latest: logs/last).
# Env: PVIC_E2E_TYPES=pv,pvh  PVIC_E2E_STREAM=1 (guest consoles live on the serial log)  PVIC_E2E_TIMEOUT=1500 (one QEMU run, seconds)
#      PVIC_E2E_CACHE=/var/cache/pvic-e2e  PVIC_E2E_OUT=<repo>/build-e2e
set -uo pipefail
. "$(dirname "$0")/common.sh"
TYPES=${PVIC_E2E_TYPES:-pv,pvh}; TMO=${PVIC_E2E_TIMEOUT:-1500}
L=$OUT/logs/$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$L"; ln -sfn "$L" "$OUT/logs/last"
I=$OUT/img
tstart=$(date +%s)
say() { echo "e2e: $*"; }

[ -x "$TOP/build/pvicd" ] || { say "build/pvicd missing: run make all first"; exit 2; }
command -v qemu-system-x86_64 >/dev/null && command -v debootstrap >/dev/null && command -v mkfs.ext4 >/dev/null \
  || { say "needs qemu-system-x86, debootstrap, e2fsprogs, cpio (apt-get install -y --no-install-recommends qemu-system-x86 debootstrap cpio)"; exit 2; }
# ---- images (downloads and the debootstrap base are cached in $CACHE) ----
for step in fetch-debs build-rootfs-base build-guest-image build-dom0; do
  t=$(date +%s)
  "$HERE/$step.sh" > "$L/$step.log" 2>&1 || { say "$step failed (infrastructure), see $L/$step.log"; tail -5 "$L/$step.log"; exit 2; }
  say "$step: $(( $(date +%s) - t ))s"
done

# ---- one QEMU run; another if the emulated host itself failed ----
boot() { # log types
  # QEMU multiboot modules: "file args,file args"; a comma inside args is written ",,"
  timeout -k 10 "$TMO" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 3072 -smp 2 \
    -display none -monitor none -serial "file:$1" -no-reboot -nodefaults \
    -kernel "$I/xen" \
    -append "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot dom0_mem=1200M,max:1200M dom0_max_vcpus=2 smap=0 smep=0 xsave=0" \
    -initrd "$I/vmlinuz console=hvc0 earlyprintk=xen rdinit=/init e2e_types=${2//,/,,}${PVIC_E2E_STREAM:+ e2e_stream},$I/dom0.cpio.gz" \
    -drive "file=$I/guest.img,if=virtio,format=raw,snapshot=on" \
    -drive "file=$I/guest.img,if=virtio,format=raw,snapshot=on" </dev/null
}
RUN=0; LOGS=()
host_run() { # types: sets LOG, appends it to LOGS
  for try in 1 2; do
    RUN=$((RUN+1)); LOG=$L/serial-$RUN.log; t=$(date +%s)
    boot "$LOG" "$1"; rc=$?
    say "QEMU run $RUN ($1): rc=$rc, $(( $(date +%s) - t ))s, serial log $LOG"
    grep -q "E2E-DOM0 xenstored and xenconsoled up" "$LOG" && break
    say "the emulated Xen host did not come up$([ $try = 1 ] && echo ', retrying once')"
  done
  LOGS+=("$LOG")
  tr -d '\r' < "$LOG" | awk -v d="$L" '/^E2E-CONSOLE-BEGIN /{f=d"/"$2; next} /^E2E-CONSOLE-END/{f=""; next} f{print > f}'
}
host_run "$TYPES"
# The emulated host's losses of a domain (docs/e2e.md) come in bursts within one run of
# it: a type lost in every attempt gets one fresh QEMU run, whose results replace the
# first run's for that type (those are kept as "set aside" lines).
RES=$L/results.log
LOST=$(grep -a -o '^E2E INFRA [a-z]* create-and-boot' "$LOG" | awk '{print $3}' | sort -u | paste -sd, -)
tr -d '\r' < "$LOG" > "$RES"
if [ -n "$LOST" ]; then
  say "the emulated host lost every $LOST domain; one more QEMU run for $LOST"
  sed -i -E "s/^E2E (PASS|FAIL|INFRA|TIME) (${LOST//,/|}) /E2E-DOM0 set aside (QEMU run $RUN): \1 \2 /; s/^E2E-DOM0 (${LOST//,/|}) done/E2E-DOM0 \1 set aside (QEMU run $RUN)/" "$RES"
  host_run "$LOST"
  tr -d '\r' < "$LOG" >> "$RES"
fi

grep -E '^E2E (PASS|FAIL|INFRA|TIME)' "$RES"
P=$(grep -c '^E2E PASS' "$RES"); F=$(grep -c '^E2E FAIL' "$RES"); N=$(grep -c '^E2E INFRA' "$RES")
for LOG in "${LOGS[@]}"; do
  grep -q '^E2E DONE' "$LOG" || { say "dom0 never finished in $LOG (QEMU: timeout or crash)"; N=$((N+1)); }
done
for T in ${TYPES//,/ }; do grep -q "^E2E-DOM0 $T done" "$RES" || { say "no result for the $T guest"; N=$((N+1)); }; done
# dom0's account of the guests (what was set aside and why) even when all passed
grep -a '^E2E-DOM0 ' "$RES"
# What CI shows of a failure: Xen's word on lost domains, each failing guest's console tail.
if [ "$F" -gt 0 ] || [ "$N" -gt 0 ]; then
  grep -a -E '^\(XEN\) .*(Triple fault|Unhandled|emulation failed|crashed on cpu)' "$RES" | tail -10
  for T in $(grep -a -o '^E2E \(FAIL\|INFRA\) [a-z]*' "$RES" | awk '{print $3}' | sort -u); do
    [ -f "$L/guest-pvic-$T.log" ] && { say "last lines of the $T guest's console:"; tail -n 25 "$L/guest-pvic-$T.log" | cut -c1-300; }
  done
fi
say "logs in $L (guest consoles: $L/guest-*.log), total $(( $(date +%s) - tstart ))s"
echo "$P passed, $F failed, $N infrastructure failures"
[ "$F" -gt 0 ] && exit 1
[ "$N" -gt 0 ] && exit 2
exit 0
