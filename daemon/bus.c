/* The guest-local API on the system bus (design.md, fixed decision 8), used by pvicctl.
 * The bus is optional: pvicd serves the host without it and reconnects when it returns. */
#include <errno.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus.h"
#include "pvic/facts_json.h"
#include "pvic/log.h"
#include "pvic/netinfo.h"
#include "pvic/timesync.h"

#define BUS_RETRY_MIN_USEC (1000000ull)
#define BUS_RETRY_MAX_USEC (60000000ull)

static int bus_connect(struct pvicd *d);

static int reply_json(sd_bus_message *m, json_object *o) {
        if (!o)
                return -ENOMEM;
        int r = sd_bus_reply_method_return(m, "s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        return r;
}

/* Host data in pool 0 is as private as the pool file (0600); changes are root's. */
int bus_require_root(sd_bus_message *m, sd_bus_error *error) {
        sd_bus_creds *creds = NULL;
        uid_t uid = (uid_t)-1;
        int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        sd_bus_creds_unref(creds);
        if (r < 0 || uid != 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Only root may do this.");
        return 0;
}

static int method_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        json_object *o = json_object_new_object();
        char version[48];
        snprintf(version, sizeof version, "%d.%d.%d", PVIC_VERSION_MAJOR, PVIC_VERSION_MINOR, PVIC_VERSION_MICRO);
        json_object_object_add(o, "version", json_object_new_string(version));
        json_object_object_add(o, "transport", json_object_new_string(d->backend ? d->backend->name : "none"));
        json_object_object_add(o, "status", json_object_new_string(d->status));
        return reply_json(m, o);
}

static int method_facts(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        return reply_json(m, facts_to_json(&d->os, &d->mem, d->net ? net_collector_snapshot(d->net) : NULL));
}

static int method_time(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        if (!d->tsync)
                return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED, "The time service is not running.");
        struct tsync_status st;
        tsync_get_status(d->tsync, &st);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "mode", json_object_new_string(tsync_mode_to_string(st.mode)));
        json_object_object_add(o, "source", json_object_new_string(st.samples ? tsync_source_to_string(st.last_source) : "none"));
        json_object_object_add(o, "last_offset_ns", st.have_offset ? json_object_new_int64(st.last_offset_ns) : NULL);
        json_object_object_add(o, "frequency_ppm", json_object_new_double(st.frequency_ppm));
        json_object_object_add(o, "synchronized", json_object_new_boolean(st.synchronized));
        json_object_object_add(o, "samples", json_object_new_int64((int64_t)st.samples));
        json_object_object_add(o, "rejected", json_object_new_int64((int64_t)st.rejected));
        json_object *h = json_object_new_array();
        for (size_t i = 0; i < tsync_history_size(d->tsync); i++) {
                const struct tsync_event *e = tsync_history_get(d->tsync, i);
                json_object *ev = json_object_new_object();
                json_object_object_add(ev, "time_ns", json_object_new_int64(e->time_ns));
                json_object_object_add(ev, "offset_before_ns", json_object_new_int64(e->offset_before_ns));
                json_object_object_add(ev, "action", json_object_new_string(tsync_action_to_string(e->action)));
                json_object_object_add(ev, "source", json_object_new_string(tsync_source_to_string(e->source)));
                json_object_object_add(ev, "offset_after_ns", json_object_new_int64(e->offset_after_ns));
                if (e->reason[0])
                        json_object_object_add(ev, "reason", json_object_new_string(e->reason));
                json_object_array_add(h, ev);
        }
        json_object_object_add(o, "history", h);
        if (st.mode == TSYNC_MODE_RELAY_KERNEL)
                json_object_object_add(o, "note", json_object_new_string(
                        "hv_utils keeps the clock (relay mode); chrony's `refclock PHC /dev/ptp_hyperv` gives NTP-grade time"));
        return reply_json(m, o);
}

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Status", "", "s", method_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Facts", "", "s", method_facts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Time", "", "s", method_time, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct pvicd *d = userdata;
        if (bus_connect(d) < 0) {
                d->bus_retry_usec = MIN(d->bus_retry_usec * 2, BUS_RETRY_MAX_USEC);
                sd_event_source_set_time(s, usec + d->bus_retry_usec);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static void schedule_retry(struct pvicd *d) {
        uint64_t now;
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (d->bus_retry_usec == 0)
                d->bus_retry_usec = BUS_RETRY_MIN_USEC;
        if (!d->bus_retry) {
                if (sd_event_add_time(d->event, &d->bus_retry, CLOCK_MONOTONIC, now + d->bus_retry_usec, 0,
                                      on_retry, d) < 0)
                        log_error("bus: cannot arm the reconnect timer");
                return;
        }
        sd_event_source_set_time(d->bus_retry, now + d->bus_retry_usec);
        sd_event_source_set_enabled(d->bus_retry, SD_EVENT_ONESHOT);
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        /* Said once per outage; a connection that never came up backs off further. */
        if (d->bus_up)
                log_warning("bus: the system bus went away; the local API is down until it returns");
        d->bus = sd_bus_flush_close_unref(d->bus);
        if (d->bus_up)
                d->bus_retry_usec = BUS_RETRY_MIN_USEC;
        else
                d->bus_retry_usec = MIN(MAX(d->bus_retry_usec, BUS_RETRY_MIN_USEC) * 2, BUS_RETRY_MAX_USEC);
        d->bus_up = false;
        schedule_retry(d);
        return 0;
}

static int on_name(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        d->bus_up = true;
        if (e)
                /* Another pvicd owns it (a test fleet on one bus): we still serve the host. */
                log_warning("bus: cannot own %s: %s", PVIC_BUS_NAME, e->message);
        else
                log_info("bus: local API on the system bus as %s", PVIC_BUS_NAME);
        return 0;
}

static int bus_connect(struct pvicd *d) {
        sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(bus, false);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, PVIC_BUS_PATH, PVIC_BUS_INTERFACE, agent_vtable, d);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, PVIC_BUS_PATH, PVIC_BUS_INTERFACE ".Kvp",
                                             bus_kvp_vtable, d);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, NULL, "org.freedesktop.DBus.Local", NULL,
                                              "org.freedesktop.DBus.Local", "Disconnected", on_disconnected,
                                              NULL, d);
        if (r >= 0)
                r = sd_bus_request_name_async(bus, NULL, PVIC_BUS_NAME, 0, on_name, d);
        if (r >= 0)
                r = sd_bus_attach_event(bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                log_full_errno(d->bus_retry_usec ? LOG_DEBUG : LOG_WARNING, r,
                               "bus: cannot offer the local API on the system bus: %m; will retry");
                return r;
        }
        d->bus = bus;
        return 0;
}

int bus_start(struct pvicd *d) {
        if (bus_connect(d) < 0)
                schedule_retry(d);
        return 0;
}

void bus_stop(struct pvicd *d) {
        d->bus_retry = sd_event_source_disable_unref(d->bus_retry);
        d->bus = sd_bus_flush_close_unref(d->bus);
}
