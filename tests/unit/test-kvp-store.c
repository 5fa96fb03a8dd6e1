/* The KVP store: semantics, limits, pool files (hv_kvp_daemon format), other writers,
 * the journal, read-only and full file systems, locks. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../kvp/journal.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"
#include "pvic/macro.h"

#define RS KVP_RECORD_SIZE

static char tmpdir[64];
static char pooldir[128];

static void setup(void) {
        strcpy(tmpdir, "/tmp/pvic-test-kvp.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        /* The store creates the missing directories itself. */
        snprintf(pooldir, sizeof pooldir, "%s/var/lib/hyperv", tmpdir);
        log_set_target_journal(0);
        log_set_max_level(LOG_DEBUG);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        return remove(p) < 0 ? -1 : 0;
}

static void teardown(void) {
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *pool_path(unsigned pool) {
        static char p[256];
        snprintf(p, sizeof p, "%s/.kvp_pool_%u", pooldir, pool);
        return p;
}

static const char *journal_path(unsigned pool) {
        static char p[256];
        snprintf(p, sizeof p, "%s/.pvic_pool_%u.journal", pooldir, pool);
        return p;
}

static off_t file_size(const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -1;
        return st.st_size;
}

/* The whole file, for "nothing changed" comparisons. */
static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        ck_assert_ptr_nonnull(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t) n + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        *len = (size_t) n;
        return buf;
}

static void make_record(uint8_t *rec, const char *key, const char *value) {
        memset(rec, 0, RS);
        memcpy(rec, key, strlen(key));
        memcpy(rec + KVP_KEY_SIZE, value, strlen(value));
}

/* What cloud-init does: open for append, flock, write whole records. */
static void external_append(unsigned pool, const char *key, const char *value) {
        uint8_t rec[RS];
        int fd = open(pool_path(pool), O_WRONLY | O_APPEND | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX), 0);
        make_record(rec, key, value);
        ck_assert_int_eq(write(fd, rec, RS), RS);
        close(fd);
}

static void read_record_at(unsigned pool, size_t slot, uint8_t *rec) {
        int fd = open(pool_path(pool), O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, rec, RS, (off_t) (slot * RS)), RS);
        close(fd);
}

static void write_record_at(unsigned pool, size_t slot, const uint8_t *rec, size_t len) {
        int fd = open(pool_path(pool), O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite(fd, rec, len, (off_t) (slot * RS)), (ssize_t) len);
        close(fd);
}

static const char *file_key(unsigned pool, size_t slot) {
        static uint8_t rec[RS];
        read_record_at(pool, slot, rec);
        return (const char *) rec;
}

static void assert_order(struct kvp_store *s, unsigned pool, const char *const *keys, size_t n) {
        const char *k;
        ck_assert_int_eq(kvp_count(s, pool), (int64_t) n);
        for (size_t i = 0; i < n; i++) {
                ck_assert_int_eq(kvp_enumerate(s, pool, i, &k, NULL), 0);
                ck_assert_str_eq(k, keys[i]);
        }
        ck_assert_int_eq(kvp_enumerate(s, pool, n, &k, NULL), -ENOENT);
}

static void assert_value(struct kvp_store *s, unsigned pool, const char *key, const char *want) {
        const char *v = NULL;
        ck_assert_msg(kvp_get(s, pool, key, &v) == 0, "key %s missing in pool %u", key, pool);
        ck_assert_str_eq(v, want);
}

static char *repeat(const char *unit, size_t n) {
        size_t l = strlen(unit);
        char *s = malloc(l * n + 1);
        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < n; i++)
                memcpy(s + i * l, unit, l);
        s[l * n] = '\0';
        return s;
}

START_TEST(test_basic) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        const char *k, *v;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        for (unsigned p = 0; p < KVP_POOL_COUNT; p++) {
                ck_assert_int_eq(kvp_count(s, p), 0);
                ck_assert_int_ge(file_size(pool_path(p)), 0); /* all five exist */
        }
        ck_assert_int_eq(kvp_set(s, 0, "alpha", "1"), 0);
        ck_assert_int_eq(kvp_set(s, 0, "beta", ""), 0);
        assert_value(s, 0, "alpha", "1");
        assert_value(s, 0, "beta", "");
        ck_assert_int_eq(kvp_get(s, 0, "gamma", &v), -ENOENT);
        ck_assert_int_eq(kvp_get(s, 1, "alpha", &v), -ENOENT); /* pools are separate */

        /* Replacing keeps the position and the record count. */
        ck_assert_int_eq(kvp_set(s, 0, "alpha", "2"), 0);
        assert_value(s, 0, "alpha", "2");
        assert_order(s, 0, (const char *[]) { "alpha", "beta" }, 2);
        ck_assert_int_eq(file_size(pool_path(0)), 2 * RS);

        ck_assert_int_eq(kvp_enumerate(s, 0, 1, &k, &v), 0);
        ck_assert_str_eq(k, "beta");
        ck_assert_str_eq(v, "");

        ck_assert_int_eq(kvp_delete(s, 0, "alpha"), 0);
        ck_assert_int_eq(kvp_delete(s, 0, "alpha"), -ENOENT);
        ck_assert_int_eq(kvp_get(s, 0, "alpha", &v), -ENOENT);
        assert_order(s, 0, (const char *[]) { "beta" }, 1);
        ck_assert_int_eq(file_size(pool_path(0)), RS);

        /* Bad pools and arguments. */
        ck_assert_int_eq(kvp_set(s, 5, "a", "b"), -EINVAL);
        ck_assert_int_eq(kvp_set(s, 255, "a", "b"), -EINVAL);
        ck_assert_int_eq(kvp_get(s, 5, "a", &v), -EINVAL);
        ck_assert_int_eq(kvp_delete(s, 5, "a"), -EINVAL);
        ck_assert_int_eq(kvp_enumerate(s, 5, 0, &k, &v), -EINVAL);
        ck_assert_int_eq(kvp_count(s, 5), -EINVAL);
        ck_assert_int_eq(kvp_refresh(s, 5), -EINVAL);
        ck_assert_int_eq(kvp_set(s, 0, "", "b"), -EINVAL);
        ck_assert_int_eq(kvp_set(s, 0, NULL, "b"), -EINVAL);
        ck_assert_int_eq(kvp_set(s, 0, "a", NULL), -EINVAL);
        assert_order(s, 0, (const char *[]) { "beta" }, 1);
}
END_TEST

