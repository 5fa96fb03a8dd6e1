/* IC framework and codecs (spec §2.7, §3, §4): headers and reply rules, Linux's
 * negotiation algorithm including every "no match" path, and each IC's messages, checked
 * against hand-built wire bytes at the offsets the spec lists and by round trips through
 * the host-side encoders. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "pvic/vmbus_ic.h"

static uint8_t buf[8192];

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* A host request by hand: pipe header, IC header as §3.1 lays it out. */
static size_t make_request(uint16_t msgtype, uint16_t major, uint16_t minor, size_t body_len) {
        memset(buf, 0, sizeof buf);
        put32(buf + 0, 1);
        put32(buf + 4, (uint32_t)(20 + body_len));
        put16(buf + 8, 3);
        put16(buf + 10, 0);
        put16(buf + 12, msgtype);
        put16(buf + 14, major);
        put16(buf + 16, minor);
        put16(buf + 18, (uint16_t)body_len);
        buf[24] = 0;
        buf[25] = 0x3;
        return 28 + body_len;
}

static void assert_reply(uint32_t status) {
        ck_assert_uint_eq(buf[25], 0x5);
        ck_assert_uint_eq(get32(buf + 20), status);
}

START_TEST(test_header) {
        struct vmbus_ic_header h;
        size_t len = make_request(VMBUS_IC_KVP, 4, 0, 2580);

        buf[24] = 7;
        ck_assert_int_eq(vmbus_ic_header_decode(buf, 27, &h), -EBADMSG);
        ck_assert_int_eq(vmbus_ic_header_decode(buf, len, &h), 0);
        ck_assert_uint_eq(h.pipe_type, 1);
        ck_assert_uint_eq(h.pipe_size, 2600);
        ck_assert_uint_eq(h.framever.major, 3);
        ck_assert_uint_eq(h.msgtype, 2);
        ck_assert_uint_eq(h.msgver.major, 4);
        ck_assert_uint_eq(h.msgsize, 2580);
        ck_assert_uint_eq(h.transaction_id, 7);
        ck_assert_uint_eq(h.flags, 3);

        uint8_t copy[28];
        memset(copy, 0xff, sizeof copy);
        vmbus_ic_header_encode(copy, &h);
        ck_assert_mem_eq(copy, buf, 28);

        /* Replies: flags exactly TRANSACTION|RESPONSE, transaction id echoed. */
        buf[25] = 0xff;
        vmbus_ic_set_reply(buf, VMBUS_IC_E_FAIL);
        assert_reply(VMBUS_IC_E_FAIL);
        ck_assert_uint_eq(buf[24], 7);
}
END_TEST

START_TEST(test_status_map) {
        ck_assert_uint_eq(vmbus_ic_status_to_hresult(HOST_STATUS_OK), 0);
        ck_assert_uint_eq(vmbus_ic_status_to_hresult(HOST_STATUS_FAILED), 0x80004005u);
        ck_assert_uint_eq(vmbus_ic_status_to_hresult(HOST_STATUS_NOT_FOUND), 0x80070103u);
        ck_assert_uint_eq(vmbus_ic_status_to_hresult(HOST_STATUS_INVALID_ARG), 0x80070057u);
        ck_assert_uint_eq(vmbus_ic_status_to_hresult(HOST_STATUS_NO_ADAPTER), 0x80041002u);
        ck_assert_uint_eq(vmbus_ic_status_to_hresult(HOST_STATUS_NOT_SUPPORTED), 0x80070032u);
        for (int s = HOST_STATUS_OK; s <= HOST_STATUS_NOT_SUPPORTED; s++)
                ck_assert_int_eq(vmbus_ic_status_from_hresult(vmbus_ic_status_to_hresult(s)), s);
        ck_assert_int_eq(vmbus_ic_status_from_hresult(0x8000ffffu), HOST_STATUS_FAILED);
}
END_TEST

/* A negotiate request as §9's host sends it: framework {1.0, 3.0}, then services. */
static size_t make_negotiate(const uint16_t (*fw)[2], size_t n, const uint16_t (*msg)[2], size_t m) {
        size_t len = make_request(VMBUS_IC_NEGOTIATE, 0, 0, 8 + 4 * (n + m));
        uint8_t *b = buf + 28;

        put16(buf + 8, 0);
        put16(b, (uint16_t)n);
        put16(b + 2, (uint16_t)m);
        for (size_t i = 0; i < n; i++) {
                put16(b + 8 + 4 * i, fw[i][0]);
                put16(b + 10 + 4 * i, fw[i][1]);
        }
        for (size_t i = 0; i < m; i++) {
                put16(b + 8 + 4 * (n + i), msg[i][0]);
                put16(b + 10 + 4 * (n + i), msg[i][1]);
        }
        return len;
}

static const uint16_t host_fw[2][2] = { { 1, 0 }, { 3, 0 } };

