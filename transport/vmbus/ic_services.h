/* Per-IC handlers for uio channels (vmbus_channel_fn), calling pvic/services.h. */
#pragma once
#include <stdbool.h>

#include "pvic/hostmsg.h"
#include "pvic/vmbus_channel.h"

struct pvicd;

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
};

void vmbus_ic_ctx_done(struct vmbus_ic_ctx *x);
int vmbus_ic_services_handle(struct vmbus_channel *c, uint8_t *pkt, size_t len, const struct vmbus_ic_header *h,
                             void *userdata);
