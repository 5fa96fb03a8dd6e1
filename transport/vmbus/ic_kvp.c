#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/utf16.h"
#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

/* Offsets from the start of the KVP body (packet payload offset 28), §4.4. */
enum {
        KVP_OP = 0,
        KVP_POOL = 1,
        /* GET, SET: a value record after 2 bytes of padding */
        GS_TYPE = 4,
        GS_KEY_SIZE = 8,
        GS_VALUE_SIZE = 12,
        GS_KEY = 16,
        GS_VALUE = 528,
        GS_END = 2576,
        /* DELETE */
        DEL_KEY_SIZE = 4,
        DEL_KEY = 8,
        /* ENUMERATE */
        EN_INDEX = 4,
        EN_TYPE = 8,
        EN_KEY_SIZE = 12,
        EN_VALUE_SIZE = 16,
        EN_KEY = 20,
        EN_VALUE = 532,
        EN_END = 2580,
        /* GET_IP_INFO, SET_IP_INFO: no padding after operation and pool */
        IP_ADAPTER = 2,
        IP_FAMILY = 258,
        IP_DHCP = 259,
        IP_ADDR = 260,
        IP_SUBNET = 2308,
        IP_GATEWAY = 4356,
        IP_DNS = 5380,
        IP_END = 7428,
};

enum {
        KEY_BYTES = 512,
        VALUE_BYTES = 2048,
        ADAPTER_BYTES = 256,
        ADDR_BYTES = 2048,
        GATEWAY_BYTES = 1024,
};

_Static_assert(EN_END == VMBUS_IC_KVP_BODY, "ENUMERATE body");
_Static_assert(IP_END == VMBUS_IC_KVP_IP_BODY, "IP body");
_Static_assert(GS_VALUE + VALUE_BYTES == GS_END, "GET/SET body");
_Static_assert(IP_DNS + ADDR_BYTES == IP_END, "IP fields");

static bool op_is_ip(uint8_t op) {
        return op == HOST_KVP_GET_IP_INFO || op == HOST_KVP_SET_IP_INFO;
}

/* A UTF-16 field: size_bytes is what the host says it used (NUL included), bounded by
 * the field; the string also ends at its first NUL. */
static int get_string(char *out, size_t outsize, const uint8_t *field, size_t field_bytes,
                      uint32_t size_bytes) {
        ssize_t n = utf16_to_utf8(out, outsize, field, MIN((size_t)size_bytes, field_bytes) / 2);
        return n < 0 ? (int)n : 0;
}

static int put_string(uint8_t *field, size_t field_bytes, const char *s, size_t *ret_bytes,
                      bool *truncated) {
        bool t = false;
        ssize_t n;

        memset(field, 0, field_bytes);
        n = utf8_to_utf16_prefix(field, field_bytes / 2, s, strlen(s), &t);
        if (n < 0)
                return (int)n;
        if (t)
                *truncated = true;
        if (ret_bytes)
                *ret_bytes = 2 * ((size_t)n + 1);
        return 0;
}

static int get_value(struct host_kvp_request *req, const uint8_t *body) {
        uint32_t type = wire_get32(body + GS_TYPE);
        const uint8_t *v = body + GS_VALUE;

        switch (type) {
        case VMBUS_KVP_REG_SZ:
        case VMBUS_KVP_REG_EXPAND_SZ:
                req->value_type = HOST_KVP_STRING;
                return get_string(req->value, sizeof req->value, v, VALUE_BYTES,
                                  wire_get32(body + GS_VALUE_SIZE));
        case VMBUS_KVP_REG_DWORD:
                /* Decimal text, as the kernel relay hands it to hv_kvp_daemon. */
                req->value_type = HOST_KVP_U32;
                snprintf(req->value, sizeof req->value, "%" PRIu32, wire_get32(v));
                return 0;
        case VMBUS_KVP_REG_U64_LINUX:
        case VMBUS_KVP_REG_QWORD:
                req->value_type = HOST_KVP_U64;
                snprintf(req->value, sizeof req->value, "%" PRIu64, wire_get64(v));
                return 0;
        default:
                return -EOPNOTSUPP;
        }
}

