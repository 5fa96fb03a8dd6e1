/* The VSS IC codec (docs/vmbus.md "VSS"): hand-built wire bytes at the offsets both
 * known guest implementations use (operation at body 0, flags at body 8), the in-place
 * replies per operation, short and unknown requests, and the host-side encoder and
 * decoder the simulator uses. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/freeze.h"
#include "pvic/vmbus_ic.h"

static uint8_t buf[VMBUS_IC_MAX_PAYLOAD];

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static uint32_t get32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Pipe header, IC header (msgtype 5, message 5.0, icflags 0x3), body. */
static size_t make_vss(uint8_t op, size_t body_len) {
        memset(buf, 0xee, sizeof buf);
        memset(buf, 0, 28 + body_len);
        put32(buf + 0, 1);
        put32(buf + 4, (uint32_t)(20 + body_len));
        put16(buf + 8, 3);
        put16(buf + 12, 5);
        put16(buf + 14, 5);
        put16(buf + 18, (uint16_t)body_len);
        buf[25] = 0x3;
        if (body_len)
                buf[28] = op;
        return 28 + body_len;
}

START_TEST(test_versions) {
        const struct vmbus_ic_versions *v = vmbus_ic_versions_for(VMBUS_IC_VSS);
        ck_assert_ptr_eq(v, &vmbus_ic_vss_versions);
        ck_assert_uint_eq(v->n_fw, 1);
        ck_assert_uint_eq(v->fw[0].major, 3);
        ck_assert_uint_eq(v->fw[0].minor, 0);
        ck_assert_uint_eq(v->n_msg, 1);
        ck_assert_uint_eq(v->msg[0].major, 5);
        ck_assert_uint_eq(v->msg[0].minor, 0);

        /* A host offering 1.0/3.0 and 4.0..7.0 (OpenVMM's list) gets 3.0/5.0. */
        static const struct vmbus_ic_version fw[] = { { 1, 0 }, { 3, 0 } };
        static const struct vmbus_ic_version msg[] = { { 4, 0 }, { 5, 0 }, { 6, 0 }, { 7, 0 } };
        struct vmbus_ic_version f, m;
        ssize_t n = vmbus_ic_negotiate_request(buf, sizeof buf, fw, 2, msg, 4);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, (size_t)n, v, &f, &m), 1);
        ck_assert_uint_eq(f.major, 3);
        ck_assert_uint_eq(m.major, 5);
        /* One offering only 6.0/7.0 gets no match: 5.0 is all we speak. */
        n = vmbus_ic_negotiate_request(buf, sizeof buf, fw, 2, msg + 2, 2);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, (size_t)n, v, &f, &m), 0);
}
END_TEST

START_TEST(test_decode) {
        struct vmbus_ic_vss_request q;
        size_t len = make_vss(VSS_OP_HOT_BACKUP, 12);
        put32(buf + 36, 0x12345678);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), 0);
        ck_assert_uint_eq(q.operation, VSS_OP_HOT_BACKUP);
        ck_assert_uint_eq(q.flags, 0x12345678);

        /* A FREEZE as hosts send it: the LUN list follows, nobody reads it. */
        len = make_vss(VSS_OP_FREEZE, VMBUS_IC_VSS_FREEZE_BODY);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), 0);
        ck_assert_uint_eq(q.operation, VSS_OP_FREEZE);

        /* The operation header alone is enough to decode; flags then read as 0. */
        len = make_vss(VSS_OP_THAW, 8);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), 0);
        ck_assert_uint_eq(q.flags, 0);
        /* Shorter is malformed (the channel is reset). */
        len = make_vss(VSS_OP_THAW, 7);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), -EBADMSG);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, 20, &q), -EBADMSG);
        /* Another IC's message is not VSS. */
        len = make_vss(VSS_OP_FREEZE, 12);
        put16(buf + 12, 1);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), -EBADMSG);
        /* Operations above AUTO_RECOVER are not 5.0's. */
        for (unsigned op = 8; op < 256; op++) {
                len = make_vss((uint8_t)op, 12);
                ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), -EOPNOTSUPP);
        }
        for (unsigned op = 0; op <= 7; op++) {
                len = make_vss((uint8_t)op, 12);
                ck_assert_int_eq(vmbus_ic_vss_decode(buf, len, &q), 0);
        }
}
END_TEST

