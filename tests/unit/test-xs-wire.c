/* The xenstore wire codec (transport/xenstore/xs_wire.c) against spec §1 and the
 * byte-exact examples of its Appendix B. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/xs_wire.h"

/* Appendix B: READ data/os_name, req_id 7. */
static const uint8_t read_req[] = {
        0x02, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0, 0, 0,
        'd', 'a', 't', 'a', '/', 'o', 's', '_', 'n', 'a', 'm', 'e', 0,
};

START_TEST(test_frame_partial) {
        struct xs_header h;
        for (size_t n = 0; n < sizeof read_req; n++)
                ck_assert_int_eq(xs_frame_next(read_req, n, XS_PAYLOAD_MAX, &h), 0);
}
END_TEST

START_TEST(test_frame_complete) {
        struct xs_header h;
        uint8_t two[2 * sizeof read_req];
        memcpy(two, read_req, sizeof read_req);
        memcpy(two + sizeof read_req, read_req, sizeof read_req);
        ck_assert_int_eq(xs_frame_next(read_req, sizeof read_req, XS_PAYLOAD_MAX, &h), sizeof read_req);
        ck_assert_uint_eq(h.type, XS_READ);
        ck_assert_uint_eq(h.req_id, 7);
        ck_assert_uint_eq(h.tx_id, 0);
        ck_assert_uint_eq(h.len, 13);
        /* A pipelined stream: only the first message is reported. */
        ck_assert_int_eq(xs_frame_next(two, sizeof two, XS_PAYLOAD_MAX, &h), sizeof read_req);
}
END_TEST

START_TEST(test_frame_too_big) {
        struct xs_header h = { XS_WRITE, 1, 0, XS_PAYLOAD_MAX + 1 }, out;
        uint8_t buf[XS_HEADER_SIZE];
        xs_header_encode(buf, &h);
        /* Known from the header alone: no need to wait for the payload. */
        ck_assert_int_eq(xs_frame_next(buf, sizeof buf, XS_PAYLOAD_MAX, &out), -E2BIG);
        h.len = XS_PAYLOAD_MAX;
        xs_header_encode(buf, &h);
        ck_assert_int_eq(xs_frame_next(buf, sizeof buf, XS_PAYLOAD_MAX, &out), 0);
        /* The device limit is smaller. */
        h.len = XS_DEVICE_PAYLOAD_MAX + 1;
        xs_header_encode(buf, &h);
        ck_assert_int_eq(xs_frame_next(buf, sizeof buf, XS_DEVICE_PAYLOAD_MAX, &out), -E2BIG);
        h.len = UINT32_MAX;
        xs_header_encode(buf, &h);
        ck_assert_int_eq(xs_frame_next(buf, sizeof buf, XS_PAYLOAD_MAX, &out), -E2BIG);
}
END_TEST

START_TEST(test_header_roundtrip) {
        struct xs_header h = { 0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00 }, out;
        uint8_t buf[XS_HEADER_SIZE];
        xs_header_encode(buf, &h);
        xs_header_decode(buf, &out);
        ck_assert_mem_eq(&h, &out, sizeof h);
}
END_TEST

START_TEST(test_encode_write) {
        /* Appendix B: WRITE attr/vif/0/ipv4/0 = 192.0.2.10 in tx 3, value without NUL. */
        static const uint8_t want[] = {
                0x0b, 0, 0, 0, 0x08, 0, 0, 0, 0x03, 0, 0, 0, 0x1c, 0, 0, 0,
                'a', 't', 't', 'r', '/', 'v', 'i', 'f', '/', '0', '/', 'i', 'p', 'v', '4', '/', '0', 0,
                '1', '9', '2', '.', '0', '.', '2', '.', '1', '0',
        };
        struct iovec parts[] = { { (void *)"attr/vif/0/ipv4/0", 18 }, { (void *)"192.0.2.10", 10 } };
        uint8_t buf[128];
        ssize_t n = xs_msg_encode(buf, sizeof buf, XS_PAYLOAD_MAX, XS_WRITE, 8, 3, parts, 2);
        ck_assert_int_eq(n, sizeof want);
        ck_assert_mem_eq(buf, want, sizeof want);
}
END_TEST

