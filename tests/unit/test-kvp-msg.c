/* struct hv_kvp_msg of the /dev/vmbus/hv_kvp relay (spec §5): our offsets and sizes
 * checked against the kernel's own uapi header, registration, every operation in both
 * directions, and the kernel's quirks (GET answered at the ENUMERATE offset, unit
 * limits on what it forwards). */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/hyperv.h>

#include "pvic/kvp_msg.h"
#include "pvic/macro.h"
#include "pvic/vmbus_ic.h"

static uint8_t msg[KVP_MSG_SIZE];

static uint32_t get32(const uint8_t *p) {
        return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

#define OFF(f) offsetof(struct hv_kvp_msg, f)

START_TEST(test_layout_matches_uapi) {
        ck_assert_uint_eq(sizeof(struct hv_kvp_msg), 7432);
        ck_assert_uint_eq(KVP_MSG_SIZE, sizeof(struct hv_kvp_msg));
        ck_assert_uint_eq(sizeof(struct hv_kvp_ip_msg), 7428);
        ck_assert_uint_eq(VMBUS_IC_KVP_IP_BODY, sizeof(struct hv_kvp_ip_msg));
        ck_assert_uint_eq(sizeof(struct hv_kvp_exchg_msg_value), 2572);
        ck_assert_uint_eq(sizeof(struct hv_kvp_msg_enumerate), 2576);
        ck_assert_uint_eq(sizeof(struct hv_kvp_msg_delete), 516);
        ck_assert_uint_eq(VMBUS_IC_KVP_BODY, 4 + sizeof(struct hv_kvp_msg_enumerate));

        ck_assert_uint_eq(KVP_MSG_OFF_OP, OFF(kvp_hdr.operation));
        ck_assert_uint_eq(KVP_MSG_OFF_POOL, OFF(kvp_hdr.pool));
        ck_assert_uint_eq(KVP_MSG_OFF_ERROR, OFF(error));
        ck_assert_uint_eq(KVP_MSG_OFF_VERSION, OFF(body.kvp_register.version));
        ck_assert_uint_eq(KVP_MSG_OFF_GS_TYPE, OFF(body.kvp_set.data.value_type));
        ck_assert_uint_eq(KVP_MSG_OFF_GS_KEY_SIZE, OFF(body.kvp_set.data.key_size));
        ck_assert_uint_eq(KVP_MSG_OFF_GS_VALUE_SIZE, OFF(body.kvp_set.data.value_size));
        ck_assert_uint_eq(KVP_MSG_OFF_GS_KEY, OFF(body.kvp_get.data.key));
        ck_assert_uint_eq(KVP_MSG_OFF_GS_VALUE, OFF(body.kvp_set.data.value));
        ck_assert_uint_eq(KVP_MSG_OFF_DEL_KEY_SIZE, OFF(body.kvp_delete.key_size));
        ck_assert_uint_eq(KVP_MSG_OFF_DEL_KEY, OFF(body.kvp_delete.key));
        ck_assert_uint_eq(KVP_MSG_OFF_EN_INDEX, OFF(body.kvp_enum_data.index));
        ck_assert_uint_eq(KVP_MSG_OFF_EN_TYPE, OFF(body.kvp_enum_data.data.value_type));
        ck_assert_uint_eq(KVP_MSG_OFF_EN_KEY_SIZE, OFF(body.kvp_enum_data.data.key_size));
        ck_assert_uint_eq(KVP_MSG_OFF_EN_VALUE_SIZE, OFF(body.kvp_enum_data.data.value_size));
        ck_assert_uint_eq(KVP_MSG_OFF_EN_KEY, OFF(body.kvp_enum_data.data.key));
        ck_assert_uint_eq(KVP_MSG_OFF_EN_VALUE, OFF(body.kvp_enum_data.data.value));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_ADAPTER, OFF(body.kvp_ip_val.adapter_id));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_FAMILY, OFF(body.kvp_ip_val.addr_family));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_DHCP, OFF(body.kvp_ip_val.dhcp_enabled));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_ADDR, OFF(body.kvp_ip_val.ip_addr));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_SUBNET, OFF(body.kvp_ip_val.sub_net));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_GATEWAY, OFF(body.kvp_ip_val.gate_way));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_DNS, OFF(body.kvp_ip_val.dns_addr));
        ck_assert_uint_eq(KVP_MSG_OFF_IP_END, OFF(body.kvp_ip_val) + sizeof(struct hv_kvp_ipaddr_value));

        ck_assert_uint_eq(KVP_MSG_OP_REGISTER1, KVP_OP_REGISTER1);
        ck_assert_uint_eq(KVP_MSG_OP_REGISTER, KVP_OP_REGISTER);
        ck_assert_uint_eq(VMBUS_IC_S_CONT, HV_S_CONT);
        ck_assert_uint_eq(VMBUS_IC_E_FAIL, HV_E_FAIL);
        ck_assert_uint_eq(VMBUS_IC_GUID_NOTFOUND, HV_GUID_NOTFOUND);
        ck_assert_uint_eq(VMBUS_IC_INVALIDARG, HV_INVALIDARG);
        ck_assert_uint_eq(KVP_OP_GET, HOST_KVP_GET);
        ck_assert_uint_eq(KVP_OP_SET, HOST_KVP_SET);
        ck_assert_uint_eq(KVP_OP_DELETE, HOST_KVP_DELETE);
        ck_assert_uint_eq(KVP_OP_ENUMERATE, HOST_KVP_ENUMERATE);
        ck_assert_uint_eq(KVP_OP_GET_IP_INFO, HOST_KVP_GET_IP_INFO);
        ck_assert_uint_eq(KVP_OP_SET_IP_INFO, HOST_KVP_SET_IP_INFO);
        ck_assert_uint_eq(KVP_POOL_AUTO_EXTERNAL, HOST_KVP_POOL_AUTO_EXTERNAL);
}
END_TEST