static int get_ip_info(struct host_kvp_ip_info *ip, const uint8_t *body) {
        int r;

        ip->addr_family = body[IP_FAMILY];
        ip->dhcp_enabled = body[IP_DHCP] != 0;
        r = get_string(ip->adapter_id, sizeof ip->adapter_id, body + IP_ADAPTER, ADAPTER_BYTES, ADAPTER_BYTES);
        if (r >= 0)
                r = get_string(ip->ip_addr, sizeof ip->ip_addr, body + IP_ADDR, ADDR_BYTES, ADDR_BYTES);
        if (r >= 0)
                r = get_string(ip->sub_net, sizeof ip->sub_net, body + IP_SUBNET, ADDR_BYTES, ADDR_BYTES);
        if (r >= 0)
                r = get_string(ip->gate_way, sizeof ip->gate_way, body + IP_GATEWAY, GATEWAY_BYTES, GATEWAY_BYTES);
        if (r >= 0)
                r = get_string(ip->dns_addr, sizeof ip->dns_addr, body + IP_DNS, ADDR_BYTES, ADDR_BYTES);
        return r;
}

/* Copies the body into a zeroed full-size buffer: hosts may send less than the struct,
 * and from then on every field access is in bounds by construction. */
static int load_body(const uint8_t *pkt, size_t len, uint8_t body[static IP_END]) {
        struct vmbus_ic_header h;
        int r;

        r = vmbus_ic_header_decode(pkt, len, &h);
        if (r < 0)
                return r;
        if (h.msgtype != VMBUS_IC_KVP || len < VMBUS_IC_HDR_SIZE + 2)
                return -EBADMSG;
        memset(body, 0, IP_END);
        memcpy(body, pkt + VMBUS_IC_HDR_SIZE, MIN(len - VMBUS_IC_HDR_SIZE, (size_t)IP_END));
        return 0;
}

int vmbus_ic_kvp_decode(const uint8_t *pkt, size_t len, struct host_kvp_request *ret) {
        struct host_kvp_request *req = ret;
        uint8_t body[IP_END];
        int r;

        r = load_body(pkt, len, body);
        if (r < 0)
                return r;

        memset(req, 0, sizeof *req);
        req->op = body[KVP_OP];
        req->pool = body[KVP_POOL];

        switch (body[KVP_OP]) {
        case HOST_KVP_GET:
                return get_string(req->key, sizeof req->key, body + GS_KEY, KEY_BYTES,
                                  wire_get32(body + GS_KEY_SIZE));
        case HOST_KVP_SET:
                r = get_string(req->key, sizeof req->key, body + GS_KEY, KEY_BYTES,
                               wire_get32(body + GS_KEY_SIZE));
                return r < 0 ? r : get_value(req, body);
        case HOST_KVP_DELETE:
                return get_string(req->key, sizeof req->key, body + DEL_KEY, KEY_BYTES,
                                  wire_get32(body + DEL_KEY_SIZE));
        case HOST_KVP_ENUMERATE:
                req->index = wire_get32(body + EN_INDEX);
                return 0;
        case HOST_KVP_GET_IP_INFO:
        case HOST_KVP_SET_IP_INFO:
                return get_ip_info(&req->ip, body);
        default:
                return -EOPNOTSUPP;
        }
}

