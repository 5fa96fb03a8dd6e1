#include <errno.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

/* Offsets in the packet payload (§2.7, §3.1). */
enum {
        OFF_PIPE_TYPE = 0,
        OFF_PIPE_SIZE = 4,
        OFF_FRAME_MAJOR = 8,
        OFF_FRAME_MINOR = 10,
        OFF_MSGTYPE = 12,
        OFF_MSG_MAJOR = 14,
        OFF_MSG_MINOR = 16,
        OFF_MSGSIZE = 18,
        OFF_STATUS = 20,
        OFF_TRANSACTION = 24,
        OFF_FLAGS = 25,
};

/* Negotiate body offsets, from the IC body (§3.3). */
enum {
        NEG_FRAME_COUNT = 0,
        NEG_MSG_COUNT = 2,
        NEG_VERSIONS = 8,
        NEG_REPLY_SIZE = 16,
};

uint32_t vmbus_ic_status_to_hresult(enum host_status s) {
        switch (s) {
        case HOST_STATUS_OK:
                return VMBUS_IC_S_OK;
        case HOST_STATUS_NOT_FOUND:
                return VMBUS_IC_S_CONT;
        case HOST_STATUS_INVALID_ARG:
                return VMBUS_IC_INVALIDARG;
        case HOST_STATUS_NO_ADAPTER:
                return VMBUS_IC_GUID_NOTFOUND;
        case HOST_STATUS_NOT_SUPPORTED:
                return VMBUS_IC_ERROR_NOT_SUPPORTED;
        case HOST_STATUS_FAILED:
        default:
                return VMBUS_IC_E_FAIL;
        }
}

enum host_status vmbus_ic_status_from_hresult(uint32_t hr) {
        switch (hr) {
        case VMBUS_IC_S_OK:
                return HOST_STATUS_OK;
        case VMBUS_IC_S_CONT:
                return HOST_STATUS_NOT_FOUND;
        case VMBUS_IC_INVALIDARG:
                return HOST_STATUS_INVALID_ARG;
        case VMBUS_IC_GUID_NOTFOUND:
                return HOST_STATUS_NO_ADAPTER;
        case VMBUS_IC_ERROR_NOT_SUPPORTED:
                return HOST_STATUS_NOT_SUPPORTED;
        default:
                return HOST_STATUS_FAILED;
        }
}

int vmbus_ic_version_cmp(struct vmbus_ic_version a, struct vmbus_ic_version b) {
        if (a.major != b.major)
                return a.major < b.major ? -1 : 1;
        if (a.minor != b.minor)
                return a.minor < b.minor ? -1 : 1;
        return 0;
}

int vmbus_ic_header_decode(const uint8_t *pkt, size_t len, struct vmbus_ic_header *h) {
        if (len < VMBUS_IC_HDR_SIZE)
                return -EBADMSG;

        *h = (struct vmbus_ic_header) {
                .pipe_type = wire_get32(pkt + OFF_PIPE_TYPE),
                .pipe_size = wire_get32(pkt + OFF_PIPE_SIZE),
                .framever = VMBUS_IC_VERSION(wire_get16(pkt + OFF_FRAME_MAJOR),
                                             wire_get16(pkt + OFF_FRAME_MINOR)),
                .msgtype = wire_get16(pkt + OFF_MSGTYPE),
                .msgver = VMBUS_IC_VERSION(wire_get16(pkt + OFF_MSG_MAJOR),
                                           wire_get16(pkt + OFF_MSG_MINOR)),
                .msgsize = wire_get16(pkt + OFF_MSGSIZE),
                .status = wire_get32(pkt + OFF_STATUS),
                .transaction_id = pkt[OFF_TRANSACTION],
                .flags = pkt[OFF_FLAGS],
        };
        return 0;
}

void vmbus_ic_header_encode(uint8_t *pkt, const struct vmbus_ic_header *h) {
        wire_put32(pkt + OFF_PIPE_TYPE, h->pipe_type);
        wire_put32(pkt + OFF_PIPE_SIZE, h->pipe_size);
        wire_put16(pkt + OFF_FRAME_MAJOR, h->framever.major);
        wire_put16(pkt + OFF_FRAME_MINOR, h->framever.minor);
        wire_put16(pkt + OFF_MSGTYPE, h->msgtype);
        wire_put16(pkt + OFF_MSG_MAJOR, h->msgver.major);
        wire_put16(pkt + OFF_MSG_MINOR, h->msgver.minor);
        wire_put16(pkt + OFF_MSGSIZE, h->msgsize);
        wire_put32(pkt + OFF_STATUS, h->status);
        pkt[OFF_TRANSACTION] = h->transaction_id;
        pkt[OFF_FLAGS] = h->flags;
        wire_put16(pkt + 26, 0);
}