START_TEST(test_register) {
        char version[16];
        struct host_kvp_request req;
        static const uint8_t zero[KVP_MSG_SIZE - 1];

        memset(msg, 0xff, sizeof msg);
        kvp_msg_register(msg);
        ck_assert_uint_eq(msg[0], 100);
        ck_assert_mem_eq(msg + 1, zero, sizeof zero);
        ck_assert_int_eq(kvp_msg_decode_register(msg, sizeof msg), KVP_MSG_OP_REGISTER1);
        ck_assert_int_eq(kvp_msg_decode_register(msg, sizeof msg - 2), -EINVAL);
        msg[0] = KVP_MSG_OP_REGISTER;
        ck_assert_int_eq(kvp_msg_decode_register(msg, sizeof msg), KVP_MSG_OP_REGISTER);
        msg[0] = KVP_OP_SET;
        ck_assert_int_eq(kvp_msg_decode_register(msg, sizeof msg), -EPROTO);

        /* The kernel's answer carries its version string. */
        ck_assert_int_eq(kvp_msg_encode_registered(msg, "3.1"), 0);
        ck_assert_str_eq((char *)msg + 4, "3.1");
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, &req, version, sizeof version), KVP_MSG_REGISTERED);
        ck_assert_str_eq(version, "3.1");
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, &req, version, 3), -ENOBUFS);
        memset(msg + 4, 'x', 512);
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, &req, version, sizeof version), -EBADMSG);
}
END_TEST

