/* The health signal shared by the heartbeat and the systemd watchdog. The loop proves it
 * turns by ticking; systemd's opinion (SystemState, configured units' ActiveState) is
 * asked asynchronously when a reader finds the cached answer stale, so there is no bus
 * traffic while nobody asks and a reader never waits for systemd. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvic/bus-util.h"
#include "pvic/health.h"
#include "pvic/log.h"

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define HEALTH_BUS_TIMEOUT_USEC (2 * 1000000ULL)
#define HEALTH_UNITS_MAX 32

struct health_unit {
        char *name;
        sd_bus_slot *slot;
        bool failed;
};

struct health {
        sd_event *event;
        sd_bus *bus;
        bool bus_owned;
        struct health_config config;
        sd_event_source *tick_timer;
        uint64_t last_tick;
        uint64_t last_refresh;   /* when the last refresh started; 0 = never */
        sd_bus_slot *state_slot;
        char system_state[32];   /* "" = unknown */
        struct health_unit units[HEALTH_UNITS_MAX];
        size_t n_units;
        char reason[96];
        enum host_app_state last_state;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

void health_tick(struct health *h) {
        if (h)
                h->last_tick = now_usec();
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct health *h = userdata;
        health_tick(h);
        /* time sources are one-shot: re-arm */
        (void)sd_event_source_set_time_relative(s, h->config.tick_usec);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int get_bus(struct health *h, sd_bus **ret) {
        int r;

        if (h->bus && sd_bus_is_open(h->bus) > 0) {
                *ret = h->bus;
                return 0;
        }
        if (h->bus && !h->bus_owned)
                return -ENOTCONN;
        h->bus = sd_bus_flush_close_unref(h->bus);
        _cleanup_bus_unref_ sd_bus *bus = NULL;
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_debug_errno(r, "Health: no system bus: %m; judging by the loop only.");
        r = sd_bus_attach_event(bus, h->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        h->bus = TAKE_PTR(bus);
        h->bus_owned = true;
        *ret = h->bus;
        return 0;
}

static int on_system_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct health *h = userdata;
        const char *state = NULL;

        h->state_slot = sd_bus_slot_unref(h->state_slot);
        if (sd_bus_message_is_method_error(m, NULL) ||
            sd_bus_message_read(m, "v", "s", &state) < 0 || !state) {
                /* an answer we cannot trust is no answer: forget the old one */
                h->system_state[0] = '\0';
                return 0;
        }
        if (strcmp(state, h->system_state) != 0)
                log_info("Health: systemd reports the system %.31s.", state);
        snprintf(h->system_state, sizeof h->system_state, "%s", state);
        return 0;
}

static int on_unit_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct health_unit *u = userdata;
        const char *state = NULL;

        u->slot = sd_bus_slot_unref(u->slot);
        if (sd_bus_message_is_method_error(m, NULL) || sd_bus_message_read(m, "v", "s", &state) < 0) {
                u->failed = false;
                return 0;
        }
        bool failed = strcmp(state, "failed") == 0;
        if (failed != u->failed)
                log_info("Health: %s is %s.", u->name, state);
        u->failed = failed;
        return 0;
}

static int get_property_async(sd_bus *bus, sd_bus_slot **slot, const char *path,
                              const char *iface, const char *prop, sd_bus_message_handler_t cb,
                              void *userdata) {
        _cleanup_bus_message_unref_ sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_DEST, path,
                                               "org.freedesktop.DBus.Properties", "Get");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", iface, prop);
        if (r < 0)
                return r;
        return sd_bus_call_async(bus, slot, m, cb, userdata, HEALTH_BUS_TIMEOUT_USEC);
}

/* GetUnit answers only for loaded units (a failed unit stays loaded); the unit's object
 * path comes from systemd rather than from escaping the name ourselves. */
static int on_get_unit(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct health_unit *u = userdata;
        sd_bus *bus = sd_bus_message_get_bus(m);
        const char *path;

        u->slot = sd_bus_slot_unref(u->slot);
        if (sd_bus_message_is_method_error(m, NULL) || sd_bus_message_read(m, "o", &path) < 0) {
                u->failed = false; /* not loaded: not failed */
                return 0;
        }
        if (get_property_async(bus, &u->slot, path, "org.freedesktop.systemd1.Unit",
                               "ActiveState", on_unit_state, u) < 0)
                u->failed = false;
        return 0;
}

