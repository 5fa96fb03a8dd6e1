/* os-release(5) parsing, OS facts collection under a root prefix, /proc/meminfo. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "pvic/facts.h"
#include "pvic/log.h"
#include "pvic/macro.h"

static char tmpdir[64];

static void setup(void) {
        strcpy(tmpdir, "/tmp/pvic-test-os-facts.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        log_set_target_journal(0);
        log_set_max_level(LOG_DEBUG);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        return remove(p) < 0 ? -1 : 0;
}

static void teardown(void) {
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make(const char *rel, const char *content) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", tmpdir, rel);
        for (char *s = p + strlen(tmpdir) + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s", p);
                        *s = '/';
                }
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        fputs(content, f);
        fclose(f);
}

static const char *field(const struct pvic_os_facts *os, const char *key) {
        for (unsigned i = 0; i < os->n_os_release; i++)
                if (strcmp(os->os_release[i].key, key) == 0)
                        return os->os_release[i].value;
        return NULL;
}

static void parse(struct pvic_os_facts *os, const char *text) {
        ck_assert_int_eq(facts_os_release_parse(os, text, strlen(text)), 0);
}

static const char debian12[] =
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
        "NAME=\"Debian GNU/Linux\"\n"
        "VERSION_ID=\"12\"\n"
        "VERSION=\"12 (bookworm)\"\n"
        "VERSION_CODENAME=bookworm\n"
        "ID=debian\n"
        "HOME_URL=\"https://www.debian.org/\"\n"
        "SUPPORT_URL=\"https://www.debian.org/support\"\n"
        "BUG_REPORT_URL=\"https://bugs.debian.org/\"\n";

static const char ubuntu2404[] =
        "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n"
        "NAME=\"Ubuntu\"\n"
        "VERSION_ID=\"24.04\"\n"
        "VERSION=\"24.04.1 LTS (Noble Numbat)\"\n"
        "VERSION_CODENAME=noble\n"
        "ID=ubuntu\n"
        "ID_LIKE=debian\n"
        "HOME_URL=\"https://www.ubuntu.com/\"\n"
        "SUPPORT_URL=\"https://help.ubuntu.com/\"\n"
        "BUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\n"
        "PRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\n"
        "UBUNTU_CODENAME=noble\n"
        "LOGO=ubuntu-logo\n";

START_TEST(test_debian12) {
        struct pvic_os_facts os = {};
        parse(&os, debian12);
        ck_assert_str_eq(os.name, "Debian GNU/Linux 12 (bookworm)");
        ck_assert_str_eq(os.id, "debian");
        ck_assert_str_eq(os.version_id, "12");
        ck_assert_str_eq(os.major, "12");
        ck_assert_str_eq(os.minor, "0");
        ck_assert_uint_eq(os.n_os_release, 9);
        /* File order is kept. */
        ck_assert_str_eq(os.os_release[0].key, "PRETTY_NAME");
        ck_assert_str_eq(os.os_release[4].key, "VERSION_CODENAME");
        ck_assert_str_eq(os.os_release[4].value, "bookworm");
        ck_assert_str_eq(field(&os, "HOME_URL"), "https://www.debian.org/");
        facts_os_done(&os);
        ck_assert_ptr_null(os.name);
}
END_TEST

START_TEST(test_ubuntu_keeps_leading_zero) {
        struct pvic_os_facts os = {};
        parse(&os, ubuntu2404);
        ck_assert_str_eq(os.name, "Ubuntu 24.04.1 LTS");
        ck_assert_str_eq(os.id, "ubuntu");
        ck_assert_str_eq(os.version_id, "24.04");
        ck_assert_str_eq(os.major, "24");
        ck_assert_str_eq(os.minor, "04");
        ck_assert_uint_eq(os.n_os_release, 13);
        facts_os_done(&os);
}
END_TEST