START_TEST(test_reply) {
        /* HOT_BACKUP: flags 5 written into the body, same length, status, 0x5 flags. */
        size_t len = make_vss(VSS_OP_HOT_BACKUP, 12);
        buf[30] = 0xaa; /* a reserved byte: echoed */
        ck_assert_int_eq(vmbus_ic_vss_reply(buf, len, VSS_OP_HOT_BACKUP, VMBUS_IC_S_OK), 0);
        ck_assert_uint_eq(buf[25], 0x5);
        ck_assert_uint_eq(get32(buf + 20), 0);
        ck_assert_uint_eq(get32(buf + 36), VSS_HBU_NO_AUTO_RECOVERY);
        ck_assert_uint_eq(buf[28], VSS_OP_HOT_BACKUP);
        ck_assert_uint_eq(buf[30], 0xaa);
        ck_assert_uint_eq(buf[len], 0xee); /* nothing written past the packet */
        uint32_t st, fl;
        ck_assert_int_eq(vmbus_ic_vss_reply_decode(buf, len, &st, &fl), 0);
        ck_assert_uint_eq(st, 0);
        ck_assert_uint_eq(fl, VSS_HBU_NO_AUTO_RECOVERY);

        /* GET_DM_INFO: flags cleared, status 0. */
        len = make_vss(VSS_OP_GET_DM_INFO, 12);
        put32(buf + 36, 0xffffffff);
        ck_assert_int_eq(vmbus_ic_vss_reply(buf, len, VSS_OP_GET_DM_INFO, VMBUS_IC_S_OK), 0);
        ck_assert_uint_eq(get32(buf + 36), 0);

        /* FREEZE failed: status only, the body (LUN list) untouched. */
        len = make_vss(VSS_OP_FREEZE, VMBUS_IC_VSS_FREEZE_BODY);
        put32(buf + 36, 0x01020304);
        ck_assert_int_eq(vmbus_ic_vss_reply(buf, len, VSS_OP_FREEZE, VMBUS_IC_E_FAIL), 0);
        ck_assert_uint_eq(get32(buf + 20), VMBUS_IC_E_FAIL);
        ck_assert_uint_eq(get32(buf + 36), 0x01020304);
        ck_assert_int_eq(vmbus_ic_vss_reply_decode(buf, len, &st, NULL), 0);
        ck_assert_uint_eq(st, VMBUS_IC_E_FAIL);

        /* A HOT_BACKUP with no room for its answer fails instead of lying. */
        len = make_vss(VSS_OP_HOT_BACKUP, 8);
        ck_assert_int_eq(vmbus_ic_vss_reply(buf, len, VSS_OP_HOT_BACKUP, VMBUS_IC_S_OK), -EMSGSIZE);
        ck_assert_uint_eq(get32(buf + 20), VMBUS_IC_E_FAIL);
        ck_assert_uint_eq(buf[25], 0x5);
        ck_assert_uint_eq(buf[len], 0xee);
        /* THAW needs no flags: 8 bytes are enough. */
        len = make_vss(VSS_OP_THAW, 8);
        ck_assert_int_eq(vmbus_ic_vss_reply(buf, len, VSS_OP_THAW, VMBUS_IC_S_OK), 0);
        ck_assert_int_eq(vmbus_ic_vss_reply_decode(buf, len, &st, &fl), 0);
        ck_assert_uint_eq(fl, 0);
}
END_TEST

START_TEST(test_host_side) {
        struct vmbus_ic_vss_request q;
        struct vmbus_ic_header h;
        ssize_t n = vmbus_ic_vss_request(buf, sizeof buf, VMBUS_IC_VERSION(5, 0), VSS_OP_FREEZE,
                                         VMBUS_IC_VSS_FREEZE_BODY);
        ck_assert_int_eq(n, 28 + VMBUS_IC_VSS_FREEZE_BODY);
        ck_assert_int_eq(vmbus_ic_header_decode(buf, (size_t)n, &h), 0);
        ck_assert_uint_eq(h.msgtype, VMBUS_IC_VSS);
        ck_assert_uint_eq(h.msgsize, VMBUS_IC_VSS_FREEZE_BODY);
        ck_assert_uint_eq(h.flags, 0x3);
        ck_assert_uint_eq(h.msgver.major, 5);
        ck_assert_int_eq(vmbus_ic_vss_decode(buf, (size_t)n, &q), 0);
        ck_assert_uint_eq(q.operation, VSS_OP_FREEZE);
        ck_assert_int_eq(vmbus_ic_vss_request(buf, sizeof buf, VMBUS_IC_VERSION(5, 0), 0, 7), -EMSGSIZE);
        ck_assert_int_eq(vmbus_ic_vss_request(buf, 30, VMBUS_IC_VERSION(5, 0), 0, 12), -ENOBUFS);
        /* A request is not a reply. */
        n = vmbus_ic_vss_request(buf, sizeof buf, VMBUS_IC_VERSION(5, 0), VSS_OP_THAW, 12);
        uint32_t st;
        ck_assert_int_eq(vmbus_ic_vss_reply_decode(buf, (size_t)n, &st, NULL), -EBADMSG);
}
END_TEST

static Suite *vss_suite(void) {
        Suite *s = suite_create("vmbus-vss");
        TCase *t = tcase_create("codec");
        tcase_add_test(t, test_versions);
        tcase_add_test(t, test_decode);
        tcase_add_test(t, test_reply);
        tcase_add_test(t, test_host_side);
        suite_add_tcase(s, t);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(vss_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
