#include <errno.h>
#include <string.h>

#include "pvic/utf16.h"
#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

/* Body offsets (§4.2). */
enum {
        SD_REASON = 0,
        SD_TIMEOUT = 4,
        SD_FLAGS = 8,
        SD_MESSAGE = 12,
        SD_MESSAGE_SIZE = 2048,
};

int vmbus_ic_shutdown_decode(const uint8_t *pkt, size_t len, struct host_shutdown *ret) {
        const uint8_t *body = pkt + VMBUS_IC_HDR_SIZE;
        struct vmbus_ic_header h;
        uint32_t flags;
        ssize_t n;
        int r;

        r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        /* Linux drops a shorter shutdown request without answering; so do we. */
        if (h.msgtype != VMBUS_IC_SHUTDOWN || len < VMBUS_IC_HDR_SIZE + VMBUS_IC_SHUTDOWN_BODY)
                return -EBADMSG;

        flags = wire_get32(body + SD_FLAGS);
        *ret = (struct host_shutdown) {
                .force = flags & VMBUS_IC_SHUTDOWN_FLAG_FORCE,
                .timeout_sec = wire_get32(body + SD_TIMEOUT),
                .reason_code = wire_get32(body + SD_REASON),
        };
        /* Exact values, as the kernel's table: restart and hibernate are exclusive, any
         * other bit is a request we do not understand. */
        switch (flags & ~VMBUS_IC_SHUTDOWN_FLAG_FORCE) {
        case 0:
                ret->action = HOST_SHUTDOWN_POWEROFF;
                break;
        case VMBUS_IC_SHUTDOWN_FLAG_RESTART:
                ret->action = HOST_SHUTDOWN_REBOOT;
                break;
        case VMBUS_IC_SHUTDOWN_FLAG_HIBERNATE:
                ret->action = HOST_SHUTDOWN_HIBERNATE;
                break;
        default:
                return -EOPNOTSUPP;
        }

        /* The text is only for display: a malformed one must not stop the shutdown. */
        n = utf16_to_utf8(ret->message, sizeof ret->message, body + SD_MESSAGE, SD_MESSAGE_SIZE / 2);
        if (n < 0)
                ret->message[0] = '\0';
        return 0;
}

ssize_t vmbus_ic_shutdown_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                                  uint32_t reason_code, uint32_t timeout_sec, uint32_t flags,
                                  const char *message) {
        uint8_t body[VMBUS_IC_SHUTDOWN_BODY] = { 0 };
        struct vmbus_ic_header h = {
                .framever = VMBUS_IC_VERSION(3, 0),
                .msgtype = VMBUS_IC_SHUTDOWN,
                .msgver = msgver,
                .flags = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST,
        };

        wire_put32(body + SD_REASON, reason_code);
        wire_put32(body + SD_TIMEOUT, timeout_sec);
        wire_put32(body + SD_FLAGS, flags);
        if (message) {
                ssize_t n = utf8_to_utf16(body + SD_MESSAGE, SD_MESSAGE_SIZE / 2, message, strlen(message));
                if (n < 0)
                        return n;
        }
        return vmbus_ic_request_encode(buf, bufsize, &h, body, sizeof body);
}
