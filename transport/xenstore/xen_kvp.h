#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "pvic/pvicd.h"
#include "pvic/xs_client.h"

struct xen_kvp {
        struct pvicd *d;
        struct xs_client *xs;
        bool syncing, sync_again;
        unsigned sync_outstanding;
        char *seen[1024];
        size_t n_seen;
};

/* Subscribes to pool 1 and watches the host's directory; on_host_event must pass the
 * event path to xen_kvp_host_changed (the backend owns the watch callbacks). */
int xen_kvp_init(struct xen_kvp *k, struct pvicd *d, struct xs_client *xs, xs_watch_fn on_host_event);
void xen_kvp_done(struct xen_kvp *k);
/* After a (re)connect or resume: pool 1 written again in full. */
void xen_kvp_republish(struct xen_kvp *k);
void xen_kvp_host_changed(struct xen_kvp *k, const char *path);
