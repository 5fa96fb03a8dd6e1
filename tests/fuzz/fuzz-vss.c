/* libFuzzer target: the VSS message decoder (freeze/freeze-vss-msg.c), the only bytes
 * pvicd takes from /dev/vmbus/hv_vss. The input is a stream of messages, each a length
 * byte then that many bytes, decoded as the relay does: the first one as the kernel's
 * registration answer, the rest as requests; every reply is checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/freeze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        bool handshake = true;
        size_t off = 0;

        while (off < size) {
                size_t len = data[off++];
                if (len > size - off)
                        len = size - off;
                /* An exact copy: the decoder must not read past what it was given. */
                uint8_t *msg = malloc(len ? len : 1);
                if (!msg)
                        return 0;
                memcpy(msg, data + off, len);
                off += len;

                struct vss_request req;
                enum vss_action a = vss_decode(msg, len, handshake, &req);
                if (a != req.action)
                        abort();
                if (handshake) {
                        if ((len == 4) != (a == VSS_ACTION_VERSION))
                                abort();
                        if (a == VSS_ACTION_VERSION) {
                                if (req.version != le32(msg))
                                        abort();
                                handshake = false;
                        }
                } else if ((len == VSS_MSG_SIZE) == (a == VSS_ACTION_INVALID)) {
                        abort();
                } else if (a != VSS_ACTION_INVALID) {
                        if (req.operation != msg[0] || req.flags != le32(msg + 8))
                                abort();
                        if ((a == VSS_ACTION_FREEZE) != (msg[0] == VSS_OP_FREEZE) ||
                            (a == VSS_ACTION_THAW) != (msg[0] == VSS_OP_THAW) ||
                            (a == VSS_ACTION_HOT_BACKUP) != (msg[0] == VSS_OP_HOT_BACKUP))
                                abort();
                        uint8_t out[VSS_MSG_SIZE];
                        uint32_t err = len > 1 && (msg[1] & 1) ? VSS_HV_E_FAIL : VSS_HV_S_OK;
                        vss_encode_reply(&req, err, out);
                        if (le32(out) != err)
                                abort();
                        if (le32(out + 8) != (a == VSS_ACTION_HOT_BACKUP ? VSS_HBU_NO_AUTO_RECOVERY : 0))
                                abort();
                        for (int i = 4; i < 8; i++)
                                if (out[i])
                                        abort();
                }
                free(msg);
        }
        return 0;
}