START_TEST(test_negotiate_kvp_known_bytes) {
        static const uint16_t svc[3][2] = { { 3, 0 }, { 4, 0 }, { 5, 0 } };
        size_t len = make_negotiate(host_fw, 2, svc, 3);
        struct vmbus_ic_version fw, msg;
        uint8_t before[64];

        ck_assert_uint_eq(len, 28 + 8 + 20);
        memcpy(before, buf, len);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_kvp_versions, &fw, &msg), 1);
        ck_assert_uint_eq(fw.major, 3);
        ck_assert_uint_eq(msg.major, 4);
        assert_reply(0);
        ck_assert_uint_eq(get16(buf + 18), 16);
        static const uint8_t body[] = { 1, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0 };
        ck_assert_mem_eq(buf + 28, body, sizeof body);
        /* Everything outside msgsize, status, flags and the body is echoed. */
        ck_assert_mem_eq(buf, before, 18);
        ck_assert_mem_eq(buf + 24, before + 24, 1);
        ck_assert_mem_eq(buf + 44, before + 44, len - 44);

        struct vmbus_ic_version rfw, rmsg;
        ck_assert_int_eq(vmbus_ic_negotiate_reply_decode(buf, len, &rfw, &rmsg), 1);
        ck_assert_int_eq(vmbus_ic_version_cmp(rfw, fw), 0);
        ck_assert_int_eq(vmbus_ic_version_cmp(rmsg, msg), 0);
}
END_TEST

START_TEST(test_negotiate_preference) {
        static const uint16_t sd_all[4][2] = { { 1, 0 }, { 3, 0 }, { 3, 1 }, { 3, 2 } };
        static const uint16_t sd_old[2][2] = { { 3, 0 }, { 1, 0 } };
        static const uint16_t ts4[1][2] = { { 4, 0 } };
        static const uint16_t fw1[1][2] = { { 1, 0 } };
        struct vmbus_ic_version fw, msg;
        size_t len;

        len = make_negotiate(host_fw, 2, sd_all, 4);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_shutdown_versions, &fw, &msg), 1);
        ck_assert(msg.major == 3 && msg.minor == 2);

        len = make_negotiate(host_fw, 2, sd_old, 2);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_shutdown_versions, &fw, &msg), 1);
        ck_assert(msg.major == 3 && msg.minor == 0);

        len = make_negotiate(fw1, 1, ts4, 1);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_timesync_versions, &fw, &msg), 1);
        ck_assert(fw.major == 1 && fw.minor == 0 && msg.major == 4);
}
END_TEST

static void assert_no_match(size_t len) {
        struct vmbus_ic_version fw = { 9, 9 }, msg = { 9, 9 };

        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_heartbeat_versions, &fw, &msg), 0);
        ck_assert_uint_eq(get16(buf + 28), 0);
        ck_assert_uint_eq(get16(buf + 30), 0);
        ck_assert_uint_eq(get16(buf + 18), 16);
        assert_reply(VMBUS_IC_E_FAIL);
        ck_assert(fw.major == 9 && msg.major == 9); /* outputs untouched */
        ck_assert_int_eq(vmbus_ic_negotiate_reply_decode(buf, len, NULL, NULL), 0);
}

START_TEST(test_negotiate_no_match) {
        static const uint16_t hb_unknown[1][2] = { { 3, 2 } };
        static const uint16_t hb30[1][2] = { { 3, 0 } };
        static const uint16_t fw2[1][2] = { { 2, 0 } };
        size_t len;

        len = make_negotiate(host_fw, 2, hb_unknown, 1);      /* service unknown to us */
        assert_no_match(len);
        len = make_negotiate(fw2, 1, hb30, 1);          /* framework unknown */
        assert_no_match(len);
        len = make_negotiate(host_fw, 2, NULL, 0);      /* no service offered */
        assert_no_match(len);

        len = make_negotiate(host_fw, 2, hb30, 1);      /* counts beyond the packet */
        put16(buf + 30, 2);
        assert_no_match(len);
        len = make_negotiate(host_fw, 2, hb30, 1);
        put16(buf + 28, 101);                           /* more than 100 versions */
        assert_no_match(len);
        len = make_negotiate(host_fw, 2, hb30, 1);
        assert_no_match(len - 4);                       /* packet cut short */

        /* Counts only, no room for versions. */
        make_negotiate(host_fw, 2, hb30, 1);
        assert_no_match(32);

        /* No room for the counts: only the verdict changes. */
        make_negotiate(host_fw, 2, hb30, 1);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, 31, &vmbus_ic_heartbeat_versions, NULL, NULL), 0);
        assert_reply(VMBUS_IC_E_FAIL);
        ck_assert_uint_eq(get16(buf + 28), 2);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, 27, &vmbus_ic_heartbeat_versions, NULL, NULL), -EBADMSG);
        len = make_negotiate(host_fw, 2, hb30, 1);
        put16(buf + 12, VMBUS_IC_HEARTBEAT);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_heartbeat_versions, NULL, NULL), -EBADMSG);

        /* The match itself. */
        len = make_negotiate(host_fw, 2, hb30, 1);
        ck_assert_int_eq(vmbus_ic_negotiate(buf, len, &vmbus_ic_heartbeat_versions, NULL, NULL), 1);
}
END_TEST