START_TEST(test_decode_each_op) {
        _cleanup_free_ struct host_kvp_request *req = calloc(1, sizeof *req);

        /* SET as the kernel writes it: UTF-8, sizes include the NUL, value_type 0. */
        memset(msg, 0, sizeof msg);
        msg[0] = KVP_OP_SET;
        msg[1] = 0;
        put32(msg + 8, 4);
        memcpy(msg + 16, "key", 4);
        put32(msg + 12, 6);
        memcpy(msg + 528, "v\xc3\xa9l", 5);
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert_int_eq(req->op, HOST_KVP_SET);
        ck_assert_str_eq(req->key, "key");
        ck_assert_str_eq(req->value, "v\xc3\xa9l");
        ck_assert_int_eq(req->value_type, HOST_KVP_STRING);

        msg[0] = KVP_OP_GET;
        msg[1] = 3;
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert_int_eq(req->op, HOST_KVP_GET);
        ck_assert_uint_eq(req->pool, 3);
        ck_assert_str_eq(req->key, "key");
        ck_assert_str_eq(req->value, "");

        memset(msg, 0, sizeof msg);
        msg[0] = KVP_OP_DELETE;
        put32(msg + 4, 3);
        memcpy(msg + 8, "ab", 3);
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert_str_eq(req->key, "ab");

        memset(msg, 0, sizeof msg);
        msg[0] = KVP_OP_ENUMERATE;
        msg[1] = 2;
        put32(msg + 4, 7);
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert_uint_eq(req->index, 7);
        ck_assert_uint_eq(req->pool, 2);

        memset(msg, 0, sizeof msg);
        msg[0] = KVP_OP_GET_IP_INFO;
        strcpy((char *)msg + 4, "00:15:5D:01:02:03");
        msg[260] = 1;
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert_str_eq(req->ip.adapter_id, "00:15:5D:01:02:03");
        ck_assert_uint_eq(req->ip.addr_family, 1);

        msg[0] = KVP_OP_SET_IP_INFO;
        msg[261] = 1;
        strcpy((char *)msg + 262, "10.0.0.9");
        strcpy((char *)msg + 2310, "255.0.0.0");
        strcpy((char *)msg + 4358, "10.0.0.1");
        strcpy((char *)msg + 5382, "1.1.1.1");
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert(req->ip.dhcp_enabled);
        ck_assert_str_eq(req->ip.ip_addr, "10.0.0.9");
        ck_assert_str_eq(req->ip.sub_net, "255.0.0.0");
        ck_assert_str_eq(req->ip.gate_way, "10.0.0.1");
        ck_assert_str_eq(req->ip.dns_addr, "1.1.1.1");
}
END_TEST

