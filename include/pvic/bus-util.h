/* sd-bus/sd-event cleanup helpers in our _cleanup_ style. libsystemd already defines the
 * sd_*_unrefp functions; these names only make declarations read like the rest of pvic. */
#pragma once
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "pvic/macro.h"

#define _cleanup_bus_unref_          _cleanup_(sd_bus_unrefp)
#define _cleanup_bus_flush_close_unref_ _cleanup_(sd_bus_flush_close_unrefp)
#define _cleanup_bus_message_unref_  _cleanup_(sd_bus_message_unrefp)
#define _cleanup_bus_slot_unref_     _cleanup_(sd_bus_slot_unrefp)
#define _cleanup_bus_error_free_     _cleanup_(sd_bus_error_free)
#define _cleanup_event_unref_        _cleanup_(sd_event_unrefp)
#define _cleanup_event_source_unref_ _cleanup_(sd_event_source_unrefp)

/* The last component of a D-Bus error name ("ServiceUnknown"), or the errno's symbolic
 * name ("ENOENT") when the error has no name: short enough for a status string. */
const char *bus_error_short(const sd_bus_error *e, int r);