static void refresh(struct health *h, uint64_t now) {
        sd_bus *bus = NULL;

        if (!h->config.check_system_state && h->n_units == 0)
                return; /* nothing to ask: no bus connection either */
        if (h->last_refresh && now - h->last_refresh < h->config.refresh_usec)
                return;
        h->last_refresh = now;
        if (get_bus(h, &bus) < 0) {
                h->system_state[0] = '\0';
                for (size_t i = 0; i < h->n_units; i++)
                        h->units[i].failed = false;
                return;
        }
        if (h->config.check_system_state && !h->state_slot &&
            get_property_async(bus, &h->state_slot, SYSTEMD_PATH, "org.freedesktop.systemd1.Manager",
                               "SystemState", on_system_state, h) < 0)
                h->system_state[0] = '\0';
        for (size_t i = 0; i < h->n_units; i++) {
                struct health_unit *u = &h->units[i];
                if (u->slot)
                        continue; /* still waiting for the previous answer */
                if (sd_bus_call_method_async(bus, &u->slot, SYSTEMD_DEST, SYSTEMD_PATH,
                                             "org.freedesktop.systemd1.Manager", "GetUnit",
                                             on_get_unit, u, "s", u->name) < 0)
                        u->failed = false;
        }
}

static enum host_app_state set(struct health *h, enum host_app_state st, const char *fmt, ...)
        _printf_(3, 4);
static enum host_app_state set(struct health *h, enum host_app_state st, const char *fmt, ...) {
        char reason[sizeof h->reason];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        if (st != h->last_state || strcmp(reason, h->reason) != 0)
                log_full_errno(st == HOST_APP_CRITICAL ? LOG_WARNING : LOG_INFO, 0,
                               "Health: %s (%s).", st == HOST_APP_HEALTHY ? "healthy" :
                               st == HOST_APP_CRITICAL ? "critical" :
                               st == HOST_APP_STOPPED ? "stopped" : "unknown", reason);
        memcpy(h->reason, reason, sizeof reason);
        h->last_state = st;
        return st;
}

enum host_app_state health_state(struct health *h) {
        uint64_t now = now_usec();

        if (!h)
                return HOST_APP_UNKNOWN;
        refresh(h, now);
        if (now - h->last_tick > h->config.stall_usec)
                return set(h, HOST_APP_CRITICAL, "loop-stalled");
        if (strcmp(h->system_state, "degraded") == 0 || strcmp(h->system_state, "maintenance") == 0)
                return set(h, HOST_APP_CRITICAL, "system-state:%s", h->system_state);
        for (size_t i = 0; i < h->n_units; i++)
                if (h->units[i].failed)
                        return set(h, HOST_APP_CRITICAL, "unit-failed:%s", h->units[i].name);
        if (strcmp(h->system_state, "stopping") == 0)
                return set(h, HOST_APP_STOPPED, "system-state:stopping");
        /* starting, running, or unknown (no systemd to ask): the loop's word is enough */
        return set(h, HOST_APP_HEALTHY, "ok");
}

const char *health_reason(const struct health *h) {
        return h ? h->reason : "unknown";
}

bool health_watchdog_ok(struct health *h) {
        return health_state(h) != HOST_APP_CRITICAL;
}

int health_new(struct health **ret, sd_event *e, sd_bus *bus, const struct health_config *config) {
        _cleanup_(health_freep) struct health *h = NULL;
        int r;

        if (!ret || !e)
                return -EINVAL;
        h = calloc(1, sizeof *h);
        if (!h)
                return log_oom();
        h->event = sd_event_ref(e);
        h->bus = bus ? sd_bus_ref(bus) : NULL;
        h->config = config ? *config : HEALTH_CONFIG_DEFAULT;
        if (h->config.stall_usec == 0)
                h->config.stall_usec = HEALTH_CONFIG_DEFAULT.stall_usec;
        h->last_state = HOST_APP_UNKNOWN;
        snprintf(h->reason, sizeof h->reason, "ok");
        for (size_t i = 0; h->config.units && h->config.units[i]; i++) {
                if (h->n_units >= HEALTH_UNITS_MAX)
                        return log_error_errno(E2BIG, "Health: more than %d units to watch.", HEALTH_UNITS_MAX);
                if (!(h->units[h->n_units].name = strdup(h->config.units[i])))
                        return log_oom();
                h->n_units++;
        }
        h->config.units = NULL; /* ours are in h->units */
        h->last_tick = now_usec();
        if (h->config.tick_usec > 0) {
                r = sd_event_add_time_relative(e, &h->tick_timer, CLOCK_MONOTONIC, h->config.tick_usec,
                                               0, on_tick, h);
                if (r < 0)
                        return log_error_errno(r, "Health: cannot arm the tick timer: %m");
        }
        *ret = TAKE_PTR(h);
        return 0;
}

struct health *health_free(struct health *h) {
        if (!h)
                return NULL;
        sd_event_source_disable_unref(h->tick_timer);
        sd_bus_slot_unref(h->state_slot);
        for (size_t i = 0; i < h->n_units; i++) {
                sd_bus_slot_unref(h->units[i].slot);
                free(h->units[i].name);
        }
        if (h->bus_owned)
                sd_bus_flush_close_unref(h->bus);
        else
                sd_bus_unref(h->bus);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}