START_TEST(test_order_after_delete) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        const char *keys[] = { "a", "b", "c", "d", "e" };

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                ck_assert_int_eq(kvp_set(s, 1, keys[i], keys[i]), 0);

        /* Memory keeps the others' relative order (what hv_kvp_daemon does) ... */
        ck_assert_int_eq(kvp_delete(s, 1, "b"), 0);
        assert_order(s, 1, (const char *[]) { "a", "c", "d", "e" }, 4);
        /* ... the file got its last record moved into the hole: O(1) I/O. */
        ck_assert_int_eq(file_size(pool_path(1)), 4 * RS);
        ck_assert_str_eq(file_key(1, 0), "a");
        ck_assert_str_eq(file_key(1, 1), "e");
        ck_assert_str_eq(file_key(1, 2), "c");
        ck_assert_str_eq(file_key(1, 3), "d");

        /* Deleting the record in the last file slot just truncates. */
        ck_assert_int_eq(kvp_delete(s, 1, "d"), 0);
        assert_order(s, 1, (const char *[]) { "a", "c", "e" }, 3);
        ck_assert_int_eq(file_size(pool_path(1)), 3 * RS);

        /* A SET after the deletes rewrites the right file slot. */
        ck_assert_int_eq(kvp_set(s, 1, "e", "E"), 0);
        {
                uint8_t rec[RS];
                read_record_at(1, 1, rec);
                ck_assert_str_eq((char *) rec, "e");
                ck_assert_str_eq((char *) rec + KVP_KEY_SIZE, "E");
        }
        ck_assert_int_eq(kvp_set(s, 1, "f", "F"), 0);
        assert_order(s, 1, (const char *[]) { "a", "c", "e", "f" }, 4);
        ck_assert_str_eq(file_key(1, 3), "f");

        /* A fresh load sees file order. */
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_order(s, 1, (const char *[]) { "a", "e", "c", "f" }, 4);
        assert_value(s, 1, "e", "E");
}
END_TEST

START_TEST(test_limits) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        _cleanup_free_ char *k511 = repeat("k", 511), *k512 = repeat("k", 512);
        _cleanup_free_ char *v2047 = repeat("v", 2047), *v2048 = repeat("v", 2048);
        _cleanup_free_ char *k254 = repeat("h", 254), *k255 = repeat("h", 255);
        _cleanup_free_ char *v1022 = repeat("w", 1022), *v1023 = repeat("w", 1023);
        /* U+1F600 is 4 UTF-8 bytes and 2 UTF-16 units; U+20AC 3 bytes, 1 unit. */
        _cleanup_free_ char *emoji127 = repeat("\xf0\x9f\x98\x80", 127), *emoji128 = repeat("\xf0\x9f\x98\x80", 128);
        _cleanup_free_ char *euro170 = repeat("\xe2\x82\xac", 170), *euro340 = repeat("\xe2\x82\xac", 340);
        _cleanup_free_ char *e1022 = repeat("\xc3\xa9", 1022), *e1023 = repeat("\xc3\xa9", 1023);
        const char *v;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);

        /* The record: 511-byte key and 2047-byte value fit, one more does not. */
        ck_assert_int_eq(kvp_set(s, 0, k511, "x"), 0);
        ck_assert_int_eq(kvp_set(s, 0, k512, "x"), -E2BIG);
        ck_assert_int_eq(kvp_set(s, 0, "v", v2047), 0);
        ck_assert_int_eq(kvp_set(s, 0, "v2", v2048), -E2BIG);
        ck_assert_int_eq(kvp_set(s, 0, "v", v2048), -E2BIG); /* existing key: unchanged */
        assert_value(s, 0, "v", v2047);
        assert_value(s, 0, k511, "x");
        ck_assert_int_eq(kvp_count(s, 0), 2);
        ck_assert_int_eq(file_size(pool_path(0)), 2 * RS);
        /* Never truncated: a 512-byte key is not stored as its 511-byte prefix. */
        ck_assert_int_eq(kvp_set(s, 3, k512, "x"), -E2BIG);
        ck_assert_int_eq(kvp_get(s, 3, k511, &v), -ENOENT);

        /* Host-facing pools (1, 2) also keep what the host takes back, with their own
         * error; host->guest pools (0, 3) do not. */
        ck_assert_int_eq(kvp_set(s, 1, k254, v1022), 0);
        ck_assert_int_eq(kvp_set(s, 1, k255, "x"), -EMSGSIZE);
        ck_assert_int_eq(kvp_set(s, 1, "w", v1023), -EMSGSIZE);
        ck_assert_int_eq(kvp_set(s, 2, k255, "x"), -EMSGSIZE);
        ck_assert_int_eq(kvp_set(s, 2, k254, "x"), 0);
        ck_assert_int_eq(kvp_set(s, 0, k255, v1023), 0);
        ck_assert_int_eq(kvp_set(s, 3, k255, v1023), 0);
        /* Units, not bytes or characters. */
        ck_assert_int_eq(kvp_set(s, 1, emoji127, "x"), 0);     /* 508 bytes, 254 units */
        ck_assert_int_eq(kvp_set(s, 1, emoji128, "x"), -E2BIG); /* 512 bytes */
        ck_assert_int_eq(kvp_set(s, 1, euro170, euro340), 0);  /* 170 and 340 units */
        ck_assert_int_eq(kvp_set(s, 1, "e", e1023), -EMSGSIZE); /* 2046 bytes: fits the record, not the host */
        ck_assert_int_eq(kvp_set(s, 0, "e", e1023), 0);
        ck_assert_int_eq(kvp_set(s, 1, "e", e1022), 0);
        /* The host cannot take what is not UTF-8; a host->guest pool stores bytes. */
        ck_assert_int_eq(kvp_set(s, 1, "bad\xff", "x"), -EILSEQ);
        ck_assert_int_eq(kvp_set(s, 1, "bad", "\xc0\x80"), -EILSEQ); /* overlong NUL */
        ck_assert_int_eq(kvp_set(s, 1, "bad", "\xed\xa0\x80"), -EILSEQ); /* surrogate */
        ck_assert_int_eq(kvp_set(s, 1, "bad", "\xe2\x82"), -EILSEQ); /* cut short */
        ck_assert_int_eq(kvp_set(s, 0, "bytes\xff", "x"), 0);
        ck_assert_int_eq(kvp_count(s, 1), 4);
        ck_assert_int_eq(file_size(pool_path(1)), 4 * RS);
        ck_assert_int_eq(kvp_count(s, 2), 1);

        /* Stored values come back whole after a reload. */
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_value(s, 0, "v", v2047);
        assert_value(s, 0, k511, "x");
        assert_value(s, 1, euro170, euro340);
        assert_value(s, 3, k255, v1023);
}
END_TEST

