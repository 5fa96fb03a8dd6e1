#include <errno.h>
#include <string.h>

#include "pvic/kvp_msg.h"
#include "pvic/utf16.h"
#include "pvic/vmbus_ic.h"
#include "vmbus_wire.h"

enum {
        KEY_BYTES = 512,
        VALUE_BYTES = 2048,
        VERSION_BYTES = 512,
        ADAPTER_BYTES = 256,
        ADDR_BYTES = 2048,
        GATEWAY_BYTES = 1024,
};

/* UTF-16 units the kernel converts when it forwards a reply to the host (§5.5). */
enum {
        KEY_UNITS = 254,
        VALUE_UNITS = 1022,
        ADAPTER_UNITS = 127,
        ADDR_UNITS = 1023,
        GATEWAY_UNITS = 511,
};

_Static_assert(KVP_MSG_OFF_IP_DNS + ADDR_BYTES == KVP_MSG_OFF_IP_END, "IP fields");
_Static_assert(KVP_MSG_OFF_EN_VALUE + VALUE_BYTES <= KVP_MSG_SIZE, "ENUMERATE value");

/* A relay string must end inside its field: the kernel NUL-terminates what it sends,
 * so a missing NUL means the message is not what we think it is. */
static int get_cstr(char *out, size_t outsize, const uint8_t *field, size_t field_bytes) {
        size_t n = strnlen((const char *)field, field_bytes);

        if (n == field_bytes)
                return -EBADMSG;
        if (n + 1 > outsize)
                return -ENOBUFS;
        if (utf8_validate((const char *)field, n) < 0)
                return -EILSEQ;
        memcpy(out, field, n);
        out[n] = '\0';
        return 0;
}

/* Writes as much of s as the kernel will pass on, whole characters only. */
static int put_cstr_fit(uint8_t *field, size_t field_bytes, const char *s, size_t max_units,
                        bool *truncated) {
        ssize_t n = utf8_fit(s, field_bytes - 1, max_units);

        if (n < 0)
                return (int)n;
        memset(field, 0, field_bytes);
        memcpy(field, s, (size_t)n);
        if ((size_t)n < strlen(s))
                *truncated = true;
        return (int)n;
}

static int put_cstr(uint8_t *field, size_t field_bytes, const char *s) {
        size_t n = strlen(s);

        if (n >= field_bytes)
                return -ENAMETOOLONG;
        if (utf8_validate(s, n) < 0)
                return -EILSEQ;
        memset(field, 0, field_bytes);
        memcpy(field, s, n);
        return (int)n;
}

void kvp_msg_register(uint8_t msg[static KVP_MSG_SIZE]) {
        /* REGISTER1: we can report errors, so the kernel forwards SET_IP_INFO too. */
        memset(msg, 0, KVP_MSG_SIZE);
        msg[KVP_MSG_OFF_OP] = KVP_MSG_OP_REGISTER1;
}

static int get_ip(struct host_kvp_ip_info *ip, const uint8_t *msg, bool all) {
        int r;

        ip->addr_family = msg[KVP_MSG_OFF_IP_FAMILY];
        r = get_cstr(ip->adapter_id, sizeof ip->adapter_id, msg + KVP_MSG_OFF_IP_ADAPTER, ADAPTER_BYTES);
        if (r < 0 || !all)
                return r;
        ip->dhcp_enabled = msg[KVP_MSG_OFF_IP_DHCP] != 0;
        r = get_cstr(ip->ip_addr, sizeof ip->ip_addr, msg + KVP_MSG_OFF_IP_ADDR, ADDR_BYTES);
        if (r >= 0)
                r = get_cstr(ip->sub_net, sizeof ip->sub_net, msg + KVP_MSG_OFF_IP_SUBNET, ADDR_BYTES);
        if (r >= 0)
                r = get_cstr(ip->gate_way, sizeof ip->gate_way, msg + KVP_MSG_OFF_IP_GATEWAY, GATEWAY_BYTES);
        if (r >= 0)
                r = get_cstr(ip->dns_addr, sizeof ip->dns_addr, msg + KVP_MSG_OFF_IP_DNS, ADDR_BYTES);
        return r;
}