START_TEST(test_negotiate_request_encoder) {
        static const struct vmbus_ic_version fw[] = { { 1, 0 }, { 3, 0 } };
        static const struct vmbus_ic_version msg[] = { { 4, 0 } };
        static const uint8_t want[] = {
                1, 0, 0, 0, 40, 0, 0, 0,              /* pipe: data, 20 + 20 */
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0,  /* versions 0.0, type 0, size 8 + 4 * 3 */
                0, 0, 0, 0, 0, 3, 0, 0,               /* status, trans id, flags 0x3 */
                2, 0, 1, 0, 0, 0, 0, 0,               /* counts, reserved */
                1, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0,
        };
        uint8_t out[64];

        ck_assert_int_eq(vmbus_ic_negotiate_request(out, sizeof out, fw, 2, msg, 1), (ssize_t)sizeof want);
        ck_assert_mem_eq(out, want, sizeof want);
        ck_assert_int_eq(vmbus_ic_negotiate_request(out, 40, fw, 2, msg, 1), -ENOBUFS);
        ck_assert_ptr_null(vmbus_ic_versions_for(VMBUS_IC_FCOPY));
        ck_assert_ptr_eq(vmbus_ic_versions_for(VMBUS_IC_KVP), &vmbus_ic_kvp_versions);
}
END_TEST

START_TEST(test_heartbeat) {
        struct host_heartbeat hb;
        size_t len;
        uint64_t seq;
        uint32_t app;

        /* Linux's 40-byte body; only the first 8 bytes are required. */
        len = make_request(VMBUS_IC_HEARTBEAT, 3, 0, 40);
        put64(buf + 28, 0x0102030405060708ull);
        ck_assert_int_eq(vmbus_ic_heartbeat_decode(buf, 35, &hb), -EBADMSG);
        ck_assert_int_eq(vmbus_ic_heartbeat_decode(buf, 36, &hb), 0);
        ck_assert_int_eq(vmbus_ic_heartbeat_decode(buf, len, &hb), 0);
        ck_assert(hb.sequence == 0x0102030405060708ull);

        put32(buf + 36, 0xdddddddd);
        ck_assert_int_eq(vmbus_ic_heartbeat_reply(buf, len, VMBUS_IC_VERSION(3, 0), &hb, HOST_APP_HEALTHY), 0);
        ck_assert(get64(buf + 28) == 0x0102030405060709ull);
        ck_assert_uint_eq(get32(buf + 36), 0xdddddddd); /* 3.0 has no application state */
        assert_reply(0);

        ck_assert_int_eq(vmbus_ic_heartbeat_reply(buf, len, VMBUS_IC_VERSION(3, 1), &hb, HOST_APP_CRITICAL), 0);
        ck_assert_uint_eq(get32(buf + 36), 2);

        /* Round trip through the host-side encoder and reply reader. */
        len = (size_t)vmbus_ic_heartbeat_request(buf, sizeof buf, VMBUS_IC_VERSION(3, 1), 41);
        ck_assert_uint_eq(len, 28 + 16);
        ck_assert_uint_eq(buf[25], 3);
        ck_assert_int_eq(vmbus_ic_heartbeat_decode(buf, len, &hb), 0);
        ck_assert(hb.sequence == 41);
        ck_assert_int_eq(vmbus_ic_heartbeat_reply(buf, len, VMBUS_IC_VERSION(3, 1), &hb, HOST_APP_HEALTHY), 0);
        ck_assert_int_eq(vmbus_ic_heartbeat_reply_decode(buf, len, &seq, &app), 0);
        ck_assert(seq == 42);
        ck_assert_uint_eq(app, 1);

        /* Wrong message type is not a heartbeat. */
        put16(buf + 12, VMBUS_IC_SHUTDOWN);
        ck_assert_int_eq(vmbus_ic_heartbeat_decode(buf, len, &hb), -EBADMSG);
}
END_TEST