START_TEST(test_decode_rejects) {
        _cleanup_free_ struct host_kvp_request *req = calloc(1, sizeof *req);

        memset(msg, 0, sizeof msg);
        msg[0] = KVP_OP_SET;
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg - 1, req, NULL, 0), -EBADMSG);
        ck_assert_int_eq(kvp_msg_decode(msg, 7430, req, NULL, 0), -EBADMSG);
        /* Key without its NUL inside the 512-byte field. */
        memset(msg + 16, 'k', 512);
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), -EBADMSG);
        msg[16 + 511] = 0;
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), KVP_MSG_REQUEST);
        ck_assert_uint_eq(strlen(req->key), 511);
        /* Not UTF-8. */
        strcpy((char *)msg + 528, "\xed\xa0\x80");
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), -EILSEQ);
        /* An IP field running to the end of its capacity. */
        memset(msg, 0, sizeof msg);
        msg[0] = KVP_OP_SET_IP_INFO;
        memset(msg + 5382, '1', 2048);
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), -EBADMSG);
        msg[0] = 6;
        ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, req, NULL, 0), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_encode_replies) {
        _cleanup_free_ struct host_kvp_reply *rep = calloc(1, sizeof *rep);
        _cleanup_free_ struct host_kvp_reply *back = calloc(1, sizeof *back);

        rep->status = HOST_STATUS_OK;
        strcpy(rep->key, "OSName");
        strcpy(rep->value, "Debian GNU/Linux");
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_ENUMERATE, rep), 0);
        ck_assert_uint_eq(get32(msg), 0);
        ck_assert_str_eq((char *)msg + 20, "OSName");
        ck_assert_str_eq((char *)msg + 532, "Debian GNU/Linux");
        ck_assert_uint_eq(get32(msg + 12), 7);
        ck_assert_uint_eq(get32(msg + 16), 17);
        ck_assert_int_eq(kvp_msg_decode_reply(msg, sizeof msg, HOST_KVP_ENUMERATE, back), 0);
        ck_assert_str_eq(back->key, "OSName");
        ck_assert_str_eq(back->value, "Debian GNU/Linux");

        /* GET: the kernel reads the value at the ENUMERATE offset, 532, not 528. */
        strcpy(rep->value, "v");
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_GET, rep), 0);
        ck_assert_str_eq((char *)msg + 532, "v");
        ck_assert_uint_eq(msg[528], 0);
        ck_assert_int_eq(kvp_msg_decode_reply(msg, sizeof msg, HOST_KVP_GET, back), 0);
        ck_assert_str_eq(back->value, "v");

        /* Errors: only the status, which the kernel copies verbatim. */
        rep->status = HOST_STATUS_NOT_FOUND;
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_ENUMERATE, rep), 0);
        ck_assert_uint_eq(get32(msg), 0x80070103u);
        ck_assert_uint_eq(msg[20], 0);
        ck_assert_int_eq(kvp_msg_decode_reply(msg, sizeof msg, HOST_KVP_ENUMERATE, back), 0);
        ck_assert_int_eq(back->status, HOST_STATUS_NOT_FOUND);
        rep->status = HOST_STATUS_NO_ADAPTER;
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_SET_IP_INFO, rep), 0);
        ck_assert_uint_eq(get32(msg), 0x80041002u);
        rep->status = HOST_STATUS_OK;
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_SET, rep), 0);
        ck_assert_uint_eq(get32(msg), 0);

        /* GET_IP_INFO fields. */
        strcpy(rep->ip.adapter_id, "00:15:5D:01:02:03");
        rep->ip.addr_family = 3;
        rep->ip.dhcp_enabled = true;
        strcpy(rep->ip.ip_addr, "10.0.0.4;fe80::1");
        strcpy(rep->ip.sub_net, "255.255.255.0;/64");
        strcpy(rep->ip.gate_way, "10.0.0.1;");
        strcpy(rep->ip.dns_addr, "10.0.0.2;");
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_GET_IP_INFO, rep), 0);
        ck_assert_uint_eq(msg[260], 3);
        ck_assert_uint_eq(msg[261], 1);
        ck_assert_str_eq((char *)msg + 262, "10.0.0.4;fe80::1");
        ck_assert_str_eq((char *)msg + 2310, "255.255.255.0;/64");
        ck_assert_str_eq((char *)msg + 4358, "10.0.0.1;");
        ck_assert_str_eq((char *)msg + 5382, "10.0.0.2;");
        ck_assert_int_eq(kvp_msg_decode_reply(msg, sizeof msg, HOST_KVP_GET_IP_INFO, back), 0);
        ck_assert_str_eq(back->ip.adapter_id, rep->ip.adapter_id);
        ck_assert_str_eq(back->ip.dns_addr, rep->ip.dns_addr);
        ck_assert_uint_eq(back->ip.addr_family, 3);
}
END_TEST

