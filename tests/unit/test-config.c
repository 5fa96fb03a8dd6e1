/* pvicd.conf parsing: defaults, sections, comments, drop-in order, errors with
 * file:line, bounds, and root_path(). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pvic/config.h"
#include "pvic/log.h"
#include "pvic/macro.h"

static char tmpdir[64];

static void setup(void) {
        /* Reset the template: with CK_FORK=no every test shares this process. */
        strcpy(tmpdir, "/tmp/pvic-test-config.XXXXXX");
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

static void write_file(const char *dir, const char *name, const char *text) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        FILE *f = fopen(p, "we");
        ck_assert_msg(f, "fopen %s: %s", p, strerror(errno));
        ck_assert_int_eq(fputs(text, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
}

static void mkdir_p(const char *dir, const char *sub) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, sub);
        for (char *s = p + strlen(dir) + 1; ; s++) {
                if (*s == '/' || *s == '\0') {
                        char c = *s;
                        *s = '\0';
                        ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s", p);
                        *s = c;
                        if (!c)
                                break;
                }
        }
}

/* Runs config_parse_text with stderr captured, so messages can be checked. */
static int parse_capture(struct pvic_config *c, const char *text, const char *source,
                         char *out, size_t outsz) {
        char path[4200];
        snprintf(path, sizeof path, "%s/stderr.log", tmpdir);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        int saved = dup(STDERR_FILENO);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        int r = config_parse_text(c, text, source);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        ssize_t n = pread(fd, out, outsz - 1, 0);
        out[n > 0 ? n : 0] = '\0';
        close(fd);
        return r;
}

START_TEST(test_defaults) {
        struct pvic_config c;
        config_init(&c);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_AUTO);
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_AUTO);
        ck_assert_uint_eq(c.vss_lease_sec, 60);
        ck_assert_int_eq(c.log_level, LOG_INFO);
        ck_assert_str_eq(c.root, "");
        ck_assert_str_eq(c.state_dir, "/var/lib/pvic");
        ck_assert_str_eq(c.runtime_dir, "/run/pvic");
        ck_assert_ptr_null(c.xenstore_path);
        ck_assert_ptr_null(c.config_path);
        ck_assert_ptr_null(c.hypervisor_signature);
        config_done(&c);
        ck_assert_ptr_null(c.state_dir);
}
END_TEST

START_TEST(test_sections_and_comments) {
        struct pvic_config c;
        config_init(&c);
        ck_assert_int_eq(config_parse_text(&c,
                "# a comment\n"
                "; another one\n"
                "\n"
                "   \t\n"
                "[Daemon]\n"
                "  Transport =  xenstore  \n"
                "LogLevel=debug\r\n"
                "StateDirectory=/srv/pvic/state\n"
                "RuntimeDirectory=/run/pvic2\n"
                "#Transport=vmbus\n"
                "[HyperV]\n"
                "Mode=uio\n"
                "VssLease=5\n"
                "[Xen]\n"
                "Path=/run/xenstored/socket\n", "t"), 0);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_XENSTORE);
        ck_assert_int_eq(c.log_level, LOG_DEBUG);
        ck_assert_str_eq(c.state_dir, "/srv/pvic/state");
        ck_assert_str_eq(c.runtime_dir, "/run/pvic2");
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_UIO);
        ck_assert_uint_eq(c.vss_lease_sec, 5);
        ck_assert_str_eq(c.xenstore_path, "/run/xenstored/socket");

        /* Same key in the wrong section does nothing: Mode= belongs to [HyperV]. */
        ck_assert_int_eq(config_parse_text(&c, "[Daemon]\nMode=relay\nLogLevel=3\n", "t"), 0);
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_UIO);
        ck_assert_int_eq(c.log_level, LOG_ERR);

        /* Empty assignments reset to the default. */
        ck_assert_int_eq(config_parse_text(&c,
                "[Daemon]\nTransport=\nLogLevel=\nStateDirectory=\n[HyperV]\nMode=\nVssLease=\n[Xen]\nPath=\n", "t"), 0);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_AUTO);
        ck_assert_int_eq(c.log_level, LOG_INFO);
        ck_assert_str_eq(c.state_dir, "/var/lib/pvic");
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_AUTO);
        ck_assert_uint_eq(c.vss_lease_sec, 60);
        ck_assert_ptr_null(c.xenstore_path);
        config_done(&c);
}
END_TEST