START_TEST(test_reopen_format_modes) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct stat st;
        uint8_t rec[RS], want[RS];

        umask(022);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 0, "host", "pushed"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "guest", "published"), 0);
        ck_assert_int_eq(kvp_set(s, 3, "HostName", "hv01"), 0);
        ck_assert_int_eq(kvp_set(s, 4, "internal", "x"), 0);
        /* Pool 2 is memory-only by default: the file stays empty. */
        ck_assert_int_eq(kvp_set(s, 2, "OSName", "Debian"), 0);
        assert_value(s, 2, "OSName", "Debian");
        ck_assert_int_eq(file_size(pool_path(2)), 0);

        /* Zero-filled hv_kvp_daemon records. */
        read_record_at(1, 0, rec);
        make_record(want, "guest", "published");
        ck_assert_mem_eq(rec, want, RS);

        /* Host data is not world-readable; guest pools keep hv_kvp_daemon's mode. */
        ck_assert_int_eq(stat(pool_path(0), &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(stat(pool_path(3), &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0600);
        ck_assert_int_eq(stat(pool_path(1), &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0644);
        ck_assert_int_eq(stat(pooldir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0755);

        s = kvp_store_free(s);
        /* A file hv_kvp_daemon left at 0644 is tightened. */
        ck_assert_int_eq(chmod(pool_path(0), 0644), 0);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(stat(pool_path(0), &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0600);
        assert_value(s, 0, "host", "pushed");
        assert_value(s, 1, "guest", "published");
        assert_value(s, 3, "HostName", "hv01");
        assert_value(s, 4, "internal", "x");
        ck_assert_int_eq(kvp_get(s, 2, "OSName", NULL), -ENOENT);

        /* A memory-only pool can be asked for explicitly, and file pool 2 too. */
        s = kvp_store_free(s);
        struct kvp_store_options o = { .memory_pools = 1u << 0 };
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        ck_assert_int_eq(kvp_count(s, 0), 0);
        ck_assert_int_eq(kvp_set(s, 0, "mem", "only"), 0);
        ck_assert_int_eq(kvp_set(s, 2, "file", "backed"), 0);
        ck_assert_int_eq(file_size(pool_path(0)), RS); /* untouched: still "host" */
        ck_assert_str_eq(file_key(0, 0), "host");
        ck_assert_int_eq(file_size(pool_path(2)), RS);
}
END_TEST

struct change_log {
        char buf[4096];
        int n;
};

static void on_change(struct kvp_store *s, unsigned pool, const char *key, const char *value, void *userdata) {
        struct change_log *l = userdata;
        size_t len = strlen(l->buf);
        snprintf(l->buf + len, sizeof l->buf - len, "%u:%s=%s;", pool, key, value ? value : "(deleted)");
        l->n++;
}

START_TEST(test_sync_option) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct kvp_store_options o = KVP_STORE_OPTIONS_DEFAULT;

        o.flags = KVP_STORE_SYNC;
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        ck_assert_int_eq(kvp_set(s, 0, "a", "1"), 0);
        ck_assert_int_eq(kvp_set(s, 0, "b", "2"), 0);
        ck_assert_int_eq(kvp_set(s, 0, "c", "3"), 0);
        ck_assert_int_eq(kvp_set(s, 0, "a", "one"), 0);
        ck_assert_int_eq(kvp_delete(s, 0, "b"), 0);
        ck_assert_int_eq(kvp_delete(s, 0, "c"), 0);
        ck_assert_int_eq(file_size(journal_path(0)), 0);
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        assert_order(s, 0, (const char *[]) { "a" }, 1);
        assert_value(s, 0, "a", "one");
}
END_TEST

START_TEST(test_notifications) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct change_log l = {};

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_subscribe(s, on_change, &l), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0); /* no change, no news */
        ck_assert_int_eq(kvp_set(s, 1, "a", "2"), 0);
        ck_assert_int_eq(kvp_set(s, 2, "m", "x"), 0);
        ck_assert_int_eq(kvp_delete(s, 1, "a"), 0);
        ck_assert_int_eq(kvp_delete(s, 1, "a"), -ENOENT);
        ck_assert_int_eq(kvp_set(s, 1, "big", "\xff"), -EILSEQ); /* refused: no news */
        ck_assert_str_eq(l.buf, "1:a=1;1:a=2;2:m=x;1:a=(deleted);");

        ck_assert_int_eq(kvp_unsubscribe(s, on_change, &l), 0);
        ck_assert_int_eq(kvp_unsubscribe(s, on_change, &l), -ENOENT);
        ck_assert_int_eq(kvp_set(s, 1, "b", "1"), 0);
        ck_assert_int_eq(l.n, 4);
}
END_TEST

START_TEST(test_external_append_and_duplicates) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct change_log l = {};

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_subscribe(s, on_change, &l), 0);
        ck_assert_int_eq(kvp_set(s, 1, "ours", "1"), 0);
        external_append(1, "CLOUD_INIT|1|start|init|x", "{}");
        external_append(1, "ours", "dup");

        /* Reads answer from memory until a refresh. */
        ck_assert_int_eq(kvp_count(s, 1), 1);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_order(s, 1, (const char *[]) { "ours", "CLOUD_INIT|1|start|init|x", "ours" }, 3);
        /* The first of duplicates wins; the shadowed one is no news. */
        assert_value(s, 1, "ours", "1");
        ck_assert_str_eq(l.buf, "1:ours=1;1:CLOUD_INIT|1|start|init|x={};");

        /* A SET catches up under the lock before it appends: nothing is overwritten. */
        external_append(1, "late", "L");
        ck_assert_int_eq(kvp_set(s, 1, "after", "A"), 0);
        assert_order(s, 1, (const char *[]) { "ours", "CLOUD_INIT|1|start|init|x", "ours", "late", "after" }, 5);
        ck_assert_str_eq(file_key(1, 3), "late");
        ck_assert_str_eq(file_key(1, 4), "after");

        /* Deleting a duplicated key uncovers the next one. */
        l.buf[0] = '\0';
        ck_assert_int_eq(kvp_delete(s, 1, "ours"), 0);
        assert_value(s, 1, "ours", "dup");
        ck_assert_str_eq(l.buf, "1:ours=dup;");
        ck_assert_int_eq(kvp_delete(s, 1, "ours"), 0);
        ck_assert_int_eq(kvp_get(s, 1, "ours", NULL), -ENOENT);
        ck_assert_int_eq(file_size(pool_path(1)), 3 * RS);
}
END_TEST

