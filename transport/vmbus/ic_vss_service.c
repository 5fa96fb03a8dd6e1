/* The VSS IC over uio (docs/vmbus.md "VSS", docs/freeze.md): what Linux's hv_snapshot.c
 * and the daemon behind it do together, in one place. FREEZE and THAW go to the freeze
 * service through the relay's own vss_ops and are answered when it reports (possibly
 * later, from the loop), with the relay's status rule (vss_status_for); HOT_BACKUP is
 * answered at once "no auto-recovery" (answering from the loop is the liveness the
 * kernel asks its daemon for); GET_DM_INFO and the rest "ok", as Linux does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ic_services.h"
#include "pvic/freeze.h"
#include "pvic/log.h"

static const char *op_name(uint8_t op) {
        return op == VSS_OP_FREEZE ? "freeze" : op == VSS_OP_THAW ? "thaw" : "request";
}

/* Sends the held request's reply with status; the channel drops it if it was reopened
 * since (the host restarted the protocol and no longer waits). */
static void answer_held(struct vmbus_ic_ctx *x, uint32_t status) {
        struct vmbus_ic_vss *v = &x->vss;
        v->awaiting = false;
        if (!x->pending)
                return;
        (void)vmbus_ic_vss_reply(x->pending, x->pending_len, v->operation, status);
        int k = vmbus_ic_send_held(x);
        if (k < 0)
                log_warning_errno(k, "vmbus vss: the %s answer could not be sent: %m", op_name(v->operation));
}

static void on_report(struct vmbus_vss_tag *t, uint8_t op, const char *state, const char *mounts) {
        struct vmbus_ic_ctx *x = t->x;
        struct vmbus_ic_vss *v = &x->vss;
        if (!v->awaiting || v->operation != op || v->serial != t->serial) {
                /* Nobody waits: a freeze ended by its lease or guard (the host's late THAW
                 * must then fail), or the outcome of a request the host replaced. */
                if (op == VSS_OP_FREEZE && strncmp(state, "frozen", 6) != 0) {
                        v->freeze_ended_early = true;
                        log_warning("vmbus vss: the freeze ended before the host's thaw (%s)", state);
                } else
                        log_info("vmbus vss: %s: %s, with no request waiting", op_name(op), state);
                return;
        }
        log_info("vmbus vss: %s: %s %s", op_name(op), state, mounts);
        uint32_t st = vss_status_for(op == VSS_OP_FREEZE ? VSS_ACTION_FREEZE : VSS_ACTION_THAW, state,
                                     v->freeze_ended_early);
        if (!x->pending) {
                /* Reported before the handler returned: it answers in place. */
                v->awaiting = false;
                v->status = st;
                return;
        }
        answer_held(x, st);
}

static void on_freeze_report(const char *state, const char *mounts, void *userdata) {
        on_report(userdata, VSS_OP_FREEZE, state, mounts);
}

static void on_thaw_report(const char *state, const char *mounts, void *userdata) {
        on_report(userdata, VSS_OP_THAW, state, mounts);
}

static int freeze_or_thaw(struct vmbus_ic_ctx *x, struct vmbus_channel *c, uint8_t *pkt, size_t len, uint8_t op) {
        struct vmbus_ic_vss *v = &x->vss;
        v->awaiting = true;
        v->operation = op;
        v->serial = ++v->next_serial;
        v->status = VMBUS_IC_E_FAIL;
        x->channel = c;
        struct vmbus_vss_tag *t = &(op == VSS_OP_FREEZE ? v->freeze_tags : v->thaw_tags)[v->serial % VMBUS_VSS_TAGS];
        *t = (struct vmbus_vss_tag){ .x = x, .serial = v->serial };
        int k = -ENOTSUP;
        if (op == VSS_OP_FREEZE) {
                v->freeze_ended_early = false;
                if (v->ops)
                        k = v->ops->freeze(v->ops->userdata, VSS_LEASE_SEC, on_freeze_report, t);
        } else if (v->ops)
                k = v->ops->thaw(v->ops->userdata, on_thaw_report, t);
        if (k < 0) {
                log_warning_errno(k, "vmbus vss: %s could not start: %m", op_name(op));
                v->awaiting = false;
        }
        if (!v->awaiting) {
                vmbus_ic_vss_reply(pkt, len, op, k < 0 ? VMBUS_IC_E_FAIL : v->status);
                return 1;
        }
        /* Held until the report: the host waits (the kernel gives a FREEZE 15 minutes). */
        if (vmbus_ic_hold(x, c, pkt, len) < 0) {
                v->awaiting = false;
                vmbus_ic_vss_reply(pkt, len, op, VMBUS_IC_E_FAIL);
                return 1;
        }
        return 0;
}

int vmbus_ic_vss(struct vmbus_ic_ctx *x, struct vmbus_channel *c, uint8_t *pkt, size_t len) {
        struct vmbus_ic_vss_request q;
        int r = vmbus_ic_vss_decode(pkt, len, &q);
        if (r == -EOPNOTSUPP) {
                log_warning("vmbus vss: unknown operation %u refused", q.operation);
                vmbus_ic_vss_reply(pkt, len, q.operation, VMBUS_IC_E_FAIL);
                return 1;
        }
        if (r < 0)
                return -EBADMSG;
        if (x->vss.awaiting) {
                /* One transaction at a time (hv_snapshot.c); a second before our answer
                 * means the host gave up on the first: fail it, serve the new one. */
                log_warning("vmbus vss: operation %u before the %s was answered; failing that one", q.operation,
                            op_name(x->vss.operation));
                answer_held(x, VMBUS_IC_E_FAIL);
        }
        if (q.operation == VSS_OP_FREEZE || q.operation == VSS_OP_THAW)
                return freeze_or_thaw(x, c, pkt, len, q.operation);
        log_debug("vmbus vss: operation %u answered ok", q.operation);
        if (vmbus_ic_vss_reply(pkt, len, q.operation, VMBUS_IC_S_OK) < 0)
                log_warning("vmbus vss: operation %u too short for its answer; failed", q.operation);
        return 1;
}
