/* One health signal for everything that reports liveness to someone else: the Hyper-V
 * heartbeat's application state and the systemd watchdog. Healthy means: the event loop
 * turns (a timer on it calls health_tick) and systemd does not report the system
 * degraded/in maintenance, nor any of a configured list of units failed. Reading it
 * never blocks: systemd's answers are cached and refreshed asynchronously. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "pvic/hostmsg.h"
#include "pvic/macro.h"

struct health_config {
        uint64_t tick_usec;     /* own timer calling health_tick; 0 = the caller ticks */
        uint64_t stall_usec;    /* no tick for longer than this: the loop is stuck */
        uint64_t refresh_usec;  /* re-ask systemd when the cached answer is older */
        bool check_system_state; /* org.freedesktop.systemd1.Manager SystemState */
        const char *const *units; /* NULL-terminated; copied; any "failed" is critical */
};

#define HEALTH_CONFIG_DEFAULT                    \
        ((struct health_config){                 \
                .tick_usec = 1000000,            \
                .stall_usec = 5000000,           \
                .refresh_usec = 5000000,         \
                .check_system_state = true,      \
                .units = NULL,                   \
        })

struct health;

/* bus: a system bus attached to e, or NULL to open one lazily (sd_bus_open_system). */
int health_new(struct health **ret, sd_event *e, sd_bus *bus, const struct health_config *config);
struct health *health_free(struct health *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct health *, health_free);

/* The loop is alive: call from a timer on the loop being watched. */
void health_tick(struct health *h);

/* The current state from cached facts; may start an asynchronous refresh. Never blocks.
 * HOST_APP_HEALTHY, HOST_APP_CRITICAL (stalled loop, degraded/maintenance, a failed
 * unit) or HOST_APP_STOPPED (the system is shutting down). */
enum host_app_state health_state(struct health *h);

/* Why the last health_state() answer is what it is ("ok", "loop-stalled",
 * "system-state:degraded", "unit-failed:foo.service", "system-state:stopping"). */
const char *health_reason(const struct health *h);

/* True when the systemd watchdog should be fed: anything but critical. */
bool health_watchdog_ok(struct health *h);