START_TEST(test_shutdown) {
        static const struct {
                uint32_t flags;
                int ret;
                enum host_shutdown_action action;
                bool force;
        } table[] = {
                { 0, 0, HOST_SHUTDOWN_POWEROFF, false },
                { 1, 0, HOST_SHUTDOWN_POWEROFF, true },
                { 2, 0, HOST_SHUTDOWN_REBOOT, false },
                { 3, 0, HOST_SHUTDOWN_REBOOT, true },
                { 4, 0, HOST_SHUTDOWN_HIBERNATE, false },
                { 5, 0, HOST_SHUTDOWN_HIBERNATE, true },
                { 6, -EOPNOTSUPP, 0, false },
                { 7, -EOPNOTSUPP, 0, false },
                { 8, -EOPNOTSUPP, 0, false },
                { 0x80000000u, -EOPNOTSUPP, 0, false },
        };
        struct host_shutdown sd;
        size_t len;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                len = make_request(VMBUS_IC_SHUTDOWN, 3, 2, 2060);
                put32(buf + 28, 0x80000000u);
                put32(buf + 32, 30);
                put32(buf + 36, table[i].flags);
                ck_assert_int_eq(vmbus_ic_shutdown_decode(buf, len, &sd), table[i].ret);
                if (table[i].ret < 0)
                        continue;
                ck_assert_int_eq(sd.action, table[i].action);
                ck_assert_int_eq(sd.force, table[i].force);
                ck_assert_uint_eq(sd.timeout_sec, 30);
                ck_assert_uint_eq(sd.reason_code, 0x80000000u);
                ck_assert_str_eq(sd.message, "");
        }
        /* Linux drops anything shorter than the full 2060-byte body. */
        ck_assert_int_eq(vmbus_ic_shutdown_decode(buf, 28 + 2059, &sd), -EBADMSG);

        /* Display text: UTF-16LE at body offset 12. */
        len = make_request(VMBUS_IC_SHUTDOWN, 3, 0, 2060);
        static const uint8_t text[] = { 'B', 0, 'y', 0, 'e', 0, ' ', 0, 0xfc, 0, 0x3d, 0xd8, 0x00, 0xde, 0, 0 };
        memcpy(buf + 40, text, sizeof text);
        ck_assert_int_eq(vmbus_ic_shutdown_decode(buf, len, &sd), 0);
        ck_assert_str_eq(sd.message, "Bye \xc3\xbc\xf0\x9f\x98\x80");
        /* A broken text still lets the shutdown through, without the text. */
        put16(buf + 40, 0xdc00);
        ck_assert_int_eq(vmbus_ic_shutdown_decode(buf, len, &sd), 0);
        ck_assert_str_eq(sd.message, "");
        ck_assert_int_eq(sd.action, HOST_SHUTDOWN_POWEROFF);
        /* A text without NUL fills all 1024 units. */
        for (size_t i = 0; i < 1024; i++)
                put16(buf + 40 + 2 * i, 0x20ac);
        ck_assert_int_eq(vmbus_ic_shutdown_decode(buf, len, &sd), 0);
        ck_assert_uint_eq(strlen(sd.message), 3 * 1024);

        /* Host encoder round trip and the status-only reply. */
        len = (size_t)vmbus_ic_shutdown_request(buf, sizeof buf, VMBUS_IC_VERSION(3, 1), 5, 60, 3, "maint\xc3\xa9");
        ck_assert_uint_eq(len, 2088);
        ck_assert_int_eq(vmbus_ic_shutdown_decode(buf, len, &sd), 0);
        ck_assert_int_eq(sd.action, HOST_SHUTDOWN_REBOOT);
        ck_assert(sd.force);
        ck_assert_str_eq(sd.message, "maint\xc3\xa9");
        vmbus_ic_reply_status(buf, HOST_STATUS_FAILED);
        assert_reply(VMBUS_IC_E_FAIL);
}
END_TEST

/* 2024-01-01T00:00:00Z */
#define UNIX_2024 1704067200ll
#define FT_2024 133485408000000000ull

START_TEST(test_filetime) {
        int64_t ns;
        uint64_t ft;

        ck_assert_int_eq(vmbus_filetime_to_unix_ns(FT_2024, &ns), 0);
        ck_assert(ns == UNIX_2024 * 1000000000ll);
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(116444736000000000ull, &ns), 0);
        ck_assert(ns == 0);
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(116444736000000000ull - 1, &ns), 0);
        ck_assert(ns == -100);
        /* 1601 is before what int64 nanoseconds since 1970 can hold (1677). */
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(0, &ns), -ERANGE);
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(116444736000000000ull - INT64_MAX / 100, &ns), 0);
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(UINT64_MAX, &ns), -ERANGE);
        /* The last FILETIME whose Unix nanoseconds fit in int64. */
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(116444736000000000ull + INT64_MAX / 100, &ns), 0);
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(116444736000000000ull + INT64_MAX / 100 + 1, &ns), -ERANGE);

        ck_assert_int_eq(vmbus_unix_ns_to_filetime(UNIX_2024 * 1000000000ll + 99, &ft), 0);
        ck_assert(ft == FT_2024);
        ck_assert_int_eq(vmbus_unix_ns_to_filetime(-1, &ft), 0);
        ck_assert(ft == 116444736000000000ull - 1);
        /* Every int64 nanosecond value (1677..2262) has a FILETIME. */
        ck_assert_int_eq(vmbus_unix_ns_to_filetime(INT64_MIN, &ft), 0);
        ck_assert(ft == 116444736000000000ull - 92233720368547759ull);
        /* ...but the tick holding INT64_MIN starts before it. */
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(ft, &ns), -ERANGE);
        ck_assert_int_eq(vmbus_filetime_to_unix_ns(ft + 1, &ns), 0);
        ck_assert(ns > INT64_MIN && ns - 100 < INT64_MIN + 100);
}
END_TEST