START_TEST(test_own_strings_as_arguments) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        const char *k, *v;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "value of a"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "b", "2"), 0);
        /* Someone truncates and refills the file: the next SET reloads the pool, which
         * frees the strings we pass back in (ASan would see it). */
        ck_assert_int_eq(kvp_get(s, 1, "a", &v), 0);
        ck_assert_int_eq(truncate(pool_path(1), 0), 0);
        external_append(1, "z", "9");
        external_append(1, "a", "value of a");
        external_append(1, "c", "3");
        ck_assert_int_eq(kvp_set(s, 1, "copy", v), 0);
        assert_order(s, 1, (const char *[]) { "z", "a", "c", "copy" }, 4);
        assert_value(s, 1, "copy", "value of a");

        ck_assert_int_eq(kvp_enumerate(s, 1, 2, &k, NULL), 0);
        ck_assert_str_eq(k, "c");
        ck_assert_int_eq(truncate(pool_path(1), 0), 0);
        external_append(1, "x", "1");
        external_append(1, "c", "3");
        external_append(1, "y", "1");
        ck_assert_int_eq(kvp_delete(s, 1, k), 0);
        assert_order(s, 1, (const char *[]) { "x", "y" }, 2);
}
END_TEST

START_TEST(test_many_duplicates) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        uint8_t *buf = malloc(3000 * RS);
        char v[16];
        int fd;

        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        /* 3000 records, two keys interleaved: "x" at even, "y" at odd positions. */
        for (int i = 0; i < 3000; i++) {
                snprintf(v, sizeof v, "%d", i);
                make_record(buf + (size_t) i * RS, i % 2 ? "y" : "x", v);
        }
        fd = open(pool_path(1), O_WRONLY | O_APPEND | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, buf, 3000 * RS), 3000 * RS);
        close(fd);
        free(buf);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        ck_assert_int_eq(kvp_count(s, 1), 3000);
        assert_value(s, 1, "x", "0");
        assert_value(s, 1, "y", "1");

        /* SET changes the first; DELETE peels them off in order. */
        ck_assert_int_eq(kvp_set(s, 1, "y", "first"), 0);
        assert_value(s, 1, "y", "first");
        ck_assert_int_eq(kvp_delete(s, 1, "y"), 0);
        assert_value(s, 1, "y", "3");
        for (int i = 0; i < 100; i++)
                ck_assert_int_eq(kvp_delete(s, 1, "x"), 0);
        assert_value(s, 1, "x", "200");
        ck_assert_int_eq(kvp_count(s, 1), 3000 - 101);
        {
                const char *k, *val;
                ck_assert_int_eq(kvp_enumerate(s, 1, 0, &k, &val), 0);
                ck_assert_str_eq(k, "y");
                ck_assert_str_eq(val, "3");
        }
        /* A reload (other order after the deletes' moves) still finds a first one. */
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_count(s, 1), 3000 - 101);
        ck_assert_int_eq(kvp_get(s, 1, "x", NULL), 0);
        for (int i = 0; i < 1400; i++)
                ck_assert_int_eq(kvp_delete(s, 1, "x"), 0);
        ck_assert_int_eq(kvp_get(s, 1, "x", NULL), -ENOENT);
        ck_assert_int_eq(kvp_count(s, 1), 1499);
}
END_TEST