int kvp_msg_decode(const uint8_t *msg, size_t len, struct host_kvp_request *req,
                   char *version, size_t version_size) {
        uint8_t op;
        int r;

        /* The kernel hands over exactly one whole message per read. */
        if (len != KVP_MSG_SIZE)
                return -EBADMSG;

        op = msg[KVP_MSG_OFF_OP];
        if (op == KVP_MSG_OP_REGISTER1) {
                char v[VERSION_BYTES];

                r = get_cstr(v, sizeof v, msg + KVP_MSG_OFF_VERSION, VERSION_BYTES);
                if (r < 0)
                        return r;
                if (version && version_size > 0) {
                        if (strlen(v) >= version_size)
                                return -ENOBUFS;
                        strcpy(version, v);
                }
                return KVP_MSG_REGISTERED;
        }

        /* Field by field, not one memset: the struct is ~19 KB and this runs per request;
         * the IP block is cleared only for the operations that carry it. */
        req->op = op;
        req->pool = msg[KVP_MSG_OFF_POOL];
        req->index = 0;
        req->key[0] = req->value[0] = '\0';
        if (op == HOST_KVP_GET_IP_INFO || op == HOST_KVP_SET_IP_INFO)
                memset(&req->ip, 0, sizeof req->ip);
        else
                req->ip.adapter_id[0] = '\0';
        /* The kernel turns every value into text and does not pass value_type on. */
        req->value_type = HOST_KVP_STRING;

        switch (op) {
        case HOST_KVP_GET:
                r = get_cstr(req->key, sizeof req->key, msg + KVP_MSG_OFF_GS_KEY, KEY_BYTES);
                break;
        case HOST_KVP_SET:
                r = get_cstr(req->key, sizeof req->key, msg + KVP_MSG_OFF_GS_KEY, KEY_BYTES);
                if (r >= 0)
                        r = get_cstr(req->value, sizeof req->value, msg + KVP_MSG_OFF_GS_VALUE, VALUE_BYTES);
                break;
        case HOST_KVP_DELETE:
                r = get_cstr(req->key, sizeof req->key, msg + KVP_MSG_OFF_DEL_KEY, KEY_BYTES);
                break;
        case HOST_KVP_ENUMERATE:
                req->index = wire_get32(msg + KVP_MSG_OFF_EN_INDEX);
                r = 0;
                break;
        case HOST_KVP_GET_IP_INFO:
                r = get_ip(&req->ip, msg, false);
                break;
        case HOST_KVP_SET_IP_INFO:
                r = get_ip(&req->ip, msg, true);
                break;
        default:
                return -EOPNOTSUPP;
        }
        return r < 0 ? r : KVP_MSG_REQUEST;
}

static int put_ip(uint8_t *msg, const struct host_kvp_ip_info *ip, bool *truncated) {
        int r;

        msg[KVP_MSG_OFF_IP_FAMILY] = ip->addr_family;
        msg[KVP_MSG_OFF_IP_DHCP] = ip->dhcp_enabled ? 1 : 0;
        r = put_cstr_fit(msg + KVP_MSG_OFF_IP_ADAPTER, ADAPTER_BYTES, ip->adapter_id, ADAPTER_UNITS, truncated);
        if (r >= 0)
                r = put_cstr_fit(msg + KVP_MSG_OFF_IP_ADDR, ADDR_BYTES, ip->ip_addr, ADDR_UNITS, truncated);
        if (r >= 0)
                r = put_cstr_fit(msg + KVP_MSG_OFF_IP_SUBNET, ADDR_BYTES, ip->sub_net, ADDR_UNITS, truncated);
        if (r >= 0)
                r = put_cstr_fit(msg + KVP_MSG_OFF_IP_GATEWAY, GATEWAY_BYTES, ip->gate_way, GATEWAY_UNITS, truncated);
        if (r >= 0)
                r = put_cstr_fit(msg + KVP_MSG_OFF_IP_DNS, ADDR_BYTES, ip->dns_addr, ADDR_UNITS, truncated);
        return r;
}

int kvp_msg_encode_reply(uint8_t msg[static KVP_MSG_SIZE], enum host_kvp_op op,
                         const struct host_kvp_reply *reply) {
        bool truncated = false;
        int r = 0, k, v;

        memset(msg, 0, KVP_MSG_SIZE);
        /* The kernel copies error verbatim into the IC status and, when it is not 0,
         * looks at nothing else. */
        wire_put32(msg + KVP_MSG_OFF_ERROR, vmbus_ic_status_to_hresult(reply->status));
        if (reply->status != HOST_STATUS_OK)
                return 0;

        switch (op) {
        case HOST_KVP_ENUMERATE:
                k = put_cstr_fit(msg + KVP_MSG_OFF_EN_KEY, KEY_BYTES, reply->key, KEY_UNITS, &truncated);
                v = k < 0 ? k : put_cstr_fit(msg + KVP_MSG_OFF_EN_VALUE, VALUE_BYTES, reply->value,
                                             VALUE_UNITS, &truncated);
                if (k < 0 || v < 0) {
                        r = k < 0 ? k : v;
                        break;
                }
                wire_put32(msg + KVP_MSG_OFF_EN_TYPE, VMBUS_KVP_REG_SZ);
                wire_put32(msg + KVP_MSG_OFF_EN_KEY_SIZE, (uint32_t)k + 1);
                wire_put32(msg + KVP_MSG_OFF_EN_VALUE_SIZE, (uint32_t)v + 1);
                break;
        case HOST_KVP_GET:
                /* The kernel reads a GET answer from the ENUMERATE position (§8.2). */
                r = put_cstr_fit(msg + KVP_MSG_OFF_EN_VALUE, VALUE_BYTES, reply->value, VALUE_UNITS,
                                 &truncated);
                break;
        case HOST_KVP_GET_IP_INFO:
                r = put_ip(msg, &reply->ip, &truncated);
                break;
        default:
                break;
        }

        if (r < 0) {
                memset(msg, 0, KVP_MSG_SIZE);
                wire_put32(msg + KVP_MSG_OFF_ERROR, VMBUS_IC_E_FAIL);
                return r;
        }
        return truncated;
}