START_TEST(test_reply_limits) {
        _cleanup_free_ struct host_kvp_reply *rep = calloc(1, sizeof *rep);

        /* The kernel forwards 254 units of key and 1022 of value: cut there, whole
         * characters, NUL inside the field. */
        rep->status = HOST_STATUS_OK;
        memset(rep->key, 'k', 300);
        for (int i = 0; i < 700; i++)
                memcpy(rep->value + 3 * i, "\xe2\x82\xac", 3);
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_ENUMERATE, rep), 1);
        ck_assert_uint_eq(strlen((char *)msg + 20), 254);
        ck_assert_uint_eq(strlen((char *)msg + 532), 682 * 3); /* 2047 bytes hold 682 */

        memset(rep->value, 0, sizeof rep->value);
        memset(rep->value, 'v', 1500);
        strcpy(rep->key, "k");
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_ENUMERATE, rep), 1);
        ck_assert_uint_eq(strlen((char *)msg + 532), 1022);

        memset(rep->value, 0, sizeof rep->value);
        strcpy(rep->value, "ok");
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_ENUMERATE, rep), 0);

        /* Malformed UTF-8 is never forwarded: the whole reply becomes VMBUS_IC_E_FAIL. */
        strcpy(rep->value, "\xc0\xaf");
        ck_assert_int_eq(kvp_msg_encode_reply(msg, HOST_KVP_ENUMERATE, rep), -EILSEQ);
        ck_assert_uint_eq(get32(msg), 0x80004005u);
        ck_assert_uint_eq(msg[20], 0);
}
END_TEST

START_TEST(test_request_round_trip) {
        _cleanup_free_ struct host_kvp_request *req = calloc(1, sizeof *req);
        _cleanup_free_ struct host_kvp_request *got = calloc(1, sizeof *got);

        for (int op = HOST_KVP_GET; op <= HOST_KVP_SET_IP_INFO; op++) {
                memset(req, 0, sizeof *req);
                req->op = op;
                req->pool = 1;
                req->index = 5;
                strcpy(req->key, "PhysicalHostName");
                strcpy(req->value, "HOST-01 \xe6\x97\xa5");
                strcpy(req->ip.adapter_id, "{f8615163-df3e-46c5-913f-f2d2f965ed0e}");
                req->ip.addr_family = 2;
                strcpy(req->ip.ip_addr, "fe80::2");
                ck_assert_int_eq(kvp_msg_encode_request(msg, req), 0);
                ck_assert_int_eq(kvp_msg_decode(msg, sizeof msg, got, NULL, 0), KVP_MSG_REQUEST);
                ck_assert_int_eq(got->op, op);
                ck_assert_uint_eq(got->pool, 1);
                switch (op) {
                case HOST_KVP_SET:
                        ck_assert_str_eq(got->value, req->value);
                        ck_assert_uint_eq(get32(msg + 12), strlen(req->value) + 1);
                        ck_assert_uint_eq(get32(msg + 4), 0); /* value_type not passed */
                        __attribute__((fallthrough));
                case HOST_KVP_GET:
                case HOST_KVP_DELETE:
                        ck_assert_str_eq(got->key, req->key);
                        break;
                case HOST_KVP_ENUMERATE:
                        ck_assert_uint_eq(got->index, 5);
                        break;
                case HOST_KVP_SET_IP_INFO:
                        ck_assert_str_eq(got->ip.ip_addr, "fe80::2");
                        __attribute__((fallthrough));
                default:
                        ck_assert_str_eq(got->ip.adapter_id, req->ip.adapter_id);
                        ck_assert_uint_eq(got->ip.addr_family, 2);
                }
        }
        memset(req->key, 'x', 600);
        req->op = HOST_KVP_DELETE;
        ck_assert_int_eq(kvp_msg_encode_request(msg, req), -ENAMETOOLONG);
        req->op = 9;
        ck_assert_int_eq(kvp_msg_encode_request(msg, req), -EINVAL);
}
END_TEST

static Suite *kvp_msg_suite(void) {
        Suite *s = suite_create("kvp_msg");
        TCase *tc = tcase_create("relay");
        tcase_add_test(tc, test_layout_matches_uapi);
        tcase_add_test(tc, test_register);
        tcase_add_test(tc, test_decode_each_op);
        tcase_add_test(tc, test_decode_rejects);
        tcase_add_test(tc, test_encode_replies);
        tcase_add_test(tc, test_reply_limits);
        tcase_add_test(tc, test_request_round_trip);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(kvp_msg_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
