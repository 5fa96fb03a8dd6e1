/* The KVP request handler: pools through the store (reread like hv_kvp_daemon), the ten
 * intrinsic items of pool 2 with hv_kvp_daemon's names, order and formats, GET_IP_INFO
 * through the callback, and the statuses a host sees. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvic/kvp_intrinsic.h"
#include "pvic/kvp_service.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"

static char tmpdir[64];
static struct kvp_store *store;
static struct kvp_intrinsic intr;
static struct host_kvp_request req;
static struct host_kvp_reply reply;

static struct pvic_kv os_release[] = {
        { "PRETTY_NAME", "Debian GNU/Linux 12 (bookworm)" },
        { "NAME", "Debian GNU/Linux" },
        { "VERSION_ID", "12" },
};
static struct pvic_os_facts os = {
        .name = "Debian GNU/Linux 12 (bookworm)",
        .version_id = "12",
        .kernel_release = "6.1.0-27-amd64",
        .machine = "x86_64",
        .hostname = "web01",
        .os_release = os_release,
        .n_os_release = 3,
};

static void setup(void) {
        strcpy(tmpdir, "/tmp/pvic-test-kvpsvc.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        log_set_target_journal(0);
        log_set_max_level(LOG_WARNING);
        ck_assert_int_eq(kvp_store_open(&store, tmpdir, NULL), 0);
        const char *v4[] = { "10.0.0.4", "172.17.0.1" };
        const char *v6[] = { "fe80::215:5dff:fe01:203" };
        memset(&intr, 0, sizeof intr);
        ck_assert_int_eq(kvp_intrinsic_build(&intr, &os, "web01.contoso.local", NULL, v4, 2, v6, 1), 0);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        return remove(p) < 0 ? -1 : 0;
}

static void teardown(void) {
        kvp_intrinsic_done(&intr);
        store = kvp_store_free(store);
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static enum host_status run(enum host_kvp_op op, unsigned pool, const char *key, const char *value,
                            uint32_t index) {
        memset(&req, 0, sizeof req);
        req.op = op;
        req.pool = (uint8_t)pool;
        req.index = index;
        snprintf(req.key, sizeof req.key, "%s", key ? key : "");
        snprintf(req.value, sizeof req.value, "%s", value ? value : "");
        kvp_service_handle(store, &intr, &req, &reply);
        return reply.status;
}

START_TEST(test_intrinsic_items) {
        static const char *const want[][2] = {
                { "FullyQualifiedDomainName", "web01.contoso.local" },
                { "IntegrationServicesVersion", "3.1" },
                { "NetworkAddressIPv4", "10.0.0.4;172.17.0.1" },
                { "NetworkAddressIPv6", "fe80::215:5dff:fe01:203" },
                { "OSBuildNumber", "6.1.0-27-amd64" },
                { "OSName", "Debian GNU/Linux" },
                { "OSMajorVersion", "12" },
                { "OSMinorVersion", "" },
                { "OSVersion", "6.1.0" },
                { "ProcessorArchitecture", "x86_64" },
        };
        for (unsigned i = 0; i < 10; i++) {
                ck_assert_int_eq(run(HOST_KVP_ENUMERATE, 2, NULL, NULL, i), HOST_STATUS_OK);
                ck_assert_str_eq(reply.key, want[i][0]);
                ck_assert_str_eq(reply.value, want[i][1]);
        }
        ck_assert_int_eq(run(HOST_KVP_ENUMERATE, 2, NULL, NULL, 10), HOST_STATUS_NOT_FOUND);
        ck_assert_str_eq(reply.key, "");
        ck_assert_int_eq(run(HOST_KVP_ENUMERATE, 2, NULL, NULL, UINT32_MAX), HOST_STATUS_NOT_FOUND);

        ck_assert_int_eq(run(HOST_KVP_GET, 2, "OSName", NULL, 0), HOST_STATUS_OK);
        ck_assert_str_eq(reply.value, "Debian GNU/Linux");
        ck_assert_int_eq(run(HOST_KVP_GET, 2, "osname", NULL, 0), HOST_STATUS_NOT_FOUND);
        /* Generated items are not host-writable, and nothing reaches the pool-2 file. */
        ck_assert_int_eq(run(HOST_KVP_SET, 2, "OSName", "Windows", 0), HOST_STATUS_FAILED);
        ck_assert_int_eq(run(HOST_KVP_DELETE, 2, "OSName", NULL, 0), HOST_STATUS_FAILED);
        ck_assert_int_eq(run(HOST_KVP_GET, 2, "OSName", NULL, 0), HOST_STATUS_OK);
        ck_assert_str_eq(reply.value, "Debian GNU/Linux");
}
END_TEST