START_TEST(test_truncation_and_replace) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct change_log l = {};
        char tmp[300];
        uint8_t rec[RS];
        int fd;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "b", "2"), 0);
        ck_assert_int_eq(kvp_subscribe(s, on_change, &l), 0);

        /* cloud-init's once-per-boot truncation. */
        ck_assert_int_eq(truncate(pool_path(1), 0), 0);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        ck_assert_int_eq(kvp_count(s, 1), 0);
        ck_assert_str_eq(l.buf, "1:a=(deleted);1:b=(deleted);");

        /* Shrunk then grown past the old size: still a reload, not a tail read. */
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0);
        ck_assert_int_eq(truncate(pool_path(1), 0), 0);
        external_append(1, "x", "1");
        external_append(1, "y", "2");
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_order(s, 1, (const char *[]) { "x", "y" }, 2);

        /* Replaced by rename (another inode): reopened and reloaded. */
        snprintf(tmp, sizeof tmp, "%s/replacement", pooldir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        make_record(rec, "z", "26");
        ck_assert_int_eq(write(fd, rec, RS), RS);
        close(fd);
        ck_assert_int_eq(rename(tmp, pool_path(1)), 0);
        l.buf[0] = '\0';
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_order(s, 1, (const char *[]) { "z" }, 1);
        ck_assert_str_eq(l.buf, "1:x=(deleted);1:y=(deleted);1:z=26;");
        /* And writes go to the new file. */
        ck_assert_int_eq(kvp_set(s, 1, "w", "23"), 0);
        ck_assert_int_eq(file_size(pool_path(1)), 2 * RS);

        /* Rewritten in place at the same size (hv_kvp_daemon style): reloaded. The
         * pause lets coarse file timestamps tick (docs/kvp.md). */
        usleep(20000);
        make_record(rec, "z", "changed");
        write_record_at(1, 0, rec, RS);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_value(s, 1, "z", "changed");

        /* Replaced while the old file keeps another name (a backup hard link), so its
         * link count never drops to 0: the unlocked check still sees the link and the
         * rename, which change the old inode's ctime. */
        char backup[300];
        snprintf(backup, sizeof backup, "%s/backup", pooldir);
        usleep(20000);
        ck_assert_int_eq(link(pool_path(1), backup), 0);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        make_record(rec, "r", "18");
        ck_assert_int_eq(write(fd, rec, RS), RS);
        close(fd);
        usleep(20000);
        ck_assert_int_eq(rename(tmp, pool_path(1)), 0);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_order(s, 1, (const char *[]) { "r" }, 1);
        ck_assert_int_eq(unlink(backup), 0);
}
END_TEST

START_TEST(test_partial_and_unterminated_records) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        uint8_t rec[RS];
        char garbage[1000];
        int fd;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0);

        /* An interrupted append: ignored ... */
        memset(garbage, 'g', sizeof garbage);
        fd = open(pool_path(1), O_WRONLY | O_APPEND | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, garbage, sizeof garbage), (ssize_t) sizeof garbage);
        close(fd);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_order(s, 1, (const char *[]) { "a" }, 1);
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_order(s, 1, (const char *[]) { "a" }, 1);
        /* ... and truncated away by our next write. */
        ck_assert_int_eq(kvp_set(s, 1, "b", "2"), 0);
        ck_assert_int_eq(file_size(pool_path(1)), 2 * RS);
        ck_assert_str_eq(file_key(1, 1), "b");

        /* Fields without a NUL (cloud-init cuts long ones): taken one byte short. */
        memset(rec, 'K', KVP_KEY_SIZE);
        memset(rec + KVP_KEY_SIZE, 'V', KVP_VALUE_SIZE);
        fd = open(pool_path(1), O_WRONLY | O_APPEND | O_CLOEXEC);
        ck_assert_int_eq(write(fd, rec, RS), RS);
        close(fd);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        {
                const char *k, *v;
                ck_assert_int_eq(kvp_enumerate(s, 1, 2, &k, &v), 0);
                ck_assert_uint_eq(strlen(k), KVP_KEY_SIZE - 1);
                ck_assert_uint_eq(strlen(v), KVP_VALUE_SIZE - 1);
        }
}
END_TEST

