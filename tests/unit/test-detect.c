/* Hypervisor detection against fake roots: presence decides, CPUID breaks ties. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvic/detect.h"
#include "pvic/log.h"
#include "pvic/macro.h"

static char tmpdir[64];
static char root[128];

static void mkdir_p(const char *path) {
        char p[4096];
        snprintf(p, sizeof p, "%s", path);
        for (char *s = p + 1; ; s++)
                if (*s == '/' || *s == '\0') {
                        char c = *s;
                        *s = '\0';
                        ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s", p);
                        *s = c;
                        if (!c)
                                break;
                }
}

/* Creates ROOT/rel as a directory (content NULL, trailing '/') or a file. */
static void make(const char *rel, const char *content) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", root, rel);
        if (!content) {
                mkdir_p(p);
                return;
        }
        char *slash = strrchr(p, '/');
        *slash = '\0';
        mkdir_p(p);
        *slash = '/';
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        fputs(content, f);
        fclose(f);
}

static void setup(void) {
        strcpy(tmpdir, "/tmp/pvic-test-detect.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        snprintf(root, sizeof root, "%s/root", tmpdir);
        ck_assert_int_eq(mkdir(root, 0755), 0);
        log_set_target_journal(0);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        return remove(p) < 0 ? -1 : 0;
}

static void teardown(void) {
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct detect_result run(const char *sig, const char *xenstored_path) {
        struct detect_inputs in = { .root = root, .cpuid_signature = sig, .xenstored_path = xenstored_path };
        struct detect_result out;
        memset(&out, 0xaa, sizeof out);
        ck_assert_int_eq(detect_hypervisor(&in, &out), 0);
        /* Always a one-line, terminated reason. */
        ck_assert_uint_lt(strlen(out.reason), sizeof out.reason);
        ck_assert_uint_gt(strlen(out.reason), 10);
        ck_assert_ptr_null(strchr(out.reason, '\n'));
        return out;
}

START_TEST(test_only_vmbus) {
        make("/sys/bus/vmbus/devices", NULL);
        struct detect_result r = run("Microsoft Hv", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_VMBUS);
        ck_assert_str_eq(r.signature, "Microsoft Hv");
        /* The CPUID name does not override what is present. */
        r = run("XenVMMXenVMM", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_VMBUS);
        ck_assert_ptr_nonnull(strstr(r.reason, "vmbus"));
}
END_TEST

START_TEST(test_vmbus_must_be_directory) {
        make("/sys/bus/vmbus/devices", "not a directory");
        struct detect_result r = run("Microsoft Hv", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_AUTO);
}
END_TEST

START_TEST(test_only_dev_xenbus) {
        make("/dev/xen/xenbus", "");
        struct detect_result r = run("XenVMMXenVMM", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_ptr_nonnull(strstr(r.reason, "/dev/xen/xenbus"));
}
END_TEST

START_TEST(test_only_proc_xenbus) {
        make("/proc/xen/xenbus", "");
        ck_assert_int_eq(run("", NULL).transport, PVIC_TRANSPORT_XENSTORE);
}
END_TEST

/* Xen with Viridian: CPUID leaf 0x40000000 says Hyper-V, but only xenbus exists. */
START_TEST(test_viridian_is_xen) {
        make("/dev/xen/xenbus", "");
        struct detect_result r = run("Microsoft Hv", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_str_eq(r.signature, "Microsoft Hv");
}
END_TEST

START_TEST(test_both_cpuid_hyperv) {
        make("/sys/bus/vmbus/devices", NULL);
        make("/dev/xen/xenbus", "");
        struct detect_result r = run("Microsoft Hv", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_VMBUS);
        ck_assert_ptr_nonnull(strstr(r.reason, "both"));
        ck_assert_ptr_nonnull(strstr(r.reason, "Microsoft Hv"));
        /* The CPUID name outranks /sys/hypervisor/type in a tie. */
        make("/sys/hypervisor/type", "xen\n");
        ck_assert_int_eq(run("Microsoft Hv", NULL).transport, PVIC_TRANSPORT_VMBUS);
}
END_TEST

START_TEST(test_both_cpuid_xen) {
        make("/sys/bus/vmbus/devices", NULL);
        make("/dev/xen/xenbus", "");
        struct detect_result r = run("XenVMMXenVMM", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_ptr_nonnull(strstr(r.reason, "XenVMMXenVMM"));
}
END_TEST

START_TEST(test_both_other_cpuid) {
        make("/sys/bus/vmbus/devices", NULL);
        make("/proc/xen/xenbus", "");
        /* Nothing names Xen: VMBus. */
        ck_assert_int_eq(run("KVMKVMKVM", NULL).transport, PVIC_TRANSPORT_VMBUS);
        ck_assert_int_eq(run("", NULL).transport, PVIC_TRANSPORT_VMBUS);
        /* /sys/hypervisor/type names Xen: xenstore. */
        make("/sys/hypervisor/type", "xen\n");
        ck_assert_int_eq(run("KVMKVMKVM", NULL).transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_int_eq(run("", NULL).transport, PVIC_TRANSPORT_XENSTORE);
}
END_TEST

START_TEST(test_hypervisor_type) {
        make("/sys/hypervisor/type", "xen\n");
        struct detect_result r = run("", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_ptr_nonnull(strstr(r.reason, "/sys/hypervisor/type"));

        make("/sys/hypervisor/type", "kvm\n");
        ck_assert_int_eq(run("", NULL).transport, PVIC_TRANSPORT_AUTO);
        make("/sys/hypervisor/type", "xenial\n");
        ck_assert_int_eq(run("", NULL).transport, PVIC_TRANSPORT_AUTO);
}
END_TEST

START_TEST(test_xenstored_path) {
        char sock[256], missing[256];
        snprintf(sock, sizeof sock, "%s/xenstored.sock", tmpdir);
        snprintf(missing, sizeof missing, "%s/nothing-here", tmpdir);
        FILE *f = fopen(sock, "we");
        ck_assert_ptr_nonnull(f);
        fclose(f);

        struct detect_result r = run("KVMKVMKVM", sock);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_ptr_nonnull(strstr(r.reason, "xenstore path"));
        ck_assert_int_eq(run("KVMKVMKVM", missing).transport, PVIC_TRANSPORT_AUTO);
        ck_assert_int_eq(run("KVMKVMKVM", "").transport, PVIC_TRANSPORT_AUTO);
}
END_TEST

START_TEST(test_neither) {
        struct detect_result r = run("KVMKVMKVM", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_AUTO);
        ck_assert_str_eq(r.signature, "KVMKVMKVM");
        ck_assert_msg(strstr(r.reason, "CPUID") && strstr(r.reason, "'KVMKVMKVM'"), "reason: %s", r.reason);
        ck_assert_ptr_nonnull(strstr(r.reason, "no Hyper-V"));

        r = run("", NULL);
        ck_assert_int_eq(r.transport, PVIC_TRANSPORT_AUTO);
        ck_assert_str_eq(r.signature, "");
        ck_assert_ptr_nonnull(strstr(r.reason, "CPUID"));
}
END_TEST

START_TEST(test_signature_bounded_and_printable) {
        struct detect_result r = run("TooLongSignatureForCPUID", NULL);
        ck_assert_str_eq(r.signature, "TooLongSigna");
        r = run("bad\x01\x7f" "chars", NULL);
        ck_assert_str_eq(r.signature, "bad??chars");
}
END_TEST

START_TEST(test_real_cpuid) {
        char sig[13];
        memset(sig, 'x', sizeof sig);
        detect_read_cpuid(sig);
        ck_assert_uint_le(strlen(sig), 12);
        for (const char *c = sig; *c; c++)
                ck_assert(*c >= 0x20 && *c <= 0x7e);
        /* NULL signature means "ask the CPU": the result must match. */
        struct detect_result r = run(NULL, NULL);
        ck_assert_str_eq(r.signature, sig);
}
END_TEST

static Suite *detect_suite(void) {
        Suite *s = suite_create("detect");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_only_vmbus);
        tcase_add_test(tc, test_vmbus_must_be_directory);
        tcase_add_test(tc, test_only_dev_xenbus);
        tcase_add_test(tc, test_only_proc_xenbus);
        tcase_add_test(tc, test_viridian_is_xen);
        tcase_add_test(tc, test_both_cpuid_hyperv);
        tcase_add_test(tc, test_both_cpuid_xen);
        tcase_add_test(tc, test_both_other_cpuid);
        tcase_add_test(tc, test_hypervisor_type);
        tcase_add_test(tc, test_xenstored_path);
        tcase_add_test(tc, test_neither);
        tcase_add_test(tc, test_signature_bounded_and_printable);
        tcase_add_test(tc, test_real_cpuid);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(detect_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
