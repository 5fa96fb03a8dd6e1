/* A transport backend owns one hypervisor's wire (design.md "Data flow"). Shaped like
 * chrony's refclock drivers: one ops struct, an opaque state, init/fini. */
#pragma once

struct pvicd;

struct pvic_backend_ops {
        const char *name; /* "xenstore", "vmbus" */
        /* Starts connecting; must not wait on the host. */
        int (*init)(struct pvicd *d, void **ret_state);
        void (*fini)(void *state);
        /* The guest's facts changed: present what differs to the host. */
        void (*facts_changed)(void *state);
};

extern const struct pvic_backend_ops xenstore_backend_ops;
extern const struct pvic_backend_ops vmbus_backend_ops;