int kvp_msg_decode_register(const uint8_t *msg, size_t len) {
        /* The kernel accepts longer writes and looks only at the first message. */
        if (len < KVP_MSG_SIZE)
                return -EINVAL;
        if (msg[KVP_MSG_OFF_OP] == KVP_MSG_OP_REGISTER1 || msg[KVP_MSG_OFF_OP] == KVP_MSG_OP_REGISTER)
                return msg[KVP_MSG_OFF_OP];
        return -EPROTO;
}

int kvp_msg_encode_registered(uint8_t msg[static KVP_MSG_SIZE], const char *version) {
        int r;

        memset(msg, 0, KVP_MSG_SIZE);
        msg[KVP_MSG_OFF_OP] = KVP_MSG_OP_REGISTER1;
        r = put_cstr(msg + KVP_MSG_OFF_VERSION, VERSION_BYTES, version);
        return r < 0 ? r : 0;
}

int kvp_msg_encode_request(uint8_t msg[static KVP_MSG_SIZE], const struct host_kvp_request *req) {
        int r = 0;

        memset(msg, 0, KVP_MSG_SIZE);
        msg[KVP_MSG_OFF_OP] = (uint8_t)req->op;
        msg[KVP_MSG_OFF_POOL] = req->pool;

        switch (req->op) {
        case HOST_KVP_GET:
        case HOST_KVP_SET:
                r = put_cstr(msg + KVP_MSG_OFF_GS_KEY, KEY_BYTES, req->key);
                if (r < 0)
                        return r;
                wire_put32(msg + KVP_MSG_OFF_GS_KEY_SIZE, (uint32_t)r + 1);
                if (req->op == HOST_KVP_GET)
                        return 0;
                r = put_cstr(msg + KVP_MSG_OFF_GS_VALUE, VALUE_BYTES, req->value);
                if (r < 0)
                        return r;
                wire_put32(msg + KVP_MSG_OFF_GS_VALUE_SIZE, (uint32_t)r + 1);
                return 0;
        case HOST_KVP_DELETE:
                r = put_cstr(msg + KVP_MSG_OFF_DEL_KEY, KEY_BYTES, req->key);
                if (r < 0)
                        return r;
                wire_put32(msg + KVP_MSG_OFF_DEL_KEY_SIZE, (uint32_t)r + 1);
                return 0;
        case HOST_KVP_ENUMERATE:
                wire_put32(msg + KVP_MSG_OFF_EN_INDEX, req->index);
                return 0;
        case HOST_KVP_SET_IP_INFO:
                msg[KVP_MSG_OFF_IP_DHCP] = req->ip.dhcp_enabled ? 1 : 0;
                r = put_cstr(msg + KVP_MSG_OFF_IP_ADDR, ADDR_BYTES, req->ip.ip_addr);
                if (r >= 0)
                        r = put_cstr(msg + KVP_MSG_OFF_IP_SUBNET, ADDR_BYTES, req->ip.sub_net);
                if (r >= 0)
                        r = put_cstr(msg + KVP_MSG_OFF_IP_GATEWAY, GATEWAY_BYTES, req->ip.gate_way);
                if (r >= 0)
                        r = put_cstr(msg + KVP_MSG_OFF_IP_DNS, ADDR_BYTES, req->ip.dns_addr);
                if (r < 0)
                        return r;
                __attribute__((fallthrough));
        case HOST_KVP_GET_IP_INFO:
                msg[KVP_MSG_OFF_IP_FAMILY] = req->ip.addr_family;
                r = put_cstr(msg + KVP_MSG_OFF_IP_ADAPTER, ADAPTER_BYTES, req->ip.adapter_id);
                return r < 0 ? r : 0;
        default:
                return -EINVAL;
        }
}

int kvp_msg_decode_reply(const uint8_t *msg, size_t len, enum host_kvp_op op,
                         struct host_kvp_reply *reply) {
        if (len < KVP_MSG_SIZE)
                return -EINVAL;

        memset(reply, 0, sizeof *reply);
        reply->status = vmbus_ic_status_from_hresult(wire_get32(msg + KVP_MSG_OFF_ERROR));
        if (reply->status != HOST_STATUS_OK)
                return 0;

        switch (op) {
        case HOST_KVP_ENUMERATE: {
                int r = get_cstr(reply->key, sizeof reply->key, msg + KVP_MSG_OFF_EN_KEY, KEY_BYTES);
                if (r < 0)
                        return r;
                return get_cstr(reply->value, sizeof reply->value, msg + KVP_MSG_OFF_EN_VALUE, VALUE_BYTES);
        }
        case HOST_KVP_GET:
                return get_cstr(reply->value, sizeof reply->value, msg + KVP_MSG_OFF_EN_VALUE, VALUE_BYTES);
        case HOST_KVP_GET_IP_INFO:
                return get_ip(&reply->ip, msg, true);
        default:
                return 0;
        }
}