static void write_journal(unsigned pool, uint32_t op, uint32_t slot, uint32_t old_count,
                          const uint8_t *old, const uint8_t *new) {
        _cleanup_free_ struct journal_entry *e = calloc(1, sizeof *e);
        struct journal j;
        struct stat st;
        int dfd = open(pooldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_ptr_nonnull(e);
        ck_assert_int_ge(dfd, 0);
        ck_assert_int_eq(stat(pool_path(pool), &st), 0);
        *e = (struct journal_entry) { .op = op, .slot = slot, .old_count = old_count,
                                      .dev = st.st_dev, .ino = st.st_ino };
        memcpy(e->old, old, RS);
        memcpy(e->new, new, RS);
        journal_init(&j, dfd, pool, false);
        ck_assert_int_eq(journal_write(&j, e), 0);
        journal_done(&j);
        close(dfd);
}

static void setup_abc(unsigned pool, const char *const *keys, size_t n) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(kvp_set(s, pool, keys[i], keys[i]), 0);
}

START_TEST(test_journal_replay_overwrite) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        uint8_t old[RS], new[RS], torn[RS], cur[RS];

        setup_abc(0, (const char *[]) { "a", "b", "c" }, 3);
        /* A SET of b killed mid-write: a prefix of the new bytes over the old ones. */
        _cleanup_free_ char *ov = repeat("O", 2000), *nv = repeat("N", 2000);
        make_record(old, "b", ov);
        make_record(new, "b", nv);
        memcpy(torn, new, 1536);
        memcpy(torn + 1536, old + 1536, RS - 1536);
        write_record_at(0, 1, torn, RS);
        write_journal(0, JOURNAL_OVERWRITE, 1, 3, old, new);

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_value(s, 0, "b", nv);
        read_record_at(0, 1, cur);
        ck_assert_mem_eq(cur, new, RS);
        ck_assert_int_eq(file_size(journal_path(0)), 0);
        assert_order(s, 0, (const char *[]) { "a", "b", "c" }, 3);
}
END_TEST

START_TEST(test_journal_torn_or_stale_ignored) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        uint8_t old[RS], new[RS], other[RS], cur[RS];

        setup_abc(0, (const char *[]) { "a", "b", "c" }, 3);
        make_record(old, "b", "b");
        make_record(new, "b", "NEW");

        /* A torn journal: the in-place write never started; the record is left alone. */
        write_journal(0, JOURNAL_OVERWRITE, 1, 3, old, new);
        ck_assert_int_eq(truncate(journal_path(0), 3000), 0);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_value(s, 0, "b", "b");
        ck_assert_int_eq(file_size(journal_path(0)), 0);
        s = kvp_store_free(s);

        /* A complete journal whose checksum does not match: the same. */
        write_journal(0, JOURNAL_OVERWRITE, 1, 3, old, new);
        {
                int fd = open(journal_path(0), O_WRONLY | O_CLOEXEC);
                ck_assert_int_eq(pwrite(fd, "Z", 1, 100), 1);
                close(fd);
        }
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_value(s, 0, "b", "b");
        s = kvp_store_free(s);

        /* The record was rewritten by someone else since: the journal is stale. */
        make_record(other, "b", "someone else");
        write_record_at(0, 1, other, RS);
        write_journal(0, JOURNAL_OVERWRITE, 1, 3, old, new);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_value(s, 0, "b", "someone else");
        read_record_at(0, 1, cur);
        ck_assert_mem_eq(cur, other, RS);
        ck_assert_int_eq(file_size(journal_path(0)), 0);
}
END_TEST

START_TEST(test_journal_replay_delete) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        uint8_t b[RS], d[RS], torn[RS];

        /* DELETE b killed after part of d was copied into b's slot, before truncation. */
        setup_abc(1, (const char *[]) { "a", "b", "c", "d" }, 4);
        make_record(b, "b", "b");
        make_record(d, "d", "d");
        memcpy(torn, d, 1024);
        memcpy(torn + 1024, b + 1024, RS - 1024);
        write_record_at(1, 1, torn, RS);
        write_journal(1, JOURNAL_MOVE, 1, 4, b, d);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_order(s, 1, (const char *[]) { "a", "d", "c" }, 3);
        ck_assert_int_eq(file_size(pool_path(1)), 3 * RS);
        s = kvp_store_free(s);

        /* Killed after the truncation; cloud-init appended before we came back: its
         * record stays. */
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 1, "e", "e"), 0); /* a d c e */
        s = kvp_store_free(s);
        {
                uint8_t a[RS], e[RS];
                make_record(a, "a", "a");
                make_record(e, "e", "e");
                write_record_at(1, 0, e, RS);
                ck_assert_int_eq(truncate(pool_path(1), 3 * RS), 0);
                write_journal(1, JOURNAL_MOVE, 0, 4, a, e);
        }
        external_append(1, "cloud", "init");
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_order(s, 1, (const char *[]) { "e", "d", "c", "cloud" }, 4);
        s = kvp_store_free(s);

        /* Deleting e (slot 0) killed before the truncation, with appends since: the
         * stray copy of the moved record goes, the append stays. */
        {
                uint8_t e[RS], cl[RS];
                make_record(e, "e", "e");
                make_record(cl, "cloud", "init");
                write_record_at(1, 0, cl, RS);   /* file: cloud d c cloud */
                write_journal(1, JOURNAL_MOVE, 0, 4, e, cl);
        }
        external_append(1, "more", "1");
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_order(s, 1, (const char *[]) { "cloud", "d", "c", "more" }, 4);
        ck_assert_int_eq(file_size(pool_path(1)), 4 * RS);
        ck_assert_int_eq(file_size(journal_path(1)), 0);
}
END_TEST

