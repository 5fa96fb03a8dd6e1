#!/usr/bin/env bash
# systemd-analyze's exposure score of pvicd.service beside the units of the peers
# (lower is better), measured here with the same command.
set -uo pipefail
cd "$(dirname "$0")/.."
unit=$(mktemp -d)/pvicd.service
sed 's|@SBINDIR@|/usr/sbin|' systemd/pvicd.service.in > "$unit"
score() { systemd-analyze security --offline=true "$1" 2>/dev/null | awk '/Overall exposure/ {print $(NF-2)}'; }
printf '%-44s %6s\n' "unit" "exposure"
printf '%-44s %6s\n' "pvicd.service" "$(score "$unit")"
for u in systemd-timesyncd hv-kvp-daemon qemu-guest-agent open-vm-tools; do
  f=/lib/systemd/system/$u.service
  if [ -e "$f" ]; then printf '%-44s %6s\n' "$u.service (Debian)" "$(score "$f")"
  else printf '%-44s %6s\n' "$u.service" "(package not installed)"; fi
done
rm -rf "$(dirname "$unit")"
