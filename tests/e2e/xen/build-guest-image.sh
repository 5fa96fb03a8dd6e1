#!/bin/bash
# The guest disk: the cached debootstrap tree + this tree's pvicd/pvicctl/pvic-host
# (make install) enabled as a service + the e2e units, as a raw ext4 image ($OUT/img/guest.img).
# Rebuilt on every run (~20 s) because it carries the fresh build. Also writes
# $OUT/guest-expect: the os-release facts dom0 must find in xenstore.
set -euo pipefail
. "$(dirname "$0")/common.sh"
R=$OUT/guest-root; I=$OUT/img
rm -rf "$R"; mkdir -p "$R" "$I"
tar -C "$R" -xf "$CACHE/rootfs-$SUITE.tar"
make -C "$TOP" -s install DESTDIR="$R" PREFIX=/usr >/dev/null
unit=$(cd "$R" && ls {usr/,}lib/systemd/system/pvicd.service 2>/dev/null | head -1)
[ -n "$unit" ] || { echo "make install did not install pvicd.service" >&2; exit 1; }
W=$R/etc/systemd/system/multi-user.target.wants; mkdir -p "$W"
ln -sf "/$unit" "$W/pvicd.service"          # what "systemctl enable pvicd" does
for u in pvic-e2e-net pvic-e2e-agent; do
  install -m 0644 "$HERE/guest/$u.service" "$R/etc/systemd/system/"
  ln -sf "/etc/systemd/system/$u.service" "$W/$u.service"
done
install -D -m 0755 "$HERE/guest/pvic-e2e-agent" "$R/usr/local/sbin/pvic-e2e-agent"
echo pvic-guest > "$R/etc/hostname"
: > "$R/etc/machine-id"                      # a fresh one on each boot
printf '/dev/xvda / ext4 rw,noatime 0 1\n' > "$R/etc/fstab"
# Units that cost boot time under TCG and test nothing here.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# Root login on the console without a password, for debugging by hand (xl console).
sed -i 's|^root:[^:]*:|root::|' "$R/etc/shadow"
( . "$R/etc/os-release"
  printf 'EXP_PRETTY=%q\nEXP_ID=%q\nEXP_VERSION_ID=%q\n' "$PRETTY_NAME" "$ID" "${VERSION_ID:-}" ) > "$OUT/guest-expect"
rm -f "$I/guest.img"
mkfs.ext4 -q -F -L pvic-guest -d "$R" "$I/guest.img" 1200M
rm -rf "$R"