START_TEST(test_lock_busy) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct kvp_store_options o = KVP_STORE_OPTIONS_DEFAULT;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        size_t len0, len1;
        _cleanup_free_ char *before = NULL, *after = NULL;
        int fd;

        o.lock_timeout_ms = 50;
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        ck_assert_int_eq(kvp_set(s, 0, "a", "1"), 0);
        before = slurp(pool_path(0), &len0);

        /* cloud-init's flock */
        fd = open(pool_path(0), O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX), 0);
        ck_assert_int_eq(kvp_set(s, 0, "b", "2"), -EAGAIN);
        ck_assert_int_eq(kvp_set(s, 0, "a", "2"), -EAGAIN);
        ck_assert_int_eq(kvp_delete(s, 0, "a"), -EAGAIN);
        /* Unchanged since our last look: nothing to read, so no lock to wait for. */
        ck_assert_int_eq(kvp_refresh(s, 0), 0);
        ck_assert_int_eq(flock(fd, LOCK_UN), 0);

        /* hv_kvp_daemon's POSIX record lock (conflicts with our OFD lock) */
        ck_assert_int_eq(fcntl(fd, F_SETLK, &fl), 0);
        ck_assert_int_eq(kvp_set(s, 0, "b", "2"), -EAGAIN);
        fl.l_type = F_UNLCK;
        ck_assert_int_eq(fcntl(fd, F_SETLK, &fl), 0);
        close(fd);

        after = slurp(pool_path(0), &len1);
        ck_assert_uint_eq(len0, len1);
        ck_assert_mem_eq(before, after, len0);
        assert_order(s, 0, (const char *[]) { "a" }, 1);
        assert_value(s, 0, "a", "1");

        ck_assert_int_eq(kvp_set(s, 0, "b", "2"), 0);
        assert_order(s, 0, (const char *[]) { "a", "b" }, 2);

        /* cloud-init appending under its flock: the change shows, the lock is waited
         * for (and memory answers meanwhile), then the record is picked up. */
        {
                uint8_t rec[RS];
                fd = open(pool_path(0), O_RDWR | O_CLOEXEC);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(flock(fd, LOCK_EX), 0);
                make_record(rec, "c", "3");
                ck_assert_int_eq(pwrite(fd, rec, RS, 2 * RS), RS);
                ck_assert_int_eq(kvp_refresh(s, 0), -EAGAIN);
                assert_order(s, 0, (const char *[]) { "a", "b" }, 2);
                ck_assert_int_eq(flock(fd, LOCK_UN), 0);
                close(fd);
                ck_assert_int_eq(kvp_refresh(s, 0), 0);
                assert_order(s, 0, (const char *[]) { "a", "b", "c" }, 3);
        }
}
END_TEST

START_TEST(test_open_locked_or_failing) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct kvp_store_options o = KVP_STORE_OPTIONS_DEFAULT;
        char target[300];
        int fd;

        o.lock_timeout_ms = 30;
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0);
        s = kvp_store_free(s);

        /* A pool locked at open (cloud-init mid-batch) loads at the next refresh. */
        fd = open(pool_path(1), O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX), 0);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        ck_assert_int_eq(kvp_refresh(s, 1), -EAGAIN);
        ck_assert_int_eq(flock(fd, LOCK_UN), 0);
        close(fd);
        ck_assert_int_eq(kvp_refresh(s, 1), 0);
        assert_order(s, 1, (const char *[]) { "a" }, 1);
        s = kvp_store_free(s);

        /* A pool file that is a symlink is refused (never follow paths out of our
         * directory), and a half-open store is freed cleanly: fd 0 stays open. */
        snprintf(target, sizeof target, "%s/elsewhere", tmpdir);
        ck_assert_int_eq(unlink(pool_path(0)), 0);
        ck_assert_int_eq(symlink(target, pool_path(0)), 0);
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        if (fcntl(0, F_GETFD) < 0)
                ck_assert_int_eq(dup2(fd, 0), 0);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), -ELOOP);
        ck_assert_ptr_null(s);
        ck_assert_int_ge(fcntl(0, F_GETFD), 0);
        ck_assert_int_lt(file_size(target), 0);
        close(fd);
}
END_TEST

/* Privileged file-system setups run in a private mount namespace (check forks each
 * test); without the privilege the test says so and checks nothing. */
static bool private_mounts(void) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "SKIP: no mount namespace (%m)\n");
                return false;
        }
        return true;
}

