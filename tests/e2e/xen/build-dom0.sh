#!/bin/bash
# Assemble the emulated Xen host from the unpacked Debian packages ($CACHE/x):
#   $OUT/img/xen           gunzipped Xen (QEMU's multiboot loader does not decompress)
#   $OUT/img/vmlinuz       Debian kernel: dom0 and both domUs
#   $OUT/img/dom0.cpio.gz  dom0 initramfs: busybox, xl, xenstored, xenconsoled, pvic-host,
#                          the test driver (dom0-init.sh) and the domU kernel + initrd
# Rebuilt on every run (a few seconds): it carries the freshly built pvic-host.
set -euo pipefail
. "$(dirname "$0")/common.sh"
X=$CACHE/x; KVER=$(cat "$X/kver"); I=$OUT/img
mkdir -p "$I"
zcat "$X/boot/xen-4.17-amd64.gz" > "$I/xen"
cp "$X/boot/vmlinuz-$KVER" "$I/vmlinuz"

# Copy ELF files and their shared libraries; libraries come from the unpacked packages
# when they are there (Xen's), else from this machine (pvic-host's libsystemd, libjson-c).
copy_with_libs() { # root file...
  local R=$1 f lib rel; shift
  for f in "$@"; do
    mkdir -p "$R$(dirname "$f")"
    cp -L "$X$f" "$R$f" 2>/dev/null || cp -L "$f" "$R$f"
    for lib in $(LD_LIBRARY_PATH="$X/usr/lib/x86_64-linux-gnu:$X/lib/x86_64-linux-gnu" ldd "$R$f" \
                 | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'); do
      rel=${lib#$X}; mkdir -p "$R$(dirname "$rel")"; [ -e "$R$rel" ] || cp -L "$lib" "$R$rel"
    done
  done
}
# Copy kernel modules with their dependencies (read from each .ko's modinfo "depends="),
# and append them to $R/modules/order in load order.
copy_mods() { # root module...
  local R=$1 m p d; shift
  mkdir -p "$R/modules"
  for m in "$@"; do
    grep -qx "$m" "$R/modules/order" 2>/dev/null && continue
    p=$(find "$X/lib/modules/$KVER/kernel" -name "$m.ko" | head -1)
    [ -n "$p" ] || { echo "module $m not found" >&2; exit 1; }
    for d in $(grep -a -o 'depends=[^[:cntrl:]]*' "$p" | head -1 | cut -d= -f2 | tr ',' ' '); do copy_mods "$R" "$d"; done
    cp "$p" "$R/modules/"; echo "$m" >> "$R/modules/order"
  done
}
mkroot() { # dir: busybox tree
  local R=$1 a
  rm -rf "$R"; mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,mnt,var/log,var/lib,root,usr/bin,usr/sbin,lib64,lib/x86_64-linux-gnu}
  cp "$X/bin/busybox" "$R/bin/busybox"
  for a in $("$R/bin/busybox" --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
  ln -s /run "$R/var/run"   # xenstored binds /var/run/xenstored/socket
}

# ---- domU initrd: only mounts the guest disk and hands over to systemd ----
U=$OUT/domU-initrd; mkroot "$U"
copy_mods "$U" xen-blkfront crc32c_generic ext4 xen-netfront
cp "$HERE/domU-initrd-init.sh" "$U/init"; chmod +x "$U/init"
(cd "$U" && find . | cpio -o -H newc --quiet | gzip -1) > "$I/domU-initrd.cpio.gz"

# ---- dom0 ----
D=$OUT/dom0; mkroot "$D"
XB=/usr/lib/xen-4.17/bin
copy_with_libs "$D" $XB/xl $XB/libxl-save-helper $XB/oxenstored $XB/xenconsoled $XB/xen-init-dom0 /usr/bin/xenstore "$TOP/build/pvic-host"
mv "$D$TOP/build/pvic-host" "$D/usr/bin/pvic-host"
for t in read write ls list rm exists watch chmod; do ln -sf xenstore "$D/usr/bin/xenstore-$t"; done
ln -sf $XB/xl "$D/usr/sbin/xl"
mkdir -p "$D/etc/xen/scripts" "$D/var/lib/xen" "$D/var/log/xen" "$D/var/lib/xenstored" "$D/guest"
cp "$X/etc/xen/oxenstored.conf" "$X/etc/xen/xl.conf" "$D/etc/xen/"
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$D/lib/x86_64-linux-gnu/"   # xl: pthread_cancel dlopen()s it
copy_mods "$D" xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc xen-netback xen-blkback virtio_pci virtio_blk
for s in vif-e2e block-e2e; do cp "$HERE/$s.sh" "$D/etc/xen/scripts/$s"; chmod +x "$D/etc/xen/scripts/$s"; done
cp "$HERE/dom0-init.sh" "$D/init"; cp "$HERE/dom0-checks.sh" "$D/checks.sh"; chmod +x "$D/init" "$D/checks.sh"
cp "$HERE/domU.cfg.in" "$D/etc/xen/"
cp "$I/vmlinuz" "$I/domU-initrd.cpio.gz" "$D/guest/"
# What the guest's facts must say, taken from the guest image's os-release.
cp "$OUT/guest-expect" "$D/etc/guest-expect"
echo "KVER=$KVER" >> "$D/etc/guest-expect"
(cd "$D" && find . | cpio -o -H newc --quiet | gzip -1) > "$I/dom0.cpio.gz"
rm -rf "$D" "$U"
