/* Moving IC channels between hv_utils and uio_hv_generic (`pvicd --vmbus-bind`). */
#pragma once
#include <stdbool.h>

/* Moves the named ICs (bit n = enum vmbus_uio_ic n: heartbeat, shutdown, timesync, kvp)
 * between hv_utils and uio_hv_generic through sysfs under root (spec §1.3): to_uio
 * unbinds from hv_utils and binds to uio_hv_generic (driver_override where the kernel
 * has it, new_id otherwise); !to_uio gives them back. Returns the number of devices
 * moved, or a negative errno. */
int vmbus_bind(const char *root, unsigned ics, bool to_uio);
/* "heartbeat,shutdown" or "all" -> bit set; -EINVAL for an unknown name. */
int vmbus_parse_ic_list(const char *s, unsigned *ret);