START_TEST(test_timesync_v4) {
        struct host_time_sample s;
        size_t len = make_request(VMBUS_IC_TIMESYNC, 4, 0, 24);

        put64(buf + 28, FT_2024 + 5);          /* parenttime */
        put64(buf + 36, 123456789);            /* vmreferencetime */
        buf[44] = VMBUS_IC_TIMESYNC_FLAG_SYNC;
        buf[45] = 1;
        buf[46] = 3;
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, 28 + 21, VMBUS_IC_VERSION(4, 0), &s), -EBADMSG);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, 28 + 22, VMBUS_IC_VERSION(4, 0), &s), 0);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(4, 0), &s), 0);
        ck_assert(s.host_time_ns == UNIX_2024 * 1000000000ll + 500);
        ck_assert(s.has_ref_time);
        ck_assert(s.ref_time_ns == 12345678900ull);
        ck_assert_uint_eq(s.flags, HOST_TIME_SYNC);
        ck_assert_uint_eq(s.leap, 1);
        ck_assert_uint_eq(s.stratum, 3);

        buf[44] = VMBUS_IC_TIMESYNC_FLAG_SAMPLE | 0x80; /* undefined bits dropped */
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(4, 0), &s), 0);
        ck_assert_uint_eq(s.flags, HOST_TIME_SAMPLE);

        put64(buf + 28, UINT64_MAX);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(4, 0), &s), -ERANGE);
        put64(buf + 28, FT_2024);
        put64(buf + 36, UINT64_MAX);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(4, 0), &s), -ERANGE);

        /* Host encoder: OpenVMM's 24-byte body, periodic messages with icflags 0. */
        struct vmbus_ic_timesync_wire w = { .parent_time = FT_2024, .vm_reference_time = 10,
                                            .flags = VMBUS_IC_TIMESYNC_FLAG_SAMPLE };
        len = (size_t)vmbus_ic_timesync_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), 0, &w);
        ck_assert_uint_eq(len, 28 + 24);
        ck_assert_uint_eq(buf[25], 0);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(4, 0), &s), 0);
        ck_assert(s.host_time_ns == UNIX_2024 * 1000000000ll && s.ref_time_ns == 1000);
        ck_assert_uint_eq(s.flags, HOST_TIME_SAMPLE);
        vmbus_ic_reply_status(buf, HOST_STATUS_OK);
        assert_reply(0);
}
END_TEST

START_TEST(test_timesync_v3_v1) {
        struct host_time_sample s;
        size_t len = make_request(VMBUS_IC_TIMESYNC, 3, 0, 28);

        put64(buf + 28, FT_2024);
        put64(buf + 36, FT_2024 - 10);         /* childtime */
        put64(buf + 44, 8);                    /* roundtriptime */
        buf[52] = VMBUS_IC_TIMESYNC_FLAG_SYNC | VMBUS_IC_TIMESYNC_FLAG_SAMPLE;
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, 28 + 24, VMBUS_IC_VERSION(3, 0), &s), -EBADMSG);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, 28 + 25, VMBUS_IC_VERSION(3, 0), &s), 0);
        ck_assert(s.host_time_ns == UNIX_2024 * 1000000000ll);
        ck_assert(!s.has_ref_time);
        ck_assert(s.child_time_ns == UNIX_2024 * 1000000000ll - 1000);
        ck_assert(s.round_trip_ns == 800);
        ck_assert_uint_eq(s.flags, HOST_TIME_SYNC | HOST_TIME_SAMPLE);

        /* 1.0 uses the same layout; a zero childtime stays 0. */
        put64(buf + 36, 0);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(1, 0), &s), 0);
        ck_assert(s.child_time_ns == 0);

        /* The same bytes read as 4.0 put the flags elsewhere: layouts really differ. */
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(4, 0), &s), 0);
        ck_assert_uint_eq(s.flags, 0);

        struct vmbus_ic_timesync_wire w = { .parent_time = FT_2024, .child_time = 0,
                                            .round_trip_time = 3, .flags = 1 };
        len = (size_t)vmbus_ic_timesync_request(buf, sizeof buf, VMBUS_IC_VERSION(3, 0), 3, &w);
        ck_assert_uint_eq(len, 28 + 28);
        ck_assert_int_eq(vmbus_ic_timesync_decode(buf, len, VMBUS_IC_VERSION(3, 0), &s), 0);
        ck_assert_uint_eq(s.flags, HOST_TIME_SYNC);
        ck_assert(s.round_trip_ns == 300);
}
END_TEST

/* KVP packets by hand at the "pkt" offsets of §4.4. */
static size_t make_kvp(uint8_t op, uint8_t pool) {
        size_t len = make_request(VMBUS_IC_KVP, 4, 0, op >= 4 ? 7428 : 2580);
        buf[28] = op;
        buf[29] = pool;
        return len;
}

