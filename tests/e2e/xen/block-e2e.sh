#!/bin/sh
# libxl block hotplug script for phy: disks: what Debian's bash "block" script does for a
# block device, in busybox sh: tell blkback the device number, then report success.
case "$1" in
  add)
    dev=$(xenstore-read "$XENBUS_PATH/params")
    xenstore-write "$XENBUS_PATH/physical-device" "$(stat -L -c '%t:%T' "$dev")" \
                   "$XENBUS_PATH/physical-device-path" "$dev" \
                   "$XENBUS_PATH/hotplug-status" connected ;;
  remove) xenstore-rm "$XENBUS_PATH/hotplug-status" 2>/dev/null ;;
esac
exit 0