START_TEST(test_read_only_dir) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        size_t len0, len1;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 0, "a", "1"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "g", "2"), 0);
        s = kvp_store_free(s);
        before = slurp(pool_path(0), &len0);

        if (!private_mounts())
                return;
        ck_assert_int_eq(mount(pooldir, pooldir, NULL, MS_BIND, NULL), 0);
        ck_assert_int_eq(mount(NULL, pooldir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_value(s, 0, "a", "1");
        assert_value(s, 1, "g", "2");
        ck_assert(!kvp_pool_is_writable(s, 0));
        ck_assert_int_eq(kvp_set(s, 0, "a", "changed"), -EROFS);
        ck_assert_int_eq(kvp_set(s, 0, "new", "x"), -EROFS);
        ck_assert_int_eq(kvp_delete(s, 0, "a"), -EROFS);
        ck_assert_int_eq(kvp_set(s, 1, "g", "3"), -EROFS);
        ck_assert_int_eq(kvp_refresh(s, 0), 0);
        assert_order(s, 0, (const char *[]) { "a" }, 1);
        assert_value(s, 0, "a", "1");
        assert_value(s, 1, "g", "2");
        /* Memory-only pools still work. */
        ck_assert_int_eq(kvp_set(s, 2, "m", "x"), 0);
        after = slurp(pool_path(0), &len1);
        ck_assert_uint_eq(len0, len1);
        ck_assert_mem_eq(before, after, len0);
}
END_TEST

START_TEST(test_disk_full) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        char filler[300], block[4096];
        size_t len0, len1;
        int fd;

        if (!private_mounts())
                return;
        {
                char d[256];
                snprintf(d, sizeof d, "%s/var", tmpdir);
                ck_assert_int_eq(mkdir(d, 0755), 0);
                snprintf(d, sizeof d, "%s/var/lib", tmpdir);
                ck_assert_int_eq(mkdir(d, 0755), 0);
                ck_assert_int_eq(mkdir(pooldir, 0755), 0);
        }
        ck_assert_int_eq(mount("tmpfs", pooldir, "tmpfs", 0, "size=256k"), 0);

        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "1"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "b", "2"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "c", "3"), 0); /* 7680 bytes: the next record needs a new page */

        snprintf(filler, sizeof filler, "%s/filler", pooldir);
        fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        memset(block, 'f', sizeof block);
        while (write(fd, block, sizeof block) > 0)
                ;
        ck_assert_int_eq(errno, ENOSPC);

        before = slurp(pool_path(1), &len0);
        ck_assert_int_eq(kvp_set(s, 1, "d", "4"), -ENOSPC);        /* append */
        ck_assert_int_eq(kvp_set(s, 1, "a", "changed"), -ENOSPC);  /* journaled overwrite */
        ck_assert_int_eq(kvp_delete(s, 1, "a"), -ENOSPC);          /* journaled move */
        after = slurp(pool_path(1), &len1);
        ck_assert_uint_eq(len0, len1);
        ck_assert_mem_eq(before, after, len0);
        assert_order(s, 1, (const char *[]) { "a", "b", "c" }, 3);
        assert_value(s, 1, "a", "1");
        /* Deleting the last record needs no space. */
        ck_assert_int_eq(kvp_delete(s, 1, "c"), 0);

        /* Space back: everything works, and a reload agrees with memory. */
        close(fd);
        ck_assert_int_eq(unlink(filler), 0);
        ck_assert_int_eq(kvp_set(s, 1, "d", "4"), 0);
        ck_assert_int_eq(kvp_set(s, 1, "a", "changed"), 0);
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, NULL), 0);
        assert_order(s, 1, (const char *[]) { "a", "b", "d" }, 3);
        assert_value(s, 1, "a", "changed");
}
END_TEST

START_TEST(test_scale) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        struct kvp_store_options o = { .memory_pools = 1u << 2 };
        char key[32], val[32];
        const char *k, *v;
        const int n = 10000;

        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        for (int i = 0; i < n; i++) {
                snprintf(key, sizeof key, "key-%d", i);
                snprintf(val, sizeof val, "value-%d", i);
                ck_assert_int_eq(kvp_set(s, 1, key, val), 0);
                ck_assert_int_eq(kvp_set(s, 2, key, val), 0);
        }
        /* Every tenth goes: the rest keep their order in memory; the file is dense. */
        for (int i = 0; i < n; i += 10) {
                snprintf(key, sizeof key, "key-%d", i);
                ck_assert_int_eq(kvp_delete(s, 1, key), 0);
                ck_assert_int_eq(kvp_delete(s, 2, key), 0);
        }
        ck_assert_int_eq(kvp_count(s, 1), n - n / 10);
        ck_assert_int_eq(file_size(pool_path(1)), (off_t) (n - n / 10) * RS);
        for (int i = 0, idx = 0; i < n; i++) {
                if (i % 10 == 0)
                        continue;
                snprintf(key, sizeof key, "key-%d", i);
                snprintf(val, sizeof val, "value-%d", i);
                for (unsigned p = 1; p <= 2; p++) {
                        ck_assert_int_eq(kvp_enumerate(s, p, (size_t) idx, &k, &v), 0);
                        ck_assert_str_eq(k, key);
                        ck_assert_str_eq(v, val);
                        assert_value(s, p, key, val);
                }
                idx++;
        }
        s = kvp_store_free(s);
        ck_assert_int_eq(kvp_store_open(&s, pooldir, &o), 0);
        ck_assert_int_eq(kvp_count(s, 1), n - n / 10);
        for (int i = 1; i < n; i += 7)
                if (i % 10) {
                        snprintf(key, sizeof key, "key-%d", i);
                        snprintf(val, sizeof val, "value-%d", i);
                        assert_value(s, 1, key, val);
                }
}
END_TEST

static Suite *kvp_store_suite(void) {
        Suite *s = suite_create("kvp-store");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 120);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_basic);
        tcase_add_test(tc, test_order_after_delete);
        tcase_add_test(tc, test_limits);
        tcase_add_test(tc, test_reopen_format_modes);
        tcase_add_test(tc, test_sync_option);
        tcase_add_test(tc, test_notifications);
        tcase_add_test(tc, test_external_append_and_duplicates);
        tcase_add_test(tc, test_own_strings_as_arguments);
        tcase_add_test(tc, test_many_duplicates);
        tcase_add_test(tc, test_truncation_and_replace);
        tcase_add_test(tc, test_partial_and_unterminated_records);
        tcase_add_test(tc, test_journal_replay_overwrite);
        tcase_add_test(tc, test_journal_torn_or_stale_ignored);
        tcase_add_test(tc, test_journal_replay_delete);
        tcase_add_test(tc, test_lock_busy);
        tcase_add_test(tc, test_open_locked_or_failing);
        tcase_add_test(tc, test_read_only_dir);
        tcase_add_test(tc, test_disk_full);
        tcase_add_test(tc, test_scale);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(kvp_store_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