static void put_utf16_ascii(uint8_t *p, const char *s) {
        for (; *s; s++, p += 2)
                put16(p, (uint8_t)*s);
        put16(p, 0);
}

START_TEST(test_kvp_set_known_bytes) {
        struct host_kvp_request req;
        size_t len = make_kvp(HOST_KVP_SET, 0);

        put32(buf + 32, VMBUS_KVP_REG_SZ);
        put32(buf + 36, 8);                    /* "key" + NUL, in bytes */
        put32(buf + 40, 12);                   /* "value" + NUL */
        put_utf16_ascii(buf + 44, "key");
        put_utf16_ascii(buf + 556, "value");
        ck_assert_uint_eq(len, 2608);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_int_eq(req.op, HOST_KVP_SET);
        ck_assert_uint_eq(req.pool, 0);
        ck_assert_str_eq(req.key, "key");
        ck_assert_str_eq(req.value, "value");
        ck_assert_int_eq(req.value_type, HOST_KVP_STRING);

        /* key_size bounds the key even without a NUL. */
        put32(buf + 36, 4);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_str_eq(req.key, "ke");
        /* An oversize key_size is bounded by the field. */
        put32(buf + 36, 0xffffffffu);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_str_eq(req.key, "key");

        /* Integers become decimal text, as through the kernel relay. */
        put32(buf + 32, VMBUS_KVP_REG_DWORD);
        put32(buf + 556, 4000000000u);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_str_eq(req.value, "4000000000");
        ck_assert_int_eq(req.value_type, HOST_KVP_U32);
        put32(buf + 32, VMBUS_KVP_REG_QWORD);
        put64(buf + 556, 18446744073709551615ull);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_str_eq(req.value, "18446744073709551615");
        put32(buf + 32, VMBUS_KVP_REG_U64_LINUX);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_int_eq(req.value_type, HOST_KVP_U64);
        put32(buf + 32, 3);                    /* REG_BINARY */
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), -EOPNOTSUPP);

        /* A lone surrogate in the key. */
        put32(buf + 32, VMBUS_KVP_REG_SZ);
        put16(buf + 44, 0xd800);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), -EILSEQ);

        /* SET reply: status only, body untouched. */
        uint8_t before[2608];
        memcpy(before, buf, len);
        struct host_kvp_reply rep = { .status = HOST_STATUS_OK };
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, len, &rep), 0);
        assert_reply(0);
        ck_assert_mem_eq(buf + 28, before + 28, len - 28);
}
END_TEST

START_TEST(test_kvp_delete_get_enumerate_decode) {
        struct host_kvp_request req;
        size_t len;

        len = make_kvp(HOST_KVP_DELETE, 0);
        put32(buf + 32, 6);
        put_utf16_ascii(buf + 36, "ab");
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_str_eq(req.key, "ab");

        len = make_kvp(HOST_KVP_GET, 3);
        put32(buf + 36, 6);
        put_utf16_ascii(buf + 44, "cd");
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_int_eq(req.op, HOST_KVP_GET);
        ck_assert_uint_eq(req.pool, 3);
        ck_assert_str_eq(req.key, "cd");

        len = make_kvp(HOST_KVP_ENUMERATE, 2);
        put32(buf + 32, 9);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), 0);
        ck_assert_uint_eq(req.index, 9);
        /* A short body reads as zero-extended. */
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, 32, &req), 0);
        ck_assert_uint_eq(req.index, 0);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, 29, &req), -EBADMSG);

        buf[28] = 6;
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, len, &req), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_kvp_enumerate_reply_known_bytes) {
        struct host_kvp_reply rep = { .status = HOST_STATUS_OK };
        size_t len = make_kvp(HOST_KVP_ENUMERATE, 2);

        put32(buf + 32, 0);
        memset(buf + 48, 0xee, 512);           /* junk must not survive */
        strcpy(rep.key, "OSName");
        strcpy(rep.value, "Debian \xe2\x82\xac");
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, len, &rep), 0);
        assert_reply(0);
        ck_assert_uint_eq(get32(buf + 36), 1);          /* REG_SZ */
        ck_assert_uint_eq(get32(buf + 40), 14);         /* 6 units + NUL */
        ck_assert_uint_eq(get32(buf + 44), 18);         /* 8 units + NUL */
        ck_assert_mem_eq(buf + 48, "O\0S\0N\0a\0m\0e\0\0\0", 14);
        ck_assert_uint_eq(buf[62], 0);
        ck_assert_mem_eq(buf + 560, "D\0e\0b\0i\0a\0n\0 \0\xac\x20\0\0", 18);
        ck_assert_uint_eq(buf[25], 5);

        struct host_kvp_reply back;
        ck_assert_int_eq(vmbus_ic_kvp_reply_decode(buf, len, &back), 0);
        ck_assert_int_eq(back.status, HOST_STATUS_OK);
        ck_assert_str_eq(back.key, rep.key);
        ck_assert_str_eq(back.value, rep.value);

        /* End of enumeration: VMBUS_IC_S_CONT, nothing else written. */
        len = make_kvp(HOST_KVP_ENUMERATE, 1);
        rep.status = HOST_STATUS_NOT_FOUND;
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, len, &rep), 0);
        assert_reply(0x80070103u);
        ck_assert_uint_eq(get32(buf + 40), 0);

        /* Too long for the wire: cut at a character boundary, NUL kept. */
        len = make_kvp(HOST_KVP_ENUMERATE, 1);
        rep.status = HOST_STATUS_OK;
        memset(rep.key, 'k', 300);
        rep.key[300] = 0;
        strcpy(rep.value, "v");
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, len, &rep), 1);
        ck_assert_uint_eq(get32(buf + 40), 512);
        ck_assert_uint_eq(get16(buf + 48 + 510), 0);

        /* A reply that does not fit the host's packet fails cleanly. */
        len = make_kvp(HOST_KVP_ENUMERATE, 1);
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, 28 + 100, &rep), -EBADMSG);
        assert_reply(VMBUS_IC_E_FAIL);
        /* Malformed UTF-8 from a pool file is refused, not sent. */
        len = make_kvp(HOST_KVP_ENUMERATE, 1);
        strcpy(rep.key, "bad\xc3");
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, len, &rep), -EILSEQ);
        assert_reply(VMBUS_IC_E_FAIL);
}
END_TEST

