#!/bin/sh
# libxl vif hotplug script: bring the backend vif up (no bridge: the guest only needs a
# link with an address) and report success. Debian's vif-bridge needs bash and brctl.
case "$1" in
  online|add) ip link set dev "$vif" up; xenstore-write "$XENBUS_PATH/hotplug-status" connected ;;
  offline|remove) ip link set dev "$vif" down 2>/dev/null; xenstore-rm "$XENBUS_PATH/hotplug-status" 2>/dev/null ;;
esac
exit 0