START_TEST(test_encode_limits) {
        static uint8_t big[XS_PAYLOAD_MAX + 1];
        uint8_t buf[XS_HEADER_SIZE + XS_PAYLOAD_MAX + 8];
        struct iovec one = { big, XS_PAYLOAD_MAX };
        ck_assert_int_eq(xs_msg_encode(buf, sizeof buf, XS_PAYLOAD_MAX, XS_WRITE, 0, 0, &one, 1),
                         XS_HEADER_SIZE + XS_PAYLOAD_MAX);
        one.iov_len = XS_PAYLOAD_MAX + 1;
        ck_assert_int_eq(xs_msg_encode(buf, sizeof buf, XS_PAYLOAD_MAX, XS_WRITE, 0, 0, &one, 1), -E2BIG);
        /* The sum counts, not each part. */
        struct iovec two[] = { { big, 3000 }, { big, 1100 } };
        ck_assert_int_eq(xs_msg_encode(buf, sizeof buf, XS_PAYLOAD_MAX, XS_WRITE, 0, 0, two, 2), -E2BIG);
        one.iov_len = 100;
        ck_assert_int_eq(xs_msg_encode(buf, XS_HEADER_SIZE + 99, XS_PAYLOAD_MAX, XS_WRITE, 0, 0, &one, 1),
                         -ENOBUFS);
        /* An empty payload (e.g. an empty DIRECTORY reply) is a bare header. */
        ck_assert_int_eq(xs_msg_encode(buf, sizeof buf, XS_PAYLOAD_MAX, XS_DIRECTORY, 4, 0, NULL, 0),
                         XS_HEADER_SIZE);
        struct xs_header h;
        xs_header_decode(buf, &h);
        ck_assert_uint_eq(h.len, 0);
        ck_assert_uint_eq(h.req_id, 4);
}
END_TEST

START_TEST(test_split_strings) {
        const char *out[4];
        static const uint8_t perms[] = "n0\0r7"; /* sizeof includes the final NUL */
        ck_assert_int_eq(xs_split_strings(perms, sizeof perms, out, ELEMENTSOF(out)), 2);
        ck_assert_str_eq(out[0], "n0");
        ck_assert_str_eq(out[1], "r7");
        ck_assert_int_eq(xs_split_strings(perms, 0, out, ELEMENTSOF(out)), 0);
        /* TRANSACTION_START's payload: one empty string. */
        ck_assert_int_eq(xs_split_strings((const uint8_t *)"", 1, out, ELEMENTSOF(out)), 1);
        ck_assert_str_eq(out[0], "");
        ck_assert_int_eq(xs_split_strings(perms, sizeof perms - 1, out, ELEMENTSOF(out)), -EINVAL);
        ck_assert_int_eq(xs_split_strings(perms, sizeof perms, out, 1), -E2BIG);
        static const uint8_t empties[] = { 0, 0, 0 };
        ck_assert_int_eq(xs_split_strings(empties, sizeof empties, out, ELEMENTSOF(out)), 3);
}
END_TEST

START_TEST(test_event_parse) {
        const char *path, *token;
        static const uint8_t ev[] = "control/shutdown\0sd\0extra";
        ck_assert_int_eq(xs_event_parse(ev, sizeof ev, &path, &token), 0);
        ck_assert_str_eq(path, "control/shutdown");
        ck_assert_str_eq(token, "sd");
        ck_assert_int_eq(xs_event_parse(ev, 18, &path, &token), -EINVAL);
        ck_assert_int_eq(xs_event_parse(ev, 10, &path, &token), -EINVAL);
}
END_TEST