START_TEST(test_bom_and_no_trailing_newline) {
        struct pvic_config c;
        config_init(&c);
        ck_assert_int_eq(config_parse_text(&c, "\xEF\xBB\xBF[HyperV]\nMode=relay", "t"), 0);
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_RELAY);
        config_done(&c);
}
END_TEST

START_TEST(test_bad_values) {
        static const char *const bad[] = {
                "[Daemon]\nTransport=hyperv\n",
                "[Daemon]\nTransport=VMBus\n",
                "[Daemon]\nLogLevel=loud\n",
                "[Daemon]\nLogLevel=8\n",
                "[Daemon]\nStateDirectory=relative/dir\n",
                "[Daemon]\nRuntimeDirectory=run\n",
                "[HyperV]\nMode=kernel\n",
                "[HyperV]\nVssLease=0\n",
                "[HyperV]\nVssLease=61\n",
                "[HyperV]\nVssLease=-1\n",
                "[HyperV]\nVssLease= 5s\n",
                "[HyperV]\nVssLease=99999999999999999999\n",
                "[Xen]\nPath=xenbus\n",
                "[Daemon]\nTransport\n",
                "[Daemon]\n=vmbus\n",
                "[Daemon\nTransport=vmbus\n",
                "[]\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct pvic_config c;
                config_init(&c);
                ck_assert_msg(config_parse_text(&c, bad[i], "t") == -EINVAL, "accepted: %s", bad[i]);
                config_done(&c);
        }
}
END_TEST

START_TEST(test_error_names_file_and_line) {
        struct pvic_config c;
        char out[8192];
        config_init(&c);
        int r = parse_capture(&c, "[Daemon]\n# x\nLogLevel=info\nTransport=qemu\n", "/etc/pvic/x.conf",
                              out, sizeof out);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_msg(strstr(out, "/etc/pvic/x.conf:4:"), "no file:line in: %s", out);
        ck_assert_msg(strstr(out, "qemu"), "value not named in: %s", out);
        config_done(&c);
}
END_TEST

START_TEST(test_unknown_ignored_with_warning) {
        struct pvic_config c;
        char out[8192];
        config_init(&c);
        int r = parse_capture(&c,
                "Stray=1\n"
                "[Daemon]\n"
                "Colour=blue\n"
                "[Future]\n"
                "Transport=garbage\n"
                "[HyperV]\n"
                "Mode=relay\n", "f.conf", out, sizeof out);
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_RELAY);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_AUTO);
        ck_assert_msg(strstr(out, "f.conf:1:"), "no warning for line 1: %s", out);
        ck_assert_msg(strstr(out, "f.conf:3:") && strstr(out, "Colour"), "no warning for key: %s", out);
        ck_assert_msg(strstr(out, "f.conf:4:") && strstr(out, "Future"), "no warning for section: %s", out);
        config_done(&c);
}
END_TEST

START_TEST(test_long_lines) {
        struct pvic_config c;
        size_t n = CONFIG_LINE_MAX + 100;
        char *t = malloc(n + 64);
        ck_assert_ptr_nonnull(t);

        /* Exactly at the limit is fine (a comment), one more byte is not. */
        config_init(&c);
        strcpy(t, "[Daemon]\n#");
        memset(t + strlen(t), 'x', CONFIG_LINE_MAX - 1);
        strcpy(t + 10 + CONFIG_LINE_MAX - 1, "\nTransport=vmbus\n");
        ck_assert_int_eq(config_parse_text(&c, t, "t"), 0);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_VMBUS);

        strcpy(t, "[Daemon]\n#");
        memset(t + strlen(t), 'x', CONFIG_LINE_MAX);
        strcpy(t + 10 + CONFIG_LINE_MAX, "\nTransport=xenstore\n");
        ck_assert_int_eq(config_parse_text(&c, t, "t"), -E2BIG);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_VMBUS);
        config_done(&c);
        free(t);

        /* The whole text is bounded too. */
        t = malloc(CONFIG_FILE_MAX + 2);
        ck_assert_ptr_nonnull(t);
        for (size_t i = 0; i <= CONFIG_FILE_MAX; i++)
                t[i] = (i % 64 == 63) ? '\n' : '#';
        t[CONFIG_FILE_MAX + 1] = '\0';
        config_init(&c);
        ck_assert_int_eq(config_parse_text(&c, t, "t"), -EFBIG);
        t[CONFIG_FILE_MAX] = '\0';
        ck_assert_int_eq(config_parse_text(&c, t, "t"), 0);
        config_done(&c);
        free(t);
}
END_TEST