void vmbus_ic_set_reply(uint8_t *pkt, uint32_t status) {
        wire_put32(pkt + OFF_STATUS, status);
        pkt[OFF_FLAGS] = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_RESPONSE;
}

void vmbus_ic_reply_status(uint8_t *pkt, enum host_status s) {
        vmbus_ic_set_reply(pkt, vmbus_ic_status_to_hresult(s));
}

ssize_t vmbus_ic_request_encode(uint8_t *buf, size_t bufsize, const struct vmbus_ic_header *h,
                                const void *body, size_t body_len) {
        struct vmbus_ic_header hdr = *h;

        if (body_len > UINT16_MAX || VMBUS_IC_HDR_SIZE + body_len > VMBUS_IC_MAX_PAYLOAD)
                return -EMSGSIZE;
        if (bufsize < VMBUS_IC_HDR_SIZE + body_len)
                return -ENOBUFS;

        hdr.pipe_type = VMBUS_PIPE_DATA;
        hdr.pipe_size = (uint32_t)(VMBUS_IC_HDR_SIZE - VMBUS_PIPE_HDR_SIZE + body_len);
        hdr.msgsize = (uint16_t)body_len;
        vmbus_ic_header_encode(buf, &hdr);
        if (body_len > 0)
                memcpy(buf + VMBUS_IC_HDR_SIZE, body, body_len);
        return (ssize_t)(VMBUS_IC_HDR_SIZE + body_len);
}

/* Linux's lists (§3.3), newest first: the first one the host also offers wins.
 * Heartbeat adds 3.1, which Linux leaves out: it carries the application state, and the
 * point of answering from user space is to say whether the guest is healthy. */
static const struct vmbus_ic_version util_fw[] = { { 3, 0 }, { 1, 0 } };
static const struct vmbus_ic_version heartbeat_msg[] = { { 3, 1 }, { 3, 0 }, { 1, 0 } };
static const struct vmbus_ic_version shutdown_msg[] = { { 3, 2 }, { 3, 1 }, { 3, 0 }, { 1, 0 } };
static const struct vmbus_ic_version timesync_msg[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };
static const struct vmbus_ic_version kvp_msg[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };
/* VSS: Linux's hv_snapshot.c and MacHyperVSupport both offer framework 3.0 and message
 * 5.0 only (docs/vmbus.md "VSS"); 5.0 is the first version with FREEZE/THAW. */
static const struct vmbus_ic_version vss_fw[] = { { 3, 0 } };
static const struct vmbus_ic_version vss_msg[] = { { 5, 0 } };

#define VERSIONS(m) { util_fw, ELEMENTSOF(util_fw), m, ELEMENTSOF(m) }
const struct vmbus_ic_versions vmbus_ic_heartbeat_versions = VERSIONS(heartbeat_msg);
const struct vmbus_ic_versions vmbus_ic_shutdown_versions = VERSIONS(shutdown_msg);
const struct vmbus_ic_versions vmbus_ic_timesync_versions = VERSIONS(timesync_msg);
const struct vmbus_ic_versions vmbus_ic_kvp_versions = VERSIONS(kvp_msg);
const struct vmbus_ic_versions vmbus_ic_vss_versions = { vss_fw, ELEMENTSOF(vss_fw), vss_msg, ELEMENTSOF(vss_msg) };

const struct vmbus_ic_versions *vmbus_ic_versions_for(enum vmbus_ic_type t) {
        switch (t) {
        case VMBUS_IC_HEARTBEAT:
                return &vmbus_ic_heartbeat_versions;
        case VMBUS_IC_SHUTDOWN:
                return &vmbus_ic_shutdown_versions;
        case VMBUS_IC_TIMESYNC:
                return &vmbus_ic_timesync_versions;
        case VMBUS_IC_KVP:
                return &vmbus_ic_kvp_versions;
        case VMBUS_IC_VSS:
                return &vmbus_ic_vss_versions;
        default:
                return NULL;
        }
}

static bool pick(const uint8_t *offered, size_t n_offered, const struct vmbus_ic_version *ours,
                 size_t n_ours, struct vmbus_ic_version *ret) {
        for (size_t i = 0; i < n_ours; i++)
                for (size_t j = 0; j < n_offered; j++)
                        if (wire_get16(offered + 4 * j) == ours[i].major &&
                            wire_get16(offered + 4 * j + 2) == ours[i].minor) {
                                *ret = ours[i];
                                return true;
                        }
        return false;
}

