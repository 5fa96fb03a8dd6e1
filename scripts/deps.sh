#!/usr/bin/env bash
# Installs the Debian packages pvic builds and tests with; does nothing when all are
# present. Called by `make check`, `make demo`, `make fuzz` and `make bench`; with the
# argument `e2e`, by `make check-e2e`, which also needs what boots a real Xen under QEMU.
set -euo pipefail

pkgs=(
  # build
  gcc clang make pkg-config libsystemd-dev libjson-c-dev uuid-dev check
  libclang-rt-14-dev
  # test peers and tools
  xenstore-utils python3-pyxs python3 dbus python3-dbusmock python3-dbus
  hyperv-daemons chrony cloud-init iproute2 valgrind strace procps systemd xfsprogs
)
[ "${1:-}" = e2e ] && pkgs+=(qemu-system-x86 debootstrap cpio e2fsprogs)

missing=()
for p in "${pkgs[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "pvic: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "pvic: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Services a package would start (chrony, dbus) must not start on the build machine.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 0755 "$policy"; own_policy=1
fi
trap '[ $own_policy = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
