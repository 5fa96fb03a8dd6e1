/* struct hv_kvp_msg, the 7432-byte message of the kernel's /dev/vmbus/hv_kvp relay
 * (spec/hyperv-ic.md §5). Strings in it are NUL-terminated UTF-8. The daemon side turns
 * kernel messages into typed host requests and typed replies back into messages; the
 * kernel side (for pvic-hostsim's relay emulation and tests) does the reverse. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "pvic/hostmsg.h"

#define KVP_MSG_SIZE 7432u
#define KVP_MSG_OP_REGISTER 4u    /* legacy daemons; never sent by pvic */
#define KVP_MSG_OP_REGISTER1 100u
#define KVP_MSG_VERSION_MAX 512u

/* Offsets in the message (§5.2). */
enum {
        KVP_MSG_OFF_OP = 0,
        KVP_MSG_OFF_POOL = 1,
        KVP_MSG_OFF_ERROR = 0,
        KVP_MSG_OFF_VERSION = 4,
        KVP_MSG_OFF_GS_TYPE = 4,
        KVP_MSG_OFF_GS_KEY_SIZE = 8,
        KVP_MSG_OFF_GS_VALUE_SIZE = 12,
        KVP_MSG_OFF_GS_KEY = 16,
        KVP_MSG_OFF_GS_VALUE = 528,
        KVP_MSG_OFF_DEL_KEY_SIZE = 4,
        KVP_MSG_OFF_DEL_KEY = 8,
        KVP_MSG_OFF_EN_INDEX = 4,
        KVP_MSG_OFF_EN_TYPE = 8,
        KVP_MSG_OFF_EN_KEY_SIZE = 12,
        KVP_MSG_OFF_EN_VALUE_SIZE = 16,
        KVP_MSG_OFF_EN_KEY = 20,
        KVP_MSG_OFF_EN_VALUE = 532,
        KVP_MSG_OFF_IP_ADAPTER = 4,
        KVP_MSG_OFF_IP_FAMILY = 260,
        KVP_MSG_OFF_IP_DHCP = 261,
        KVP_MSG_OFF_IP_ADDR = 262,
        KVP_MSG_OFF_IP_SUBNET = 2310,
        KVP_MSG_OFF_IP_GATEWAY = 4358,
        KVP_MSG_OFF_IP_DNS = 5382,
        KVP_MSG_OFF_IP_END = 7430,
};

enum kvp_msg_kind {
        KVP_MSG_REQUEST = 1,    /* a host request to answer */
        KVP_MSG_REGISTERED = 2, /* the kernel's answer to our registration */
};

/* Daemon side. */
void kvp_msg_register(uint8_t msg[static KVP_MSG_SIZE]);
/* Returns KVP_MSG_REQUEST (req filled) or KVP_MSG_REGISTERED (version filled, may be
 * NULL); -EBADMSG for a message of the wrong size or a string without its NUL,
 * -EILSEQ for a string that is not UTF-8, -EOPNOTSUPP for an unknown operation (answer
 * each with HOST_STATUS_FAILED). */
int kvp_msg_decode(const uint8_t *msg, size_t len, struct host_kvp_request *req,
                   char *version, size_t version_size);
/* Strings are cut at a character boundary where the kernel would cut them (254/1022
 * units for ENUMERATE, the IP field sizes); returns 1 if something was cut, else 0;
 * -EILSEQ when a reply string is not UTF-8 (msg then carries VMBUS_IC_E_FAIL). */
int kvp_msg_encode_reply(uint8_t msg[static KVP_MSG_SIZE], enum host_kvp_op op,
                         const struct host_kvp_reply *reply);

/* Kernel side. */
/* KVP_MSG_OP_REGISTER1 or KVP_MSG_OP_REGISTER for a registration, -EPROTO for anything else
 * (the kernel's "incompatible daemon"), -EINVAL for a short message. */
int kvp_msg_decode_register(const uint8_t *msg, size_t len);
int kvp_msg_encode_registered(uint8_t msg[static KVP_MSG_SIZE], const char *version);
/* As the kernel fills it (§5.5): value_type is not passed on. -ENAMETOOLONG when a
 * string does not fit its field. */
int kvp_msg_encode_request(uint8_t msg[static KVP_MSG_SIZE], const struct host_kvp_request *req);
int kvp_msg_decode_reply(const uint8_t *msg, size_t len, enum host_kvp_op op,
                         struct host_kvp_reply *reply);
