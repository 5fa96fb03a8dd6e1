/* Every IC decoder and in-place reply builder over an arbitrary packet payload, at the
 * exact length given (ASan catches any byte touched past it). Replies must keep the
 * reply rules: same length, icflags exactly TRANSACTION|RESPONSE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/freeze.h"
#include "pvic/vmbus_ic.h"

static const struct vmbus_ic_version versions[] = { { 1, 0 }, { 3, 0 }, { 3, 1 }, { 3, 2 }, { 4, 0 } };

static uint8_t *dup_exact(const uint8_t *data, size_t size) {
        uint8_t *p = malloc(size ? size : 1);
        if (!p)
                abort();
        memcpy(p, data, size);
        return p;
}

static void check_reply(const uint8_t *p, size_t size) {
        if (size >= VMBUS_IC_HDR_SIZE && p[25] != (VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_RESPONSE))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct vmbus_ic_header h;
        struct vmbus_ic_version ver, fw, msg;
        struct host_heartbeat hb;
        struct host_time_sample ts;
        static struct host_shutdown sd;
        static struct host_kvp_request req;
        static struct host_kvp_reply rep;
        uint8_t *p;
        int r;

        if (size < 1 || size > VMBUS_IC_MAX_PAYLOAD)
                return 0;
        ver = versions[data[0] % 5];
        data++;
        size--;

        (void) vmbus_ic_header_decode(data, size, &h);

        for (int t = VMBUS_IC_HEARTBEAT; t <= VMBUS_IC_VSS; t++) {
                p = dup_exact(data, size);
                r = vmbus_ic_negotiate(p, size, vmbus_ic_versions_for(t), &fw, &msg);
                if (r >= 0)
                        check_reply(p, size);
                if (r == 1 && (vmbus_ic_negotiate_reply_decode(p, size, &ver, &msg) != 1 ||
                               vmbus_ic_version_cmp(ver, fw) != 0))
                        abort();
                free(p);
        }

        p = dup_exact(data, size);
        if (vmbus_ic_heartbeat_decode(p, size, &hb) == 0) {
                if (vmbus_ic_heartbeat_reply(p, size, ver, &hb, HOST_APP_HEALTHY) < 0)
                        abort();
                check_reply(p, size);
        }
        free(p);

        p = dup_exact(data, size);
        if (vmbus_ic_shutdown_decode(p, size, &sd) == 0 && strlen(sd.message) >= sizeof sd.message)
                abort();
        free(p);

        p = dup_exact(data, size);
        (void) vmbus_ic_timesync_decode(p, size, VMBUS_IC_VERSION(3, 0), &ts);
        (void) vmbus_ic_timesync_decode(p, size, VMBUS_IC_VERSION(4, 0), &ts);
        free(p);

        p = dup_exact(data, size);
        struct vmbus_ic_vss_request vss;
        r = vmbus_ic_vss_decode(p, size, &vss);
        if (r == 0 || r == -EOPNOTSUPP) {
                /* Whatever the operation, the reply keeps the rules, and a HOT_BACKUP
                 * answered ok carries the no-auto-recovery flags back. */
                uint32_t st, fl;
                r = vmbus_ic_vss_reply(p, size, vss.operation, VMBUS_IC_S_OK);
                check_reply(p, size);
                if (vmbus_ic_vss_reply_decode(p, size, &st, &fl) < 0)
                        abort();
                if (r == 0 && vss.operation == VSS_OP_HOT_BACKUP && (st != 0 || fl != VSS_HBU_NO_AUTO_RECOVERY))
                        abort();
        }
        free(p);

        p = dup_exact(data, size);
        if (vmbus_ic_kvp_decode(p, size, &req) == 0) {
                /* Echo what was asked: exercises every reply encoder with host text. */
                memset(&rep, 0, sizeof rep);
                rep.status = size % 2 ? HOST_STATUS_OK : HOST_STATUS_NOT_FOUND;
                memcpy(rep.key, req.key, sizeof rep.key);
                memcpy(rep.value, req.value, sizeof rep.value);
                rep.ip = req.ip;
                r = vmbus_ic_kvp_reply(p, size, &rep);
                check_reply(p, size);
                if (r >= 0 && rep.status == HOST_STATUS_OK &&
                    vmbus_ic_kvp_reply_decode(p, size, &rep) == -EBADMSG)
                        abort();
        }
        free(p);
        return 0;
}
