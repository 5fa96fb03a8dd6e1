#!/bin/bash
# Debootstrap (once) a minimal Debian guest with systemd and dbus, cached as a tarball:
# the slow, network-bound step. The per-run image (build-guest-image.sh) starts from it.
set -euo pipefail
. "$(dirname "$0")/common.sh"
TAR=$CACHE/rootfs-$SUITE.tar
[ -s "$TAR" ] && exit 0
mkdir -p "$CACHE"
T=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
trap 'rm -rf "$T"' EXIT
# systemd-sysv: /sbin/init is systemd. libjson-c5: pvicd's only library outside minbase.
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,udev,iproute2,libjson-c5,procps \
  "$SUITE" "$T/root" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
  || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
rm -rf "$T/root/var/cache/apt/archives/"*.deb "$T/root/var/lib/apt/lists/"*
tar -C "$T/root" -cf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