int vmbus_ic_negotiate(uint8_t *pkt, size_t len, const struct vmbus_ic_versions *v,
                       struct vmbus_ic_version *ret_fw, struct vmbus_ic_version *ret_msg) {
        struct vmbus_ic_version fw = { 0 }, msg = { 0 };
        uint8_t *body = pkt + VMBUS_IC_HDR_SIZE;
        size_t n, m;
        bool ok;

        if (len < VMBUS_IC_HDR_SIZE || wire_get16(pkt + OFF_MSGTYPE) != VMBUS_IC_NEGOTIATE)
                return -EBADMSG;
        if (len < VMBUS_IC_HDR_SIZE + 4) {
                /* No room even for the counts: nothing to rewrite but the verdict. */
                vmbus_ic_set_reply(pkt, VMBUS_IC_E_FAIL);
                return 0;
        }

        n = wire_get16(body + NEG_FRAME_COUNT);
        m = wire_get16(body + NEG_MSG_COUNT);
        ok = n <= VMBUS_IC_NEGOTIATE_MAX_COUNT && m <= VMBUS_IC_NEGOTIATE_MAX_COUNT &&
             VMBUS_IC_HDR_SIZE + NEG_VERSIONS + 4 * (n + m) <= len &&
             pick(body + NEG_VERSIONS, n, v->fw, v->n_fw, &fw) &&
             pick(body + NEG_VERSIONS + 4 * n, m, v->msg, v->n_msg, &msg);

        wire_put16(pkt + OFF_MSGSIZE, NEG_REPLY_SIZE);
        wire_put16(body + NEG_FRAME_COUNT, ok ? 1 : 0);
        wire_put16(body + NEG_MSG_COUNT, ok ? 1 : 0);
        /* A match implies n, m >= 1, so both version slots lie inside the request. On
         * failure the host ignores the slots; clear them only where they exist. */
        if (len >= VMBUS_IC_HDR_SIZE + NEG_REPLY_SIZE) {
                wire_put16(body + NEG_VERSIONS, fw.major);
                wire_put16(body + NEG_VERSIONS + 2, fw.minor);
                wire_put16(body + NEG_VERSIONS + 4, msg.major);
                wire_put16(body + NEG_VERSIONS + 6, msg.minor);
        }
        vmbus_ic_set_reply(pkt, ok ? VMBUS_IC_S_OK : VMBUS_IC_E_FAIL);

        if (!ok)
                return 0;
        if (ret_fw)
                *ret_fw = fw;
        if (ret_msg)
                *ret_msg = msg;
        return 1;
}

ssize_t vmbus_ic_negotiate_request(uint8_t *buf, size_t bufsize,
                                   const struct vmbus_ic_version *fw, size_t n_fw,
                                   const struct vmbus_ic_version *msg, size_t n_msg) {
        uint8_t body[NEG_VERSIONS + 4 * 2 * VMBUS_IC_NEGOTIATE_MAX_COUNT] = { 0 };
        struct vmbus_ic_header h = {
                .msgtype = VMBUS_IC_NEGOTIATE,
                .flags = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST,
        };
        uint8_t *p = body + NEG_VERSIONS;

        if (n_fw > VMBUS_IC_NEGOTIATE_MAX_COUNT || n_msg > VMBUS_IC_NEGOTIATE_MAX_COUNT)
                return -EINVAL;

        wire_put16(body + NEG_FRAME_COUNT, (uint16_t)n_fw);
        wire_put16(body + NEG_MSG_COUNT, (uint16_t)n_msg);
        for (size_t i = 0; i < n_fw; i++, p += 4) {
                wire_put16(p, fw[i].major);
                wire_put16(p + 2, fw[i].minor);
        }
        for (size_t i = 0; i < n_msg; i++, p += 4) {
                wire_put16(p, msg[i].major);
                wire_put16(p + 2, msg[i].minor);
        }
        return vmbus_ic_request_encode(buf, bufsize, &h, body, (size_t)(p - body));
}

int vmbus_ic_negotiate_reply_decode(const uint8_t *pkt, size_t len,
                                    struct vmbus_ic_version *ret_fw,
                                    struct vmbus_ic_version *ret_msg) {
        struct vmbus_ic_header h;
        const uint8_t *body = pkt + VMBUS_IC_HDR_SIZE;
        int r;

        r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        if (h.msgtype != VMBUS_IC_NEGOTIATE || !(h.flags & VMBUS_ICMSGHDRFLAG_RESPONSE) ||
            len < VMBUS_IC_HDR_SIZE + 4)
                return -EBADMSG;
        if (h.status != VMBUS_IC_S_OK || wire_get16(body + NEG_FRAME_COUNT) != 1 ||
            wire_get16(body + NEG_MSG_COUNT) != 1)
                return 0;
        if (len < VMBUS_IC_HDR_SIZE + NEG_REPLY_SIZE)
                return -EBADMSG;

        if (ret_fw)
                *ret_fw = VMBUS_IC_VERSION(wire_get16(body + NEG_VERSIONS),
                                           wire_get16(body + NEG_VERSIONS + 2));
        if (ret_msg)
                *ret_msg = VMBUS_IC_VERSION(wire_get16(body + NEG_VERSIONS + 4),
                                            wire_get16(body + NEG_VERSIONS + 6));
        return 1;
}
