/* Per-IC handlers for uio channels (vmbus_channel_fn), calling pvic/services.h. */
#pragma once
#include <stdbool.h>

#include "pvic/hostmsg.h"
#include "pvic/vmbus_channel.h"

struct pvicd;
struct vss_ops;
struct vmbus_ic_ctx;

/* VSS (ic_vss_service.c): a FREEZE or THAW is held until the freeze service reports,
 * which may be from the loop later. Each request gets a serial and its own callback
 * cookie, so a late report of a request the host has given up on (a second request
 * replaced it) never answers another one. */
#define VMBUS_VSS_TAGS 4u
struct vmbus_vss_tag {
        struct vmbus_ic_ctx *x;
        unsigned serial;
};
struct vmbus_ic_vss {
        const struct vss_ops *ops;
        bool awaiting;
        uint8_t operation;          /* of the request awaiting */
        unsigned serial, next_serial;
        uint32_t status;            /* a report that came before the handler returned */
        bool freeze_ended_early;    /* the last freeze ended by its lease or guard */
        struct vmbus_vss_tag freeze_tags[VMBUS_VSS_TAGS], thaw_tags[VMBUS_VSS_TAGS];
};

struct vmbus_ic_ctx {
        struct pvicd *d;
        /* Shutdown: the request waiting for its acknowledgement (the service may have to
         * ask logind about inhibitors first), to be answered when it comes. */
        bool awaiting_ack;
        enum host_status ack;
        struct vmbus_channel *channel;
        uint8_t *pending;
        size_t pending_len;
        uint64_t pending_trans_id;
        unsigned pending_generation;
        unsigned long long n_heartbeats;
        /* Large messages live here, not on the stack. */
        struct host_shutdown shutdown;
        struct host_kvp_request kvp_req;
        struct host_kvp_reply kvp_reply;
        struct vmbus_ic_vss vss;
};

void vmbus_ic_ctx_done(struct vmbus_ic_ctx *x);
/* A request answered later from the loop: kept with the channel generation and
 * transaction it came with, so the reply goes in place of the one the host waits for. */
int vmbus_ic_hold(struct vmbus_ic_ctx *x, struct vmbus_channel *c, const uint8_t *pkt, size_t len);
/* Sends the held request (already turned into its reply) on x->channel and frees it; the
 * channel drops it if it was reopened since (the host restarted and no longer waits). */
int vmbus_ic_send_held(struct vmbus_ic_ctx *x);
/* The VSS handler (vmbus_channel_fn contract): 1 reply in pkt, 0 held, -EBADMSG reset. */
int vmbus_ic_vss(struct vmbus_ic_ctx *x, struct vmbus_channel *c, uint8_t *pkt, size_t len);
int vmbus_ic_services_handle(struct vmbus_channel *c, uint8_t *pkt, size_t len, const struct vmbus_ic_header *h,
                             void *userdata);