START_TEST(test_dropins_in_name_order) {
        char main_path[4200];
        struct pvic_config c;

        mkdir_p(tmpdir, "etc/pvic/pvicd.conf.d");
        write_file(tmpdir, "etc/pvic/pvicd.conf", "[Daemon]\nTransport=vmbus\nLogLevel=notice\n");
        /* Created out of order: readdir order must not matter. */
        write_file(tmpdir, "etc/pvic/pvicd.conf.d/20-last.conf", "[Daemon]\nTransport=auto\n[HyperV]\nMode=uio\n");
        write_file(tmpdir, "etc/pvic/pvicd.conf.d/10-first.conf", "[Daemon]\nTransport=xenstore\nLogLevel=debug\n[HyperV]\nMode=relay\n");
        write_file(tmpdir, "etc/pvic/pvicd.conf.d/30-ignored.conf.bak", "[Daemon]\nTransport=garbage\n");
        write_file(tmpdir, "etc/pvic/pvicd.conf.d/.hidden.conf", "[Daemon]\nTransport=garbage\n");
        write_file(tmpdir, "etc/pvic/pvicd.conf.d/README", "not a config\n");

        /* Default path, found under the root prefix. */
        config_init(&c);
        free(c.root);
        c.root = strdup(tmpdir);
        ck_assert_int_eq(config_load(&c, NULL, false), 0);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_AUTO);   /* 20 overrides 10 overrides main */
        ck_assert_int_eq(c.log_level, LOG_DEBUG);             /* 10 overrides main, 20 silent */
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_UIO);
        config_done(&c);

        /* Drop-ins are read even when the main file is missing. */
        snprintf(main_path, sizeof main_path, "%s/etc/pvic/pvicd.conf", tmpdir);
        ck_assert_int_eq(unlink(main_path), 0);
        config_init(&c);
        ck_assert_int_eq(config_load(&c, main_path, false), 0);
        ck_assert_int_eq(c.log_level, LOG_DEBUG);
        ck_assert_int_eq(c.vmbus_mode, PVIC_VMBUS_UIO);
        config_done(&c);

        /* A bad drop-in fails the load. */
        write_file(tmpdir, "etc/pvic/pvicd.conf.d/15-bad.conf", "[HyperV]\nMode=bogus\n");
        config_init(&c);
        ck_assert_int_eq(config_load(&c, main_path, false), -EINVAL);
        config_done(&c);
}
END_TEST

START_TEST(test_missing_files) {
        char p[4200];
        struct pvic_config c;

        snprintf(p, sizeof p, "%s/nope.conf", tmpdir);
        config_init(&c);
        ck_assert_int_eq(config_load(&c, p, true), -ENOENT);
        ck_assert_int_eq(config_load(&c, p, false), 0);
        free(c.root);
        c.root = strdup(tmpdir);
        ck_assert_int_eq(config_load(&c, NULL, false), 0);
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_AUTO);

        /* An explicit path that exists is read, with its own drop-in directory. */
        write_file(tmpdir, "my.conf", "[Xen]\nPath=/tmp/xs.sock\n");
        mkdir_p(tmpdir, "my.conf.d");
        write_file(tmpdir, "my.conf.d/a.conf", "[Daemon]\nTransport=xenstore\n");
        snprintf(p, sizeof p, "%s/my.conf", tmpdir);
        ck_assert_int_eq(config_load(&c, p, true), 0);
        ck_assert_str_eq(c.xenstore_path, "/tmp/xs.sock");
        ck_assert_int_eq(c.transport, PVIC_TRANSPORT_XENSTORE);

        /* A directory where the file should be is an error, not "missing". */
        snprintf(p, sizeof p, "%s/my.conf.d", tmpdir);
        ck_assert_int_eq(config_load(&c, p, false), -EISDIR);
        config_done(&c);
}
END_TEST

