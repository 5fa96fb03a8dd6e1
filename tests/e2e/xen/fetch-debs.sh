#!/bin/bash
# Download (once) the Debian packages for the emulated Xen host and the guest kernel into
# $CACHE/debs and unpack them into $CACHE/x. Nothing is installed on the build machine.
set -euo pipefail
. "$(dirname "$0")/common.sh"
mkdir -p "$CACHE/debs"
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
PKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
 libxenmisc4.17 libxenstore4 libxencall1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
 libxenhypfs1 libxentoolcore1 libxentoollog1 libxendevicemodel1 libyajl2 busybox-static $KPKG"
if [ -e "$CACHE/x/.done-$KPKG" ]; then exit 0; fi
cd "$CACHE/debs"
# apt-get download runs unsandboxed as root here: only a warning.
apt-get download $PKGS 2>&1 | grep -v 'unsandboxed' || true
rm -rf "$CACHE/x"; mkdir -p "$CACHE/x"
for p in $PKGS; do dpkg-deb -x "$(ls -t ${p}_*.deb | head -1)" "$CACHE/x"; done
echo "${KPKG#linux-image-}" > "$CACHE/x/kver"
touch "$CACHE/x/.done-$KPKG"