START_TEST(test_error_names) {
        static const char *const wire[] = { "EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM",
                                            "ENOSPC", "EIO", "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY",
                                            "EAGAIN", "EISCONN", "E2BIG", "EPERM" };
        for (size_t i = 0; i < ELEMENTSOF(wire); i++) {
                int e = xs_error_parse((const uint8_t *)wire[i], strlen(wire[i]) + 1);
                ck_assert_str_eq(xs_error_name(e), wire[i]);
        }
        ck_assert_ptr_null(xs_error_name(ETIMEDOUT));
        ck_assert_ptr_null(xs_error_name(0));
        /* Unknown names map to EINVAL, as libxenstore and the kernel do. */
        ck_assert_int_eq(xs_error_parse((const uint8_t *)"EWHATEVER", 10), EINVAL);
        ck_assert_int_eq(xs_error_parse((const uint8_t *)"ENOENT", 6), ENOENT); /* no NUL */
        ck_assert_int_eq(xs_error_parse((const uint8_t *)"ENOENTX", 8), EINVAL);
        ck_assert_int_eq(xs_error_parse((const uint8_t *)"", 0), EINVAL);
}
END_TEST

START_TEST(test_type_names) {
        ck_assert_str_eq(xs_type_name(XS_READ), "READ");
        ck_assert_str_eq(xs_type_name(XS_DIRECTORY_PART), "DIRECTORY_PART");
        ck_assert_str_eq(xs_type_name(XS_RESTRICT_REMOVED), "UNKNOWN");
        ck_assert_str_eq(xs_type_name(XS_TYPE_COUNT), "UNKNOWN");
        ck_assert_str_eq(xs_type_name(0xffff), "UNKNOWN");
}
END_TEST

START_TEST(test_path_valid) {
        static const char *const good[] = { "/", "/local/domain/5", "data/os_name", "a", "a-b_C9",
                                            "/local/domain/5/attr/vif/0/ipv4/0", "a@b" };
        static const char *const bad[] = { "", "//", "/a//b", "/a/", "a/", "a b", "/a.b", "/a:b",
                                           "/ä", "@", "@foo", "a\n" };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ck_assert_msg(xs_path_valid(good[i], false), "%s should be valid", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(!xs_path_valid(bad[i], true), "%s should be invalid", bad[i]);
        ck_assert(xs_path_valid("@introduceDomain", true));
        ck_assert(xs_path_valid("@releaseDomain", true));
        ck_assert(!xs_path_valid("@introduceDomain", false));

        char long_path[XS_ABS_PATH_MAX + 2];
        memset(long_path, 'a', sizeof long_path);
        long_path[0] = '/';
        long_path[XS_ABS_PATH_MAX] = 0;
        ck_assert(xs_path_valid(long_path, false));
        long_path[XS_ABS_PATH_MAX] = 'a';
        long_path[XS_ABS_PATH_MAX + 1] = 0;
        ck_assert(!xs_path_valid(long_path, false));
}
END_TEST

static Suite *wire_suite(void) {
        Suite *s = suite_create("xs_wire");
        TCase *frame = tcase_create("framing");
        tcase_add_test(frame, test_frame_partial);
        tcase_add_test(frame, test_frame_complete);
        tcase_add_test(frame, test_frame_too_big);
        tcase_add_test(frame, test_header_roundtrip);
        suite_add_tcase(s, frame);
        TCase *enc = tcase_create("encoding");
        tcase_add_test(enc, test_encode_write);
        tcase_add_test(enc, test_encode_limits);
        suite_add_tcase(s, enc);
        TCase *pay = tcase_create("payloads");
        tcase_add_test(pay, test_split_strings);
        tcase_add_test(pay, test_event_parse);
        tcase_add_test(pay, test_error_names);
        tcase_add_test(pay, test_type_names);
        tcase_add_test(pay, test_path_valid);
        suite_add_tcase(s, pay);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(wire_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