START_TEST(test_oversized_file) {
        char p[4200];
        struct pvic_config c;
        snprintf(p, sizeof p, "%s/big.conf", tmpdir);
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        static const char pad[] = "# padding\n";
        for (size_t written = 0; written <= CONFIG_FILE_MAX; written += strlen(pad))
                fputs(pad, f);
        fclose(f);
        config_init(&c);
        ck_assert_int_eq(config_load(&c, p, true), -EFBIG);
        config_done(&c);
}
END_TEST

START_TEST(test_nul_in_file) {
        char p[4200];
        struct pvic_config c;
        snprintf(p, sizeof p, "%s/nul.conf", tmpdir);
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        fwrite("[Daemon]\nTransport=vmbus\0\n", 1, 26, f);
        fclose(f);
        config_init(&c);
        ck_assert_int_lt(config_load(&c, p, true), 0);
        config_done(&c);
}
END_TEST

START_TEST(test_enum_names) {
        enum pvic_transport t;
        enum pvic_vmbus_mode m;
        for (int i = PVIC_TRANSPORT_AUTO; i <= PVIC_TRANSPORT_XENSTORE; i++) {
                ck_assert_int_eq(config_parse_transport(config_transport_name(i), &t), 0);
                ck_assert_int_eq(t, i);
        }
        for (int i = PVIC_VMBUS_AUTO; i <= PVIC_VMBUS_UIO; i++) {
                ck_assert_int_eq(config_parse_vmbus_mode(config_vmbus_mode_name(i), &m), 0);
                ck_assert_int_eq(m, i);
        }
        ck_assert_str_eq(config_transport_name(PVIC_TRANSPORT_VMBUS), "vmbus");
        ck_assert_str_eq(config_vmbus_mode_name(PVIC_VMBUS_RELAY), "relay");
        ck_assert_int_eq(config_parse_transport("xen", &t), -EINVAL);
        ck_assert_int_eq(config_parse_transport(NULL, &t), -EINVAL);
        ck_assert_int_eq(config_parse_vmbus_mode("", &m), -EINVAL);
}
END_TEST

START_TEST(test_root_path) {
        static const struct { const char *root, *path, *want; } cases[] = {
                { "", "/etc/os-release", "/etc/os-release" },
                { NULL, "/etc/os-release", "/etc/os-release" },
                { "/", "/etc/os-release", "/etc/os-release" },
                { "//", "/proc/meminfo", "/proc/meminfo" },
                { "/tmp/r", "/etc/os-release", "/tmp/r/etc/os-release" },
                { "/tmp/r/", "/etc/os-release", "/tmp/r/etc/os-release" },
                { "/tmp/r//", "//etc/os-release", "/tmp/r/etc/os-release" },
                { "/tmp/r", "etc/x", "/tmp/r/etc/x" },
                { "/tmp/r", "/", "/tmp/r/" },
                { "relative", "/sys", "relative/sys" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *p = root_path(cases[i].root, cases[i].path);
                ck_assert_ptr_nonnull(p);
                ck_assert_msg(strcmp(p, cases[i].want) == 0, "root_path(%s, %s) = %s, want %s",
                              cases[i].root ? cases[i].root : "NULL", cases[i].path, p, cases[i].want);
                free(p);
        }
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_sections_and_comments);
        tcase_add_test(tc, test_bom_and_no_trailing_newline);
        tcase_add_test(tc, test_bad_values);
        tcase_add_test(tc, test_error_names_file_and_line);
        tcase_add_test(tc, test_unknown_ignored_with_warning);
        tcase_add_test(tc, test_long_lines);
        tcase_add_test(tc, test_dropins_in_name_order);
        tcase_add_test(tc, test_missing_files);
        tcase_add_test(tc, test_oversized_file);
        tcase_add_test(tc, test_nul_in_file);
        tcase_add_test(tc, test_enum_names);
        tcase_add_test(tc, test_root_path);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(config_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