static int put_ip_info(uint8_t *body, const struct host_kvp_ip_info *ip, bool *truncated) {
        int r = 0;

        /* The host's adapter id is echoed unless the service names it. */
        if (ip->adapter_id[0])
                r = put_string(body + IP_ADAPTER, ADAPTER_BYTES, ip->adapter_id, NULL, truncated);
        if (r >= 0)
                r = put_string(body + IP_ADDR, ADDR_BYTES, ip->ip_addr, NULL, truncated);
        if (r >= 0)
                r = put_string(body + IP_SUBNET, ADDR_BYTES, ip->sub_net, NULL, truncated);
        if (r >= 0)
                r = put_string(body + IP_GATEWAY, GATEWAY_BYTES, ip->gate_way, NULL, truncated);
        if (r >= 0)
                r = put_string(body + IP_DNS, ADDR_BYTES, ip->dns_addr, NULL, truncated);
        body[IP_FAMILY] = ip->addr_family;
        body[IP_DHCP] = ip->dhcp_enabled ? 1 : 0;
        return r;
}

int vmbus_ic_kvp_reply(uint8_t *pkt, size_t len, const struct host_kvp_reply *reply) {
        uint8_t *body = pkt + VMBUS_IC_HDR_SIZE;
        bool truncated = false;
        size_t key_bytes, value_bytes;
        int r = 0;

        if (len < VMBUS_IC_HDR_SIZE + 2)
                return -EBADMSG;
        /* A failure changes nothing but the status, as with Linux. */
        if (reply->status != HOST_STATUS_OK) {
                vmbus_ic_reply_status(pkt, reply->status);
                return 0;
        }

        switch (body[KVP_OP]) {
        case HOST_KVP_ENUMERATE:
                if (len < VMBUS_IC_HDR_SIZE + EN_END) {
                        r = -EBADMSG;
                        break;
                }
                r = put_string(body + EN_KEY, KEY_BYTES, reply->key, &key_bytes, &truncated);
                if (r < 0)
                        break;
                r = put_string(body + EN_VALUE, VALUE_BYTES, reply->value, &value_bytes, &truncated);
                if (r < 0)
                        break;
                wire_put32(body + EN_TYPE, VMBUS_KVP_REG_SZ);
                wire_put32(body + EN_KEY_SIZE, (uint32_t)key_bytes);
                wire_put32(body + EN_VALUE_SIZE, (uint32_t)value_bytes);
                break;
        case HOST_KVP_GET:
                if (len < VMBUS_IC_HDR_SIZE + GS_END) {
                        r = -EBADMSG;
                        break;
                }
                r = put_string(body + GS_VALUE, VALUE_BYTES, reply->value, &value_bytes, &truncated);
                if (r < 0)
                        break;
                wire_put32(body + GS_TYPE, VMBUS_KVP_REG_SZ);
                wire_put32(body + GS_VALUE_SIZE, (uint32_t)value_bytes);
                break;
        case HOST_KVP_GET_IP_INFO:
                if (len < VMBUS_IC_HDR_SIZE + IP_END) {
                        r = -EBADMSG;
                        break;
                }
                r = put_ip_info(body, &reply->ip, &truncated);
                break;
        default:
                break; /* SET, DELETE, SET_IP_INFO carry only the status */
        }

        if (r < 0) {
                vmbus_ic_reply_status(pkt, HOST_STATUS_FAILED);
                return r;
        }
        vmbus_ic_reply_status(pkt, HOST_STATUS_OK);
        return truncated;
}

static int put_value(uint8_t *body, const struct host_kvp_request *req, bool *truncated) {
        size_t value_bytes;
        char *end;
        unsigned long long v;
        int r;

        switch (req->value_type) {
        case HOST_KVP_STRING:
                r = put_string(body + GS_VALUE, VALUE_BYTES, req->value, &value_bytes, truncated);
                if (r < 0)
                        return r;
                wire_put32(body + GS_TYPE, VMBUS_KVP_REG_SZ);
                wire_put32(body + GS_VALUE_SIZE, (uint32_t)value_bytes);
                return 0;
        case HOST_KVP_U32:
        case HOST_KVP_U64:
                errno = 0;
                v = strtoull(req->value, &end, 10);
                if (errno != 0 || end == req->value || *end || req->value[0] == '-' ||
                    (req->value_type == HOST_KVP_U32 && v > UINT32_MAX))
                        return -EINVAL;
                if (req->value_type == HOST_KVP_U32) {
                        wire_put32(body + GS_TYPE, VMBUS_KVP_REG_DWORD);
                        wire_put32(body + GS_VALUE_SIZE, 4);
                        wire_put32(body + GS_VALUE, (uint32_t)v);
                } else {
                        wire_put32(body + GS_TYPE, VMBUS_KVP_REG_QWORD);
                        wire_put32(body + GS_VALUE_SIZE, 8);
                        wire_put64(body + GS_VALUE, v);
                }
                return 0;
        default:
                return -EINVAL;
        }
}