START_TEST(test_kvp_get_reply) {
        struct host_kvp_reply rep = { .status = HOST_STATUS_OK }, back;
        size_t len = make_kvp(HOST_KVP_GET, 0);

        put32(buf + 36, 4);
        put_utf16_ascii(buf + 44, "k");
        strcpy(rep.value, "val");
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, len, &rep), 0);
        ck_assert_uint_eq(get32(buf + 32), 1);
        ck_assert_uint_eq(get32(buf + 40), 8);
        ck_assert_mem_eq(buf + 556, "v\0a\0l\0\0\0", 8);
        ck_assert_mem_eq(buf + 44, "k\0\0\0", 4); /* the key is echoed */
        ck_assert_int_eq(vmbus_ic_kvp_reply_decode(buf, len, &back), 0);
        ck_assert_str_eq(back.value, "val");
}
END_TEST

static void fill_ip(struct host_kvp_ip_info *ip) {
        strcpy(ip->adapter_id, "00:15:5D:01:02:03");
        ip->addr_family = HOST_KVP_ADDR_IPV4 | HOST_KVP_ADDR_IPV6;
        ip->dhcp_enabled = true;
        strcpy(ip->ip_addr, "10.0.0.4;fe80::215:5dff:fe01:203");
        strcpy(ip->sub_net, "255.255.255.0;/64");
        strcpy(ip->gate_way, "10.0.0.1;");
        strcpy(ip->dns_addr, "10.0.0.2;");
}

START_TEST(test_kvp_ip_info) {
        _cleanup_free_ struct host_kvp_request *req = calloc(1, sizeof *req);
        _cleanup_free_ struct host_kvp_request *got = calloc(1, sizeof *got);
        _cleanup_free_ struct host_kvp_reply *rep = calloc(1, sizeof *rep);
        _cleanup_free_ struct host_kvp_reply *back = calloc(1, sizeof *back);
        ssize_t len;

        /* GET_IP_INFO: no padding after op/pool, adapter id at pkt 30. */
        req->op = HOST_KVP_GET_IP_INFO;
        req->pool = 1;
        strcpy(req->ip.adapter_id, "00:15:5D:01:02:03");
        len = vmbus_ic_kvp_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), req);
        ck_assert_int_eq(len, 7456);
        ck_assert_uint_eq(buf[28], 4);
        ck_assert_mem_eq(buf + 30, "0\0000\0:\0", 6);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, (size_t)len, got), 0);
        ck_assert_int_eq(got->op, HOST_KVP_GET_IP_INFO);
        ck_assert_str_eq(got->ip.adapter_id, "00:15:5D:01:02:03");

        rep->status = HOST_STATUS_OK;
        fill_ip(&rep->ip);
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, (size_t)len, rep), 0);
        ck_assert_uint_eq(buf[286], 3);
        ck_assert_uint_eq(buf[287], 1);
        ck_assert_mem_eq(buf + 288, "1\0000\0.\0", 6);
        ck_assert_mem_eq(buf + 2336, "2\0005\0", 4);
        ck_assert_mem_eq(buf + 4384, "1\0000\0", 4);
        ck_assert_mem_eq(buf + 5408, "1\0000\0", 4);
        ck_assert_int_eq(vmbus_ic_kvp_reply_decode(buf, (size_t)len, back), 0);
        ck_assert_str_eq(back->ip.ip_addr, rep->ip.ip_addr);
        ck_assert_str_eq(back->ip.sub_net, rep->ip.sub_net);
        ck_assert_str_eq(back->ip.gate_way, rep->ip.gate_way);
        ck_assert_str_eq(back->ip.dns_addr, rep->ip.dns_addr);
        ck_assert_str_eq(back->ip.adapter_id, rep->ip.adapter_id);
        ck_assert(back->ip.dhcp_enabled);

        /* SET_IP_INFO round trip. */
        memset(req, 0, sizeof *req);
        req->op = HOST_KVP_SET_IP_INFO;
        fill_ip(&req->ip);
        strcpy(req->ip.adapter_id, "{f8615163-df3e-46c5-913f-f2d2f965ed0e}");
        len = vmbus_ic_kvp_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), req);
        ck_assert_int_eq(len, 7456);
        ck_assert_int_eq(vmbus_ic_kvp_decode(buf, (size_t)len, got), 0);
        ck_assert_str_eq(got->ip.adapter_id, req->ip.adapter_id);
        ck_assert_str_eq(got->ip.ip_addr, req->ip.ip_addr);
        ck_assert_str_eq(got->ip.dns_addr, req->ip.dns_addr);
        ck_assert_uint_eq(got->ip.addr_family, 3);
        rep->status = HOST_STATUS_NO_ADAPTER;
        ck_assert_int_eq(vmbus_ic_kvp_reply(buf, (size_t)len, rep), 0);
        assert_reply(0x80041002u);
}
END_TEST