START_TEST(test_intrinsic_defaults) {
        struct pvic_os_facts bare = { .kernel_release = "6.12.9", .machine = "aarch64", .hostname = "h" };
        struct kvp_intrinsic i = {};
        ck_assert_int_eq(kvp_intrinsic_build(&i, &bare, NULL, "9.9", NULL, 0, NULL, 0), 0);
        ck_assert_str_eq(i.value[KVP_INTRINSIC_FQDN], "h");
        ck_assert_str_eq(i.value[KVP_INTRINSIC_IC_VERSION], "9.9");
        ck_assert_str_eq(i.value[KVP_INTRINSIC_OS_NAME], "Linux");
        ck_assert_str_eq(i.value[KVP_INTRINSIC_OS_MAJOR], "");
        ck_assert_str_eq(i.value[KVP_INTRINSIC_OS_VERSION], "6.12.9");
        ck_assert_str_eq(i.value[KVP_INTRINSIC_IPV4], "");
        const char *v4[] = { "192.0.2.1" };
        ck_assert_int_eq(kvp_intrinsic_set_addresses(&i, v4, 1, NULL, 0), 0);
        ck_assert_str_eq(i.value[KVP_INTRINSIC_IPV4], "192.0.2.1");
        ck_assert_str_eq(i.value[KVP_INTRINSIC_OS_NAME], "Linux");
        kvp_intrinsic_done(&i);
        ck_assert_ptr_null(i.value[0]);
}
END_TEST

START_TEST(test_join_bounded) {
        const char *a[200];
        for (unsigned i = 0; i < 200; i++)
                a[i] = "2001:db8:ffff:ffff::1234"; /* 24 bytes */
        char *s = kvp_intrinsic_join(a, 200, KVP_INTRINSIC_ADDRS_MAX);
        ck_assert_ptr_nonnull(s);
        size_t l = strlen(s);
        ck_assert_uint_lt(l, KVP_INTRINSIC_ADDRS_MAX);
        ck_assert_uint_eq((l + 1) % 25, 0); /* whole addresses only */
        ck_assert_int_ne(s[l - 1], ';');
        free(s);
        const char *b[] = { "", "10.0.0.1", NULL, "10.0.0.2" };
        s = kvp_intrinsic_join(b, 4, 100);
        ck_assert_str_eq(s, "10.0.0.1;10.0.0.2");
        free(s);
}
END_TEST

START_TEST(test_file_pools) {
        for (unsigned pool = 0; pool <= 4; pool++) {
                if (pool == 2)
                        continue;
                ck_assert_int_eq(run(HOST_KVP_ENUMERATE, pool, NULL, NULL, 0), HOST_STATUS_NOT_FOUND);
                ck_assert_int_eq(run(HOST_KVP_SET, pool, "k1", "v1", 0), HOST_STATUS_OK);
                ck_assert_int_eq(run(HOST_KVP_SET, pool, "k2", "v2", 0), HOST_STATUS_OK);
                ck_assert_int_eq(run(HOST_KVP_SET, pool, "k1", "v1b", 0), HOST_STATUS_OK);
                ck_assert_int_eq(run(HOST_KVP_GET, pool, "k1", NULL, 0), HOST_STATUS_OK);
                ck_assert_str_eq(reply.value, "v1b");
                ck_assert_int_eq(run(HOST_KVP_ENUMERATE, pool, NULL, NULL, 1), HOST_STATUS_OK);
                ck_assert_str_eq(reply.key, "k2");
                ck_assert_str_eq(reply.value, "v2");
                ck_assert_int_eq(run(HOST_KVP_ENUMERATE, pool, NULL, NULL, 2), HOST_STATUS_NOT_FOUND);
                ck_assert_int_eq(run(HOST_KVP_DELETE, pool, "k1", NULL, 0), HOST_STATUS_OK);
                ck_assert_int_eq(run(HOST_KVP_DELETE, pool, "k1", NULL, 0), HOST_STATUS_NOT_FOUND);
                ck_assert_int_eq(run(HOST_KVP_GET, pool, "k1", NULL, 0), HOST_STATUS_NOT_FOUND);
                ck_assert_int_eq(run(HOST_KVP_ENUMERATE, pool, NULL, NULL, 0), HOST_STATUS_OK);
                ck_assert_str_eq(reply.key, "k2");
        }
        ck_assert_int_eq(run(HOST_KVP_SET, 5, "k", "v", 0), HOST_STATUS_FAILED);
        ck_assert_int_eq(run(HOST_KVP_ENUMERATE, 255, NULL, NULL, 0), HOST_STATUS_FAILED);
        /* Refusals are HV_S_CONT as with hv_kvp_daemon. */
        ck_assert_int_eq(run(HOST_KVP_SET, 0, "", "v", 0), HOST_STATUS_NOT_FOUND);
        char big[1100];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        ck_assert_int_eq(run(HOST_KVP_SET, 1, "k", big, 0), HOST_STATUS_NOT_FOUND);
        ck_assert_int_eq(run(HOST_KVP_SET, 0, "k", big, 0), HOST_STATUS_OK);
}
END_TEST

