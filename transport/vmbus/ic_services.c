/* What each uio-owned IC does with a decoded host message: the services of
 * include/pvic/services.h, answered in place (spec §4; Linux's hv_utils behaviour where
 * the spec leaves a choice). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ic_services.h"
#include "pvic/log.h"
#include "pvic/macro.h"
#include "pvic/services.h"

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static int heartbeat(struct vmbus_ic_ctx *x, struct vmbus_channel *c, uint8_t *pkt, size_t len) {
        struct host_heartbeat hb;
        if (vmbus_ic_heartbeat_decode(pkt, len, &hb) < 0)
                return -EBADMSG;
        /* Answered from the loop: the answer itself is the liveness the host sees. */
        enum host_app_state st = pvicd_heartbeat(x->d, &hb);
        if (vmbus_ic_heartbeat_reply(pkt, len, vmbus_channel_msgver(c), &hb, st) < 0)
                return -EBADMSG;
        x->n_heartbeats++;
        return 1;
}

int vmbus_ic_hold(struct vmbus_ic_ctx *x, struct vmbus_channel *c, const uint8_t *pkt, size_t len) {
        x->pending = malloc(len);
        if (!x->pending)
                return -ENOMEM;
        memcpy(x->pending, pkt, len);
        x->pending_len = len;
        x->pending_trans_id = vmbus_channel_trans_id(c);
        x->pending_generation = vmbus_channel_generation(c);
        return 0;
}

int vmbus_ic_send_held(struct vmbus_ic_ctx *x) {
        int k = vmbus_channel_send_reply(x->channel, x->pending_generation, x->pending_trans_id, x->pending,
                                         x->pending_len);
        x->pending = mfree(x->pending);
        return k;
}

static void shutdown_report(const struct shutdown_report *r, void *userdata) {
        struct vmbus_ic_ctx *x = userdata;
        log_info("vmbus shutdown: %s", r->text ? r->text : shutdown_state_to_string(r->state));
        if (!x->awaiting_ack)
                return;
        x->awaiting_ack = false;
        x->ack = shutdown_report_host_status(r);
        if (!x->pending)
                return; /* acknowledged while we were still in the handler */
        /* Reply first, then act: the service acts only after this returns (§3.2). */
        vmbus_ic_reply_status(x->pending, x->ack);
        int k = vmbus_ic_send_held(x);
        if (k < 0)
                log_warning_errno(k, "vmbus shutdown: the acknowledgement could not be sent: %m");
}

static int do_shutdown(struct vmbus_ic_ctx *x, struct vmbus_channel *c, uint8_t *pkt, size_t len) {
        struct host_shutdown *req = &x->shutdown;
        int r = vmbus_ic_shutdown_decode(pkt, len, req);
        if (r == -EOPNOTSUPP) {
                log_warning("vmbus shutdown: request with unknown flags refused");
                vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                return 1;
        }
        if (r < 0)
                return -EBADMSG;
        if (x->awaiting_ack) {
                /* The host sends one request at a time; a second before our answer is
                 * a confused host. Fail the old one's wait, answer the new one. */
                log_warning("vmbus shutdown: new request before the last was acknowledged");
                x->pending = mfree(x->pending);
        }
        x->channel = c;
        x->awaiting_ack = true;
        x->ack = HOST_STATUS_FAILED;
        r = pvicd_shutdown(x->d, req, shutdown_report, x);
        if (r < 0) {
                x->awaiting_ack = false;
                vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                return 1;
        }
        if (!x->awaiting_ack) {
                vmbus_ic_reply_status(pkt, x->ack);
                return 1;
        }
        /* Acknowledged later from the loop. */
        if (vmbus_ic_hold(x, c, pkt, len) < 0) {
                x->awaiting_ack = false;
                vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                return 1;
        }
        return 0;
}

void vmbus_ic_ctx_done(struct vmbus_ic_ctx *x) {
        x->pending = mfree(x->pending);
        x->awaiting_ack = false;
        x->vss.awaiting = false;
}

static int timesync(struct vmbus_ic_ctx *x, struct vmbus_channel *c, uint8_t *pkt, size_t len) {
        struct host_time_sample s;
        struct tsync_rx rx;
        pvicd_time_rx_now(x->d, &rx);
        int r = vmbus_ic_timesync_decode(pkt, len, vmbus_channel_msgver(c), &s);
        if (r == -ERANGE)
                /* Linux answers every time message; an absurd time is just not used. */
                log_warning("vmbus timesync: host time out of range; sample dropped");
        else if (r < 0)
                return -EBADMSG;
        else
                pvicd_time_sample(x->d, &s, &rx);
        vmbus_ic_reply_status(pkt, HOST_STATUS_OK);
        return 1;
}

static int kvp(struct vmbus_ic_ctx *x, uint8_t *pkt, size_t len) {
        int r = vmbus_ic_kvp_decode(pkt, len, &x->kvp_req);
        if (r == -EBADMSG && len < VMBUS_IC_HDR_SIZE + 4)
                return -EBADMSG;
        if (r < 0) {
                log_warning_errno(r, "vmbus kvp: undecodable request: %m; failing it");
                vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                return 1;
        }
        memset(&x->kvp_reply, 0, sizeof x->kvp_reply);
        pvicd_kvp(x->d, &x->kvp_req, &x->kvp_reply);
        r = vmbus_ic_kvp_reply(pkt, len, &x->kvp_reply);
        if (r < 0)
                log_warning_errno(r, "vmbus kvp: reply cannot be encoded: %m; failed instead");
        return 1;
}

int vmbus_ic_services_handle(struct vmbus_channel *c, uint8_t *pkt, size_t len, const struct vmbus_ic_header *h,
                             void *userdata) {
        struct vmbus_ic_ctx *x = userdata;
        switch (h->msgtype) {
        case VMBUS_IC_HEARTBEAT:
                return heartbeat(x, c, pkt, len);
        case VMBUS_IC_SHUTDOWN:
                return do_shutdown(x, c, pkt, len);
        case VMBUS_IC_TIMESYNC:
                return timesync(x, c, pkt, len);
        case VMBUS_IC_KVP:
                return kvp(x, pkt, len);
        case VMBUS_IC_VSS:
                return vmbus_ic_vss(x, c, pkt, len);
        default:
                vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                return 1;
        }
}