START_TEST(test_kvp_round_trips) {
        _cleanup_free_ struct host_kvp_request *req = calloc(1, sizeof *req);
        _cleanup_free_ struct host_kvp_request *got = calloc(1, sizeof *got);
        ssize_t len;

        for (int op = HOST_KVP_GET; op <= HOST_KVP_ENUMERATE; op++) {
                memset(req, 0, sizeof *req);
                req->op = op;
                req->pool = 3;
                req->index = 77;
                strcpy(req->key, "VirtualMachineName \xe6\x97\xa5");
                strcpy(req->value, "vm-\xf0\x9f\x98\x80");
                len = vmbus_ic_kvp_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), req);
                ck_assert_int_eq(len, 2608);
                ck_assert_int_eq(vmbus_ic_kvp_decode(buf, (size_t)len, got), 0);
                ck_assert_int_eq(got->op, op);
                ck_assert_uint_eq(got->pool, 3);
                if (op == HOST_KVP_ENUMERATE)
                        ck_assert_uint_eq(got->index, 77);
                else
                        ck_assert_str_eq(got->key, req->key);
                if (op == HOST_KVP_SET)
                        ck_assert_str_eq(got->value, req->value);
        }

        memset(req, 0, sizeof *req);
        req->op = HOST_KVP_SET;
        req->value_type = HOST_KVP_U32;
        strcpy(req->value, "4294967296");
        ck_assert_int_eq(vmbus_ic_kvp_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), req), -EINVAL);
        strcpy(req->value, "42");
        ck_assert_int_eq(vmbus_ic_kvp_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), req), 2608);
        ck_assert_uint_eq(get32(buf + 32), 4);
        ck_assert_uint_eq(get32(buf + 40), 4);
        ck_assert_uint_eq(get32(buf + 556), 42);
        memset(req->key, 'x', 300);
        ck_assert_int_eq(vmbus_ic_kvp_request(buf, sizeof buf, VMBUS_IC_VERSION(4, 0), req), -ENAMETOOLONG);
}
END_TEST

static Suite *ic_suite(void) {
        Suite *s = suite_create("vmbus_ic");
        TCase *fw = tcase_create("framework");
        tcase_add_test(fw, test_header);
        tcase_add_test(fw, test_status_map);
        tcase_add_test(fw, test_negotiate_kvp_known_bytes);
        tcase_add_test(fw, test_negotiate_preference);
        tcase_add_test(fw, test_negotiate_no_match);
        tcase_add_test(fw, test_negotiate_request_encoder);
        suite_add_tcase(s, fw);
        TCase *util = tcase_create("util");
        tcase_add_test(util, test_heartbeat);
        tcase_add_test(util, test_shutdown);
        tcase_add_test(util, test_filetime);
        tcase_add_test(util, test_timesync_v4);
        tcase_add_test(util, test_timesync_v3_v1);
        suite_add_tcase(s, util);
        TCase *kvp = tcase_create("kvp");
        tcase_add_test(kvp, test_kvp_set_known_bytes);
        tcase_add_test(kvp, test_kvp_delete_get_enumerate_decode);
        tcase_add_test(kvp, test_kvp_enumerate_reply_known_bytes);
        tcase_add_test(kvp, test_kvp_get_reply);
        tcase_add_test(kvp, test_kvp_ip_info);
        tcase_add_test(kvp, test_kvp_round_trips);
        suite_add_tcase(s, kvp);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(ic_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
