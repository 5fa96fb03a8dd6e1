/* The VSS IC body on the ring (docs/vmbus.md "VSS"). Only the operation and the flags
 * word are read or written; the rest of what the host sends (snapshot set ids, LUN
 * lists) is echoed untouched, as both known guest implementations do. */
#include <errno.h>
#include <stdlib.h>

#include "pvic/freeze.h"
#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

/* Body offsets. */
enum {
        VSS_OPERATION = 0,
        VSS_FLAGS = 8,
};

int vmbus_ic_vss_decode(const uint8_t *pkt, size_t len, struct vmbus_ic_vss_request *ret) {
        struct vmbus_ic_header h;
        int r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        if (h.msgtype != VMBUS_IC_VSS || len < VMBUS_IC_HDR_SIZE + VMBUS_IC_VSS_MIN_BODY)
                return -EBADMSG;
        const uint8_t *body = pkt + VMBUS_IC_HDR_SIZE;
        *ret = (struct vmbus_ic_vss_request) {
                .operation = body[VSS_OPERATION],
                .flags = len >= VMBUS_IC_HDR_SIZE + VMBUS_IC_VSS_BODY ? wire_get32(body + VSS_FLAGS) : 0,
        };
        /* 8 (cluster information) and above belong to message versions we never
         * negotiate; nothing says what answering them "ok" would promise. */
        return ret->operation > VSS_OP_AUTO_RECOVER ? -EOPNOTSUPP : 0;
}

int vmbus_ic_vss_reply(uint8_t *pkt, size_t len, uint8_t operation, uint32_t status) {
        bool has_flags = operation == VSS_OP_HOT_BACKUP || operation == VSS_OP_GET_DM_INFO;
        if (len < VMBUS_IC_HDR_SIZE)
                return -EBADMSG;
        if (has_flags && len < VMBUS_IC_HDR_SIZE + VMBUS_IC_VSS_BODY) {
                /* The host reads the answer from the flags word: without one, "ok" would
                 * tell it nothing (MacHyperVSupport fails such a HOT_BACKUP too). */
                vmbus_ic_set_reply(pkt, VMBUS_IC_E_FAIL);
                return -EMSGSIZE;
        }
        /* No auto-recovery: a snapshot of frozen filesystems needs no fix-up; no
         * direct-mapped devices to report. */
        if (operation == VSS_OP_HOT_BACKUP)
                wire_put32(pkt + VMBUS_IC_HDR_SIZE + VSS_FLAGS, VSS_HBU_NO_AUTO_RECOVERY);
        else if (operation == VSS_OP_GET_DM_INFO)
                wire_put32(pkt + VMBUS_IC_HDR_SIZE + VSS_FLAGS, 0);
        vmbus_ic_set_reply(pkt, status);
        return 0;
}

ssize_t vmbus_ic_vss_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver, uint8_t operation,
                             size_t body_len) {
        struct vmbus_ic_header h = {
                .framever = VMBUS_IC_VERSION(3, 0),
                .msgtype = VMBUS_IC_VSS,
                .msgver = msgver,
                .flags = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST,
        };
        if (body_len < VMBUS_IC_VSS_MIN_BODY || body_len > VMBUS_IC_MAX_PAYLOAD)
                return -EMSGSIZE;
        uint8_t *body = calloc(1, body_len);
        if (!body)
                return -ENOMEM;
        body[VSS_OPERATION] = operation;
        ssize_t n = vmbus_ic_request_encode(buf, bufsize, &h, body, body_len);
        free(body);
        return n;
}

int vmbus_ic_vss_reply_decode(const uint8_t *pkt, size_t len, uint32_t *ret_status, uint32_t *ret_flags) {
        struct vmbus_ic_header h;
        int r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        if (h.msgtype != VMBUS_IC_VSS || !(h.flags & VMBUS_ICMSGHDRFLAG_RESPONSE))
                return -EBADMSG;
        *ret_status = h.status;
        if (ret_flags)
                *ret_flags = len >= VMBUS_IC_HDR_SIZE + VMBUS_IC_VSS_BODY ? wire_get32(pkt + VMBUS_IC_HDR_SIZE + VSS_FLAGS)
                                                                           : 0;
        return 0;
}
