#!/bin/sh
# dom0 PID 1 (busybox sh): bring up the Xen host side (modules, xenstored, xenconsoled),
# run the checks (/checks.sh) once per guest type, show the guest consoles on the serial
# line (run.sh cuts them out into files), power off. Exceptions on the host side are
# reported as "E2E INFRA" lines, never as pvicd failures.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /dev/shm
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lib/xenstored
echo "E2E-DOM0 up at $(cut -d' ' -f1 /proc/uptime)s"
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "E2E-DOM0 insmod $m failed"; done
mount -t xenfs xenfs /proc/xen
TYPES=pv,pvh
for a in $(cat /proc/cmdline); do case $a in e2e_types=*) TYPES=${a#*=};; esac; done
oxenstored --pid-file /run/xenstore.pid
i=0; while ! xenstore-read -s / >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.1; done
timeout 30 xen-init-dom0 >/dev/null
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
if xenstore-read /local/domain/0/name >/dev/null 2>&1 && [ -e /run/xenstored/socket ]; then
  echo "E2E-DOM0 xenstored and xenconsoled up at $(cut -d' ' -f1 /proc/uptime)s"
  # the two guest disks (QEMU virtio, copy-on-write snapshots of one image)
  i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
  ls -l /dev/vda /dev/vdb
  n=0
  for T in $(echo $TYPES | tr ',' ' '); do
    n=$((n+1)); DISK=/dev/vda; [ $n = 2 ] && DISK=/dev/vdb
    /checks.sh "$T" "$DISK"
  done
else
  echo "E2E INFRA - dom0: xenstored did not come up"
fi
for f in /var/log/xen/console/guest-*.log; do
  [ -e "$f" ] || continue
  echo "E2E-CONSOLE-BEGIN $(basename "$f")"; tr -d '\r' < "$f"; echo "E2E-CONSOLE-END"
done
echo "E2E DONE"
sync
poweroff -f
