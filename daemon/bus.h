#pragma once
#include <systemd/sd-bus.h>

#include "pvic/pvicd.h"

#define PVIC_BUS_NAME "io.pvic.Agent1"
#define PVIC_BUS_PATH "/io/pvic/Agent1"
#define PVIC_BUS_INTERFACE "io.pvic.Agent1"

/* Offers the API on the system bus ($DBUS_SYSTEM_BUS_ADDRESS honoured); never fails
 * the daemon: without a bus it retries with backoff. */
int bus_start(struct pvicd *d);
void bus_stop(struct pvicd *d);
int bus_require_root(sd_bus_message *m, sd_bus_error *error);

extern const sd_bus_vtable bus_kvp_vtable[];