START_TEST(test_reread_other_writers) {
        /* cloud-init appends records to pool 1 behind our back. */
        char path[128], rec[KVP_RECORD_SIZE] = {};
        snprintf(path, sizeof path, "%s/.kvp_pool_1", tmpdir);
        strcpy(rec, "CLOUD_INIT|1");
        strcpy(rec + KVP_KEY_SIZE, "{\"msg\":1}");
        int fd = open(path, O_WRONLY | O_APPEND);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, rec, sizeof rec), (ssize_t)sizeof rec);
        close(fd);
        ck_assert_int_eq(run(HOST_KVP_ENUMERATE, 1, NULL, NULL, 0), HOST_STATUS_OK);
        ck_assert_str_eq(reply.key, "CLOUD_INIT|1");
        ck_assert_str_eq(reply.value, "{\"msg\":1}");
        ck_assert_int_eq(run(HOST_KVP_GET, 1, "CLOUD_INIT|1", NULL, 0), HOST_STATUS_OK);
        ck_assert_str_eq(reply.value, "{\"msg\":1}");
}
END_TEST

static int fake_ip_info(void *userdata, const char *mac, struct host_kvp_ip_info *out) {
        ck_assert_ptr_eq(userdata, &intr);
        if (strcasecmp(mac, "00:15:5D:01:02:03") != 0)
                return -ENOENT;
        ck_assert_str_eq(out->adapter_id, mac);
        ck_assert_uint_eq(out->addr_family, HOST_KVP_ADDR_IPV6); /* what the host asked */
        out->addr_family = HOST_KVP_ADDR_IPV4;
        strcpy(out->ip_addr, "10.0.0.4;2001:db8::4");
        strcpy(out->sub_net, "255.255.255.0");
        strcpy(out->adapter_id, "clobbered");
        return 0;
}

START_TEST(test_ip_info) {
        memset(&req, 0, sizeof req);
        req.op = HOST_KVP_GET_IP_INFO;
        req.ip.addr_family = HOST_KVP_ADDR_IPV6;
        strcpy(req.ip.adapter_id, "00:15:5D:01:02:03");
        kvp_service_handle(store, &intr, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_FAILED); /* no callback */

        intr.ip_info = fake_ip_info;
        intr.userdata = &intr;
        kvp_service_handle(store, &intr, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_OK);
        ck_assert_str_eq(reply.ip.ip_addr, "10.0.0.4;2001:db8::4");
        ck_assert_uint_eq(reply.ip.addr_family, HOST_KVP_ADDR_IPV4 | HOST_KVP_ADDR_IPV6);
        ck_assert_str_eq(reply.ip.adapter_id, "00:15:5D:01:02:03");

        strcpy(req.ip.adapter_id, "00:15:5D:FF:FF:FF");
        kvp_service_handle(store, &intr, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_FAILED);
        ck_assert_str_eq(reply.ip.ip_addr, "");

        req.op = HOST_KVP_SET_IP_INFO;
        kvp_service_handle(store, &intr, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_FAILED);
}
END_TEST

START_TEST(test_no_store_no_intrinsic) {
        memset(&req, 0, sizeof req);
        req.op = HOST_KVP_ENUMERATE;
        req.pool = 1;
        kvp_service_handle(NULL, NULL, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_FAILED);
        req.pool = 2;
        kvp_service_handle(NULL, NULL, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_NOT_FOUND);
        req.op = HOST_KVP_GET_IP_INFO;
        kvp_service_handle(NULL, NULL, &req, &reply);
        ck_assert_int_eq(reply.status, HOST_STATUS_FAILED);
}
END_TEST

static Suite *kvp_service_suite(void) {
        Suite *s = suite_create("kvp-service");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_intrinsic_items);
        tcase_add_test(tc, test_intrinsic_defaults);
        tcase_add_test(tc, test_join_bounded);
        tcase_add_test(tc, test_file_pools);
        tcase_add_test(tc, test_reread_other_writers);
        tcase_add_test(tc, test_ip_info);
        tcase_add_test(tc, test_no_store_no_intrinsic);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(kvp_service_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