START_TEST(test_version_forms) {
        static const struct { const char *ver, *major, *minor; } cases[] = {
                { "VERSION_ID=9.3\n", "9", "3" },
                { "VERSION_ID=\"15.6.2\"\n", "15", "6" },
                { "VERSION_ID=rolling\n", "0", "0" },
                { "VERSION_ID=\"\"\n", "0", "0" },
                { "VERSION_ID=8.\n", "8", "0" },
                { "VERSION_ID=.5\n", "0", "5" },
                { "VERSION_ID=2023.10rc1\n", "2023", "10" },
                { "VERSION_ID=v2.1\n", "0", "1" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct pvic_os_facts os = {};
                parse(&os, cases[i].ver);
                ck_assert_msg(strcmp(os.major, cases[i].major) == 0 && strcmp(os.minor, cases[i].minor) == 0,
                              "%s gave %s/%s", cases[i].ver, os.major, os.minor);
                facts_os_done(&os);
        }
}
END_TEST

START_TEST(test_missing_fields_fall_back) {
        struct pvic_os_facts os = {};
        /* Arch: no VERSION_ID, no PRETTY_NAME here. */
        parse(&os, "NAME=\"Arch Linux\"\nID=Arch\nBUILD_ID=rolling\n");
        ck_assert_str_eq(os.name, "Arch Linux");
        ck_assert_str_eq(os.id, "arch");
        ck_assert_str_eq(os.version_id, "");
        ck_assert_str_eq(os.major, "0");
        ck_assert_str_eq(os.minor, "0");

        /* Reparse replaces everything from the earlier text. */
        parse(&os, "");
        ck_assert_str_eq(os.name, "Linux");
        ck_assert_str_eq(os.id, "linux");
        ck_assert_str_eq(os.version_id, "");
        ck_assert_uint_eq(os.n_os_release, 0);
        ck_assert_ptr_null(os.os_release);

        /* Empty values count as missing for the derived fields. */
        parse(&os, "PRETTY_NAME=\nNAME=''\nID=\"\"\n");
        ck_assert_str_eq(os.name, "Linux");
        ck_assert_str_eq(os.id, "linux");
        ck_assert_uint_eq(os.n_os_release, 3);
        facts_os_done(&os);
}
END_TEST

START_TEST(test_quoting_and_escapes) {
        struct pvic_os_facts os = {};
        parse(&os,
              "# comment line\n"
              "   # indented comment\n"
              "\n"
              "   \t\n"
              "A=\"double \\\"quoted\\\" \\\\ \\$HOME \\`x\\`\"\n"
              "B='single \"quoted\" \\n $x'\n"
              "C=bare\\ word\\\"\n"
              "D=\"keep \\n unknown escape\"\n"
              "  E  =  spaced value   \n"
              "F=\"trailing kept  \"   \n"
              "G=\"con\"'cat'enated\n"
              "H=a#b\n"
              "I=crlf\r\n"
              "lower_case=ok\n");
        ck_assert_str_eq(field(&os, "A"), "double \"quoted\" \\ $HOME `x`");
        ck_assert_str_eq(field(&os, "B"), "single \"quoted\" \\n $x");
        ck_assert_str_eq(field(&os, "C"), "bare word\"");
        ck_assert_str_eq(field(&os, "D"), "keep \\n unknown escape");
        ck_assert_str_eq(field(&os, "E"), "spaced value");
        ck_assert_str_eq(field(&os, "F"), "trailing kept  ");
        ck_assert_str_eq(field(&os, "G"), "concatenated");
        ck_assert_str_eq(field(&os, "H"), "a#b");
        ck_assert_str_eq(field(&os, "I"), "crlf");
        ck_assert_str_eq(field(&os, "lower_case"), "ok");
        ck_assert_uint_eq(os.n_os_release, 10);
        facts_os_done(&os);
}
END_TEST

START_TEST(test_invalid_lines_skipped) {
        struct pvic_os_facts os = {};
        parse(&os,
              "no equals sign\n"
              "1KEY=digit first\n"
              "KEY-DASH=x\n"
              "=novalue\n"
              "OPEN=\"unterminated\n"
              "SOPEN='unterminated\n"
              "ID=fedora\n"
              "ID=Rocky\n"
              "GOOD=yes");
        ck_assert_uint_eq(os.n_os_release, 2);
        ck_assert_str_eq(os.os_release[0].key, "ID");
        /* Last assignment wins, as in a shell. */
        ck_assert_str_eq(os.id, "rocky");
        ck_assert_str_eq(field(&os, "ID"), "Rocky");
        ck_assert_str_eq(field(&os, "GOOD"), "yes");
        ck_assert_ptr_null(field(&os, "OPEN"));
        facts_os_done(&os);
}
END_TEST

START_TEST(test_bounds) {
        struct pvic_os_facts os = {};
        size_t big = OS_RELEASE_LINE_MAX + 10;
        char *t = malloc(big + 64);
        ck_assert_ptr_nonnull(t);

        /* An overlong line is skipped; the lines around it still count. */
        strcpy(t, "ID=before\nLONG=");
        size_t n = strlen(t);
        memset(t + n, 'x', big);
        strcpy(t + n + big, "\nNAME=after\n");
        parse(&os, t);
        ck_assert_str_eq(os.id, "before");
        ck_assert_str_eq(os.name, "after");
        ck_assert_ptr_null(field(&os, "LONG"));
        free(t);

        /* At most OS_RELEASE_FIELDS_MAX fields; later new keys are dropped. */
        char *many = malloc(300 * 32);
        ck_assert_ptr_nonnull(many);
        many[0] = '\0';
        for (int i = 0; i < 200; i++)
                sprintf(many + strlen(many), "K%d=v%d\n", i, i);
        strcat(many, "ID=late\n");
        parse(&os, many);
        ck_assert_uint_eq(os.n_os_release, OS_RELEASE_FIELDS_MAX);
        ck_assert_str_eq(field(&os, "K127"), "v127");
        ck_assert_ptr_null(field(&os, "K128"));
        ck_assert_str_eq(os.id, "linux");
        free(many);

        /* A line holding a NUL is not text and is skipped; length is honoured. */
        static const char nul[] = "ID=a\0b\nNAME=n\nVERSION_ID=1.2";
        ck_assert_int_eq(facts_os_release_parse(&os, nul, sizeof nul - 1), 0);
        ck_assert_str_eq(os.id, "linux");
        ck_assert_str_eq(os.name, "n");
        ck_assert_str_eq(os.minor, "2");
        ck_assert_int_eq(facts_os_release_parse(&os, nul + 7, 6), 0); /* "NAME=n" */
        ck_assert_str_eq(os.name, "n");
        ck_assert_str_eq(os.version_id, "");
        facts_os_done(&os);
}
END_TEST

START_TEST(test_collect_etc_first) {
        struct pvic_os_facts os = {};
        struct utsname u;
        make("/etc/os-release", debian12);
        make("/usr/lib/os-release", ubuntu2404);
        ck_assert_int_eq(facts_os_collect(&os, tmpdir), 0);
        ck_assert_str_eq(os.id, "debian");
        ck_assert_int_eq(uname(&u), 0);
        ck_assert_str_eq(os.kernel_release, u.release);
        ck_assert_str_eq(os.kernel_version, u.version);
        ck_assert_str_eq(os.machine, u.machine);
        ck_assert_str_eq(os.hostname, u.nodename);

        /* Collecting again replaces the earlier facts (and must not leak them). */
        char p[256];
        snprintf(p, sizeof p, "%s/etc/os-release", tmpdir);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(facts_os_collect(&os, tmpdir), 0);
        ck_assert_str_eq(os.id, "ubuntu");
        ck_assert_str_eq(os.minor, "04");
        facts_os_done(&os);
}
END_TEST

START_TEST(test_collect_missing_files) {
        struct pvic_os_facts os = {};
        ck_assert_int_eq(facts_os_collect(&os, tmpdir), 0);
        ck_assert_str_eq(os.name, "Linux");
        ck_assert_str_eq(os.id, "linux");
        ck_assert_str_eq(os.major, "0");
        ck_assert_str_eq(os.minor, "0");
        ck_assert_ptr_nonnull(os.kernel_release);
        ck_assert_uint_gt(strlen(os.kernel_release), 0);
        facts_os_done(&os);
}
END_TEST

static const char meminfo[] =
        "MemTotal:       16337516 kB\n"
        "MemFree:         1234567 kB\n"
        "MemAvailable:    9876543 kB\n"
        "Buffers:          345678 kB\n"
        "HugePages_Total:       0\n";

START_TEST(test_meminfo) {
        struct pvic_mem_facts m = {};
        make("/proc/meminfo", meminfo);
        ck_assert_int_eq(facts_mem_collect(&m, tmpdir), 0);
        ck_assert_uint_eq(m.total_kib, 16337516);
        ck_assert_uint_eq(m.available_kib, 9876543);
}
END_TEST

START_TEST(test_meminfo_without_available) {
        struct pvic_mem_facts m = {};
        /* Kernels before 3.14, and the order of keys is not fixed. */
        make("/proc/meminfo", "MemFree:          524288 kB\nMemTotal:        2097152 kB\nCached: 1 kB\n");
        ck_assert_int_eq(facts_mem_collect(&m, tmpdir), 0);
        ck_assert_uint_eq(m.total_kib, 2097152);
        ck_assert_uint_eq(m.available_kib, 524288);
}
END_TEST

START_TEST(test_meminfo_bad) {
        struct pvic_mem_facts m = { .total_kib = 7, .available_kib = 8 };
        ck_assert_int_eq(facts_mem_collect(&m, tmpdir), -ENOENT);
        ck_assert_int_eq(facts_mem_parse(&m, "MemFree: 1 kB\nMemAvailable: 2 kB\n"), -EBADMSG);
        ck_assert_int_eq(facts_mem_parse(&m, "MemTotal: 10 kB\nBuffers: 2 kB\n"), -EBADMSG);
        ck_assert_int_eq(facts_mem_parse(&m, "MemTotal: lots\nMemFree: 1 kB\n"), -EBADMSG);
        ck_assert_int_eq(facts_mem_parse(&m, "MemTotal: 99999999999999999999999 kB\nMemFree: 1 kB\n"), -EBADMSG);
        ck_assert_int_eq(facts_mem_parse(&m, ""), -EBADMSG);
        /* Failures leave the previous values alone. */
        ck_assert_uint_eq(m.total_kib, 7);
        ck_assert_uint_eq(m.available_kib, 8);
        /* MemTotalX: is a different key. */
        ck_assert_int_eq(facts_mem_parse(&m, "MemTotalX: 5 kB\nMemTotal: 6 kB\nMemFree: 3 kB"), 0);
        ck_assert_uint_eq(m.total_kib, 6);
        ck_assert_uint_eq(m.available_kib, 3);
}
END_TEST

START_TEST(test_meminfo_real) {
        struct pvic_mem_facts m = {};
        if (access("/proc/meminfo", R_OK) < 0)
                return;
        ck_assert_int_eq(facts_mem_collect(&m, ""), 0);
        ck_assert_uint_gt(m.total_kib, 0);
        ck_assert_uint_le(m.available_kib, m.total_kib);
}
END_TEST

static Suite *os_facts_suite(void) {
        Suite *s = suite_create("os-facts");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_debian12);
        tcase_add_test(tc, test_ubuntu_keeps_leading_zero);
        tcase_add_test(tc, test_version_forms);
        tcase_add_test(tc, test_missing_fields_fall_back);
        tcase_add_test(tc, test_quoting_and_escapes);
        tcase_add_test(tc, test_invalid_lines_skipped);
        tcase_add_test(tc, test_bounds);
        tcase_add_test(tc, test_collect_etc_first);
        tcase_add_test(tc, test_collect_missing_files);
        tcase_add_test(tc, test_meminfo);
        tcase_add_test(tc, test_meminfo_without_available);
        tcase_add_test(tc, test_meminfo_bad);
        tcase_add_test(tc, test_meminfo_real);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(os_facts_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
