/* libFuzzer target: arbitrary bytes as a pool file (and optionally as the journal left
 * by a killed writer) -> open, parse, enumerate, set, delete, refresh. Pool files are
 * written by other programs (cloud-init, admins, hv_kvp_daemon), so the store must hold
 * on any bytes and keep memory and file consistent.
 *
 * Input: byte 0 selects the layout; bit 0: the rest is split at byte 1..2 (LE offset)
 * into pool 0 file + pool 0 journal, else it is pool 1's file; bit 1: the journal gets
 * the real file identity and a valid checksum, so replay logic is reached. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../kvp/journal.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"
#include "pvic/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup_dir(void) {
        static const char *const names[] = {
                ".kvp_pool_0", ".kvp_pool_1", ".kvp_pool_2", ".kvp_pool_3", ".kvp_pool_4",
                ".pvic_pool_0.journal", ".pvic_pool_1.journal", ".pvic_pool_3.journal",
                ".pvic_pool_4.journal",
        };
        char path[128];

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                unlink(path);
        }
        rmdir(dir);
}

static void put_file(const char *name, const uint8_t *buf, size_t len) {
        char path[128];
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                abort();
        if (len && write(fd, buf, len) != (ssize_t) len)
                abort();
        close(fd);
}

/* Journal layout (kvp/journal.c): dev at 32, ino at 40, crc in the last 4 bytes. */
static void fix_journal(void) {
        char path[128];
        struct stat st;
        uint8_t *j;
        off_t n;
        int fd;

        snprintf(path, sizeof path, "%s/.kvp_pool_0", dir);
        if (stat(path, &st) < 0)
                abort();
        snprintf(path, sizeof path, "%s/.pvic_pool_0.journal", dir);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                abort();
        n = lseek(fd, 0, SEEK_END);
        if (n >= 48 && (j = malloc((size_t) n))) {
                uint64_t dev = st.st_dev, ino = st.st_ino;
                uint32_t crc;
                if (pread(fd, j, (size_t) n, 0) == n) {
                        memcpy(j, "PVICJNL1", 8);
                        memcpy(j + 32, &dev, 8);
                        memcpy(j + 40, &ino, 8);
                        crc = kvp_crc32(0, j, (size_t) n - 4);
                        memcpy(j + n - 4, &crc, 4);
                        if (pwrite(fd, j, (size_t) n, 0) != n)
                                abort();
                }
                free(j);
        }
        close(fd);
}

static void check_consistent(struct kvp_store *s, unsigned pool) {
        int64_t n = kvp_count(s, pool);
        const char *k, *v, *got;

        if (n < 0)
                abort();
        for (int64_t i = 0; i < n; i++) {
                if (kvp_enumerate(s, pool, (size_t) i, &k, &v) < 0)
                        abort();
                if (strlen(k) >= KVP_KEY_SIZE || strlen(v) >= KVP_VALUE_SIZE)
                        abort();
                /* Lookups find a record with that key (the first of duplicates). */
                if (kvp_get(s, pool, k, &got) < 0)
                        abort();
        }
        if (kvp_enumerate(s, pool, (size_t) n, &k, &v) != -ENOENT)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct kvp_store *s = NULL;
        struct kvp_store_options o = KVP_STORE_OPTIONS_DEFAULT;
        unsigned pool;
        uint8_t sel;

        if (size < 1 || size > 64 * KVP_RECORD_SIZE)
                return 0;
        log_set_max_level(-1);
        if (!dir[0]) {
                strcpy(dir, "/tmp/pvic-fuzz-kvp.XXXXXX");
                if (!mkdtemp(dir))
                        abort();
                atexit(cleanup_dir);
        }
        sel = data[0];
        data++, size--;
        put_file(".kvp_pool_0", NULL, 0);
        put_file(".kvp_pool_1", NULL, 0);
        put_file(".pvic_pool_0.journal", NULL, 0);
        if ((sel & 1) && size >= 2) {
                size_t split = MIN((size_t) (data[0] | data[1] << 8) * 16, size - 2);
                put_file(".kvp_pool_0", data + 2, split);
                put_file(".pvic_pool_0.journal", data + 2 + split, size - 2 - split);
                if (sel & 2)
                        fix_journal();
                pool = 0;
        } else {
                put_file(".kvp_pool_1", data, size);
                pool = 1;
        }

        o.lock_timeout_ms = 10;
        if (kvp_store_open(&s, dir, &o) < 0)
                return 0;
        check_consistent(s, pool);

        /* Writes after a hostile file: append, overwrite the first key, delete one. */
        if (kvp_set(s, pool, "fuzz-key", "fuzz-value") == 0) {
                const char *v;
                if (kvp_get(s, pool, "fuzz-key", &v) < 0 || strcmp(v, "fuzz-value") != 0)
                        abort();
        }
        if (kvp_count(s, pool) > 1) {
                const char *k;
                char key[KVP_KEY_SIZE];
                if (kvp_enumerate(s, pool, 0, &k, NULL) == 0) {
                        snprintf(key, sizeof key, "%s", k);
                        (void) kvp_set(s, pool, key, "overwritten");
                        (void) kvp_delete(s, pool, key);
                }
        }
        (void) kvp_refresh(s, pool);
        check_consistent(s, pool);
        {
                /* A fresh load agrees with the store's view after its own writes. */
                struct kvp_store *t = NULL;
                int64_t n = kvp_count(s, pool);
                if (kvp_store_open(&t, dir, &o) == 0) {
                        if (kvp_count(t, pool) != n)
                                abort();
                        for (int64_t i = 0; i < n; i++) {
                                const char *k, *v, *v2;
                                if (kvp_enumerate(t, pool, (size_t) i, &k, &v) < 0 ||
                                    kvp_get(s, pool, k, &v2) < 0)
                                        abort();
                        }
                        kvp_store_free(t);
                }
        }
        kvp_store_free(s);
        return 0;
}
