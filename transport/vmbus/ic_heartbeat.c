#include <errno.h>

#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

/* Body offsets (§4.1). */
enum {
        HB_SEQ = 0,
        HB_APP_STATE = 8,
};

int vmbus_ic_heartbeat_decode(const uint8_t *pkt, size_t len, struct host_heartbeat *ret) {
        struct vmbus_ic_header h;
        int r;

        r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        /* Hosts do not always send the full body; the sequence is all that matters. */
        if (h.msgtype != VMBUS_IC_HEARTBEAT || len < VMBUS_IC_HDR_SIZE + VMBUS_IC_HEARTBEAT_MIN_BODY)
                return -EBADMSG;

        ret->sequence = wire_get64(pkt + VMBUS_IC_HDR_SIZE + HB_SEQ);
        return 0;
}

int vmbus_ic_heartbeat_reply(uint8_t *pkt, size_t len, struct vmbus_ic_version msgver,
                             const struct host_heartbeat *hb, enum host_app_state state) {
        if (len < VMBUS_IC_HDR_SIZE + VMBUS_IC_HEARTBEAT_MIN_BODY)
                return -EBADMSG;

        /* The host judges health by seeing its sequence come back incremented. */
        wire_put64(pkt + VMBUS_IC_HDR_SIZE + HB_SEQ, hb->sequence + 1);
        if (vmbus_ic_version_cmp(msgver, VMBUS_IC_VERSION(3, 1)) >= 0 &&
            len >= VMBUS_IC_HDR_SIZE + HB_APP_STATE + 4)
                wire_put32(pkt + VMBUS_IC_HDR_SIZE + HB_APP_STATE, (uint32_t)state);
        vmbus_ic_set_reply(pkt, VMBUS_IC_S_OK);
        return 0;
}

ssize_t vmbus_ic_heartbeat_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                                   uint64_t sequence) {
        uint8_t body[VMBUS_IC_HEARTBEAT_BODY] = { 0 };
        struct vmbus_ic_header h = {
                .framever = VMBUS_IC_VERSION(3, 0),
                .msgtype = VMBUS_IC_HEARTBEAT,
                .msgver = msgver,
                .flags = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST,
        };

        wire_put64(body + HB_SEQ, sequence);
        return vmbus_ic_request_encode(buf, bufsize, &h, body, sizeof body);
}

int vmbus_ic_heartbeat_reply_decode(const uint8_t *pkt, size_t len, uint64_t *ret_seq,
                                    uint32_t *ret_app_state) {
        struct vmbus_ic_header h;
        int r;

        r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        if (h.msgtype != VMBUS_IC_HEARTBEAT || !(h.flags & VMBUS_ICMSGHDRFLAG_RESPONSE) ||
            len < VMBUS_IC_HDR_SIZE + VMBUS_IC_HEARTBEAT_MIN_BODY)
                return -EBADMSG;

        *ret_seq = wire_get64(pkt + VMBUS_IC_HDR_SIZE + HB_SEQ);
        if (ret_app_state)
                *ret_app_state = len >= VMBUS_IC_HDR_SIZE + HB_APP_STATE + 4 ?
                        wire_get32(pkt + VMBUS_IC_HDR_SIZE + HB_APP_STATE) : 0;
        return h.status == VMBUS_IC_S_OK ? 0 : -EPROTO;
}
