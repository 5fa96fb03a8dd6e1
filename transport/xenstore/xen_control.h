#pragma once
#include <stdint.h>

#include "pvic/pvicd.h"
#include "pvic/xs_client.h"

struct shutdown_read;

struct xen_control {
        struct pvicd *d;
        struct xs_client *xs;
        char last_heartbeat[72];
        char last_shutdown_id[72];
        struct shutdown_read *shutdown_read; /* a request being read */
        char time_seq[72];
        int64_t time_t1, time_t2, time_t3;
        unsigned toolstack_events; /* control/shutdown watch events since connecting */
        uint64_t toolstack_event_usec; /* CLOCK_MONOTONIC of the last such event */
};

void xen_control_init(struct xen_control *x, struct pvicd *d, struct xs_client *xs);
void xen_control_done(struct xen_control *x);
void xen_control_disconnected(struct xen_control *x);
/* A watch event under control/pvic. */
void xen_control_event(struct xen_control *x, const char *path);
/* Freeze requests (xen_freeze.c); rest is the path below control/pvic. */
void xen_freeze_event(struct xen_control *x, const char *rest);
/* A watch event on control/shutdown (the kernel's key; logged only). */
void xen_control_toolstack_event(struct xen_control *x, const char *path);
