/* The daemon's one manager object (systemd-timesyncd's Manager in our shape): it owns
 * the event loop and every source; backends and services hang off it. */
#pragma once
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "pvic/backend.h"
#include "pvic/config.h"
#include "pvic/facts.h"
#include "pvic/kvp_intrinsic.h"

struct kvp_store;
struct kvp_watch;
struct health;
struct shutdown_service;
struct tsync;
struct clock_driver;
struct resume_detector;
struct net_collector;
struct freeze_service;

struct pvicd {
        sd_event *event;
        struct pvic_config config;
        struct pvic_os_facts os;
        struct pvic_mem_facts mem;
        const struct pvic_backend_ops *backend;
        void *backend_state;
        sd_event_source *watchdog_timer;
        sd_event_source *mem_timer;
        char status[256];

        /* The local API (daemon/bus.c). */
        sd_bus *bus;
        sd_event_source *bus_retry;
        uint64_t bus_retry_usec;
        bool bus_up; /* the bus answered us since the last (re)connect */

        struct kvp_store *kvp; /* NULL when the pool directory is unusable */
        struct kvp_watch *kvp_watch;

        /* Services (daemon/services.c); each may be NULL when it could not start. */
        struct health *health;
        struct shutdown_service *shutdown;
        struct tsync *tsync;
        struct clock_driver *clock;
        struct resume_detector *resume;
        sd_event_source *clock_set;
        /* Created on first use (daemon/services.c): most guests never freeze. */
        struct freeze_service *freeze;

        /* Network facts, and the Hyper-V intrinsic items built from all the facts. */
        struct net_collector *net;
        struct kvp_intrinsic intrinsic;
        bool intrinsic_ready;
        sd_event_source *hostname_watch;
};

/* Sets STATUS= for systemd and `pvicctl status`; logs it at debug level. */
void pvicd_set_status(struct pvicd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
