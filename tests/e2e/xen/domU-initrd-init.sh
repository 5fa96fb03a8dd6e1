#!/bin/sh
# domU initrd PID 1: the Debian kernel has xen-blkfront, ext4 and xen-netfront as modules,
# so load them, mount the guest disk and hand over to the guest's systemd.
# netfront is loaded here too so eth0 exists before systemd (no module tools in the guest).
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko 2>/dev/null; done
i=0; while [ ! -b /dev/xvda ] && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done
mkdir -p /newroot
if ! mount -t ext4 -o rw /dev/xvda /newroot; then
  echo "E2E-GUEST-INITRD: cannot mount /dev/xvda"; ls -l /dev; sleep 5; poweroff -f
fi
umount /proc /sys; mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /sbin/init
