/* hv_vss_msg (linux/hyperv.h), the only bytes pvicd takes from the VSS device. Fixed
 * size, little endian like the kernel that writes it; anything else is refused. */
#include <string.h>

#include "pvic/freeze.h"

static uint32_t le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

enum vss_action vss_decode(const void *buf, size_t len, bool in_handshake, struct vss_request *ret) {
        const uint8_t *p = buf;
        *ret = (struct vss_request){ .action = VSS_ACTION_INVALID };
        if (in_handshake) {
                if (len != sizeof(uint32_t))
                        return VSS_ACTION_INVALID;
                ret->version = le32(p);
                return ret->action = VSS_ACTION_VERSION;
        }
        if (len != VSS_MSG_SIZE)
                return VSS_ACTION_INVALID;
        ret->operation = p[0];
        ret->flags = le32(p + 8);
        switch (p[0]) {
        case VSS_OP_FREEZE: ret->action = VSS_ACTION_FREEZE; break;
        case VSS_OP_THAW: ret->action = VSS_ACTION_THAW; break;
        case VSS_OP_HOT_BACKUP: ret->action = VSS_ACTION_HOT_BACKUP; break;
        default: ret->action = VSS_ACTION_OTHER; break;
        }
        return ret->action;
}

void vss_encode_reply(const struct vss_request *req, uint32_t error, uint8_t out[VSS_MSG_SIZE]) {
        memset(out, 0, VSS_MSG_SIZE);
        /* The error overlays the header; the kernel keeps the operation it asked for. */
        put_le32(out, error);
        /* No auto-recovery: a snapshot taken frozen needs no fix-up after it is mounted. */
        if (req->action == VSS_ACTION_HOT_BACKUP)
                put_le32(out + 8, VSS_HBU_NO_AUTO_RECOVERY);
}

void vss_encode_register(uint8_t out[VSS_MSG_SIZE]) {
        memset(out, 0, VSS_MSG_SIZE);
        out[0] = VSS_OP_REGISTER1;
}

uint32_t vss_status_for(enum vss_action action, const char *state, bool freeze_ended_early) {
        if (action == VSS_ACTION_FREEZE)
                return strcmp(state, "frozen") == 0 ? VSS_HV_S_OK : VSS_HV_E_FAIL;
        /* A THAW after the lease or the guard had ended the freeze: the snapshot may not be
         * consistent, and the host must not believe it is. */
        if (strncmp(state, "thawed", 6) != 0 || (strcmp(state, "thawed:not-frozen") == 0 && freeze_ended_early))
                return VSS_HV_E_FAIL;
        return VSS_HV_S_OK;
}