ssize_t vmbus_ic_kvp_request(uint8_t *buf, size_t bufsize, struct vmbus_ic_version msgver,
                             const struct host_kvp_request *req) {
        uint8_t body[IP_END] = { 0 };
        struct vmbus_ic_header h = {
                .framever = VMBUS_IC_VERSION(3, 0),
                .msgtype = VMBUS_IC_KVP,
                .msgver = msgver,
                .flags = VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST,
        };
        bool truncated = false;
        size_t key_bytes;
        int r = 0;

        body[KVP_OP] = (uint8_t)req->op;
        body[KVP_POOL] = req->pool;

        switch (req->op) {
        case HOST_KVP_GET:
        case HOST_KVP_SET:
                r = put_string(body + GS_KEY, KEY_BYTES, req->key, &key_bytes, &truncated);
                if (r < 0)
                        return r;
                wire_put32(body + GS_KEY_SIZE, (uint32_t)key_bytes);
                if (req->op == HOST_KVP_SET)
                        r = put_value(body, req, &truncated);
                break;
        case HOST_KVP_DELETE:
                r = put_string(body + DEL_KEY, KEY_BYTES, req->key, &key_bytes, &truncated);
                if (r < 0)
                        return r;
                wire_put32(body + DEL_KEY_SIZE, (uint32_t)key_bytes);
                break;
        case HOST_KVP_ENUMERATE:
                wire_put32(body + EN_INDEX, req->index);
                break;
        case HOST_KVP_GET_IP_INFO:
        case HOST_KVP_SET_IP_INFO:
                r = put_ip_info(body, &req->ip, &truncated);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        /* A host never sends more than fits: refuse rather than send a cut request. */
        if (truncated)
                return -ENAMETOOLONG;
        return vmbus_ic_request_encode(buf, bufsize, &h, body,
                                       op_is_ip((uint8_t)req->op) ? IP_END : EN_END);
}

int vmbus_ic_kvp_reply_decode(const uint8_t *pkt, size_t len, struct host_kvp_reply *ret) {
        uint8_t body[IP_END];
        struct vmbus_ic_header h;
        int r;

        r = load_body(pkt, len, body);
        if (r < 0)
                return r;
        (void) vmbus_ic_header_decode(pkt, len, &h);
        if (!(h.flags & VMBUS_ICMSGHDRFLAG_RESPONSE))
                return -EBADMSG;

        memset(ret, 0, sizeof *ret);
        ret->status = vmbus_ic_status_from_hresult(h.status);
        if (ret->status != HOST_STATUS_OK)
                return 0;

        switch (body[KVP_OP]) {
        case HOST_KVP_ENUMERATE:
                r = get_string(ret->key, sizeof ret->key, body + EN_KEY, KEY_BYTES,
                               wire_get32(body + EN_KEY_SIZE));
                if (r >= 0)
                        r = get_string(ret->value, sizeof ret->value, body + EN_VALUE, VALUE_BYTES,
                                       wire_get32(body + EN_VALUE_SIZE));
                return r;
        case HOST_KVP_GET:
                return get_string(ret->value, sizeof ret->value, body + GS_VALUE, VALUE_BYTES,
                                  wire_get32(body + GS_VALUE_SIZE));
        case HOST_KVP_GET_IP_INFO:
                return get_ip_info(&ret->ip, body);
        default:
                return 0;
        }
}
