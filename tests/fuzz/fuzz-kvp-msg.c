/* The /dev/vmbus/hv_kvp message decoder over arbitrary bytes, and the reply encoder fed
 * with whatever the decoder accepted: no access outside the 7432 bytes, every accepted
 * string is valid UTF-8 that fits its typed field, every reply decodes back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/kvp_msg.h"
#include "pvic/utf16.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct host_kvp_request req;
        static struct host_kvp_reply rep, back;
        static uint8_t out[KVP_MSG_SIZE];
        char version[64];
        uint8_t *msg;
        int r;

        if (size > 2 * KVP_MSG_SIZE)
                return 0;
        msg = malloc(size ? size : 1);
        if (!msg)
                abort();
        memcpy(msg, data, size);

        (void) kvp_msg_decode_register(msg, size);
        r = kvp_msg_decode(msg, size, &req, version, sizeof version);
        if (r == KVP_MSG_REQUEST) {
                if (utf8_validate(req.key, strlen(req.key)) < 0 ||
                    utf8_validate(req.value, strlen(req.value)) < 0)
                        abort();
                memset(&rep, 0, sizeof rep);
                rep.status = HOST_STATUS_OK;
                memcpy(rep.key, req.key, sizeof rep.key);
                memcpy(rep.value, req.key, sizeof rep.value);
                rep.ip = req.ip;
                r = kvp_msg_encode_reply(out, req.op, &rep);
                if (r < 0)
                        abort(); /* accepted text is valid UTF-8, so it always encodes */
                if (kvp_msg_decode_reply(out, sizeof out, req.op, &back) < 0)
                        abort();
        } else if (r == KVP_MSG_REGISTERED && strlen(version) >= sizeof version)
                abort();

        /* The same bytes as a daemon's reply, read by the kernel side. */
        for (int op = HOST_KVP_GET; op <= HOST_KVP_SET_IP_INFO; op++)
                (void) kvp_msg_decode_reply(msg, size, op, &back);

        free(msg);
        return 0;
}
