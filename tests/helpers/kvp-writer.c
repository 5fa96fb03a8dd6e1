/* Test helper for the KVP store (tests/integration/kvp-kill9.sh,
 * tests/interop/kvp-cloud-init.sh).
 *
 *   kvp-writer write DIR SEED OPS     random SET/DELETE on pool 0; before each op prints
 *                                     "T set KEY VALUE" / "T del KEY", after it is
 *                                     acknowledged "A" (stdout, flushed each line)
 *   kvp-writer verify DIR < LOG       replays such a log: every acknowledged op must be
 *                                     visible, the one unacknowledged op may or may not
 *                                     be (prints "APPLIED" if it was, so the caller can
 *                                     acknowledge it in the log); the pool file must
 *                                     parse cleanly
 *   kvp-writer watch DIR POOL SECS [STOPFILE]
 *                                     refresh + enumerate pool in a loop (until SECS
 *                                     passed or STOPFILE exists); every record must be
 *                                     whole (value "{...}" JSON object or one of ours);
 *                                     prints "records N ..." at the end
 *   kvp-writer churn DIR POOL SECS    SET/DELETE keys "pvic-N" in a loop; prints the
 *                                     final state of its keys as "K key value" lines
 * Exit 0 on success, 1 on a failed check, 2 on usage/setup errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pvic/kvp_store.h"
#include "pvic/log.h"
#include "pvic/macro.h"

#define NKEYS 400
#define MARKER_KEY "key-400" /* key-NKEYS: only verify writes it */
#define MAXLINE (KVP_KEY_SIZE + KVP_VALUE_SIZE + 64)

static uint64_t rng_state;

static uint32_t rnd(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t) (rng_state >> 11);
}

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static struct kvp_store *open_store(const char *dir, unsigned timeout_ms) {
        struct kvp_store_options o = KVP_STORE_OPTIONS_DEFAULT;
        struct kvp_store *s = NULL;
        int r;

        o.lock_timeout_ms = timeout_ms;
        r = kvp_store_open(&s, dir, &o);
        if (r < 0) {
                fprintf(stderr, "kvp_store_open(%s): %s\n", dir, strerror(-r));
                exit(2);
        }
        return s;
}

static int do_write(const char *dir, unsigned long seed, long ops) {
        _cleanup_kvp_store_ struct kvp_store *s = open_store(dir, 1000);
        static char value[KVP_VALUE_SIZE];

        rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
        for (long i = 0; i < ops; i++) {
                char key[32];
                int r;

                snprintf(key, sizeof key, "key-%u", rnd() % NKEYS);
                if (rnd() % 10 < 7) {
                        /* Long values straddle page boundaries, where a kill tears. */
                        size_t len = 1 + rnd() % (KVP_VALUE_SIZE - 64);
                        int n = snprintf(value, sizeof value, "s%lu-%ld-", seed, i);
                        for (size_t k = (size_t) n; k < len; k++)
                                value[k] = (char) ('a' + (k + i) % 26);
                        value[MAX(len, (size_t) n)] = '\0';
                        printf("T set %s %s\n", key, value);
                        fflush(stdout);
                        r = kvp_set(s, 0, key, value);
                } else {
                        printf("T del %s\n", key);
                        fflush(stdout);
                        r = kvp_delete(s, 0, key);
                        if (r == -ENOENT)
                                r = 0;
                }
                if (r < 0) {
                        fprintf(stderr, "op %ld on %s: %s\n", i, key, strerror(-r));
                        return 1;
                }
                printf("A\n");
                fflush(stdout);
        }
        return 0;
}

struct expect {
        char *value; /* NULL: absent */
        bool known;
};

/* key-NKEYS is verify's marker. */
static int key_index(const char *key) {
        int i;
        if (sscanf(key, "key-%d", &i) != 1 || i < 0 || i > NKEYS)
                return -1;
        return i;
}

static int check_file(const char *dir, bool interrupted) {
        char path[4096];
        struct stat st;
        static unsigned char rec[KVP_RECORD_SIZE];
        int fd, bad = 0;

        snprintf(path, sizeof path, "%s/.kvp_pool_0", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "cannot open %s: %m\n", path);
                return 1;
        }
        if (st.st_size % KVP_RECORD_SIZE != 0 && !interrupted) {
                fprintf(stderr, "pool file size %lld is not a multiple of %u without an interrupted op\n",
                        (long long) st.st_size, KVP_RECORD_SIZE);
                bad = 1;
        }
        for (off_t off = 0; off + KVP_RECORD_SIZE <= st.st_size; off += KVP_RECORD_SIZE) {
                if (pread(fd, rec, KVP_RECORD_SIZE, off) != KVP_RECORD_SIZE ||
                    !memchr(rec, 0, KVP_KEY_SIZE) || !memchr(rec + KVP_KEY_SIZE, 0, KVP_VALUE_SIZE) ||
                    key_index((char *) rec) < 0) {
                        fprintf(stderr, "record at %lld is not a clean record\n", (long long) off);
                        bad = 1;
                }
        }
        close(fd);
        return bad;
}

static int do_verify(const char *dir) {
        static struct expect exp[NKEYS];
        static char line[MAXLINE], pending[MAXLINE];
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        int pend_key = -1, bad = 0;
        bool applied = false;
        long acked = 0;
        int64_t present = 0, n;

        while (fgets(line, sizeof line, stdin)) {
                line[strcspn(line, "\n")] = '\0';
                if (strcmp(line, "A") == 0) {
                        char *sp;
                                if (pend_key < 0) {
                                fprintf(stderr, "ack without an op\n");
                                return 2;
                        }
                        free(exp[pend_key].value);
                        exp[pend_key].known = true;
                        exp[pend_key].value = NULL;
                        if (strncmp(pending, "T set ", 6) == 0) {
                                sp = strchr(pending + 6, ' ');
                                exp[pend_key].value = strdup(sp + 1);
                        }
                        pend_key = -1;
                        acked++;
                } else if (strncmp(line, "T ", 2) == 0) {
                        char key[64];
                        /* A kill may cut the log line of an op that never started. */
                        pend_key = -1;
                        if (strlen(line) > 6 && sscanf(line + 6, "%63s", key) == 1 &&
                            (pend_key = key_index(key)) >= NKEYS)
                                pend_key = -1;
                        strcpy(pending, line);
                } else if (line[0]) {
                        fprintf(stderr, "bad log line: %.80s\n", line);
                        return 2;
                }
        }

        /* The file as the kill left it (before any repair but the journal's). */
        s = open_store(dir, 2000);
        bad |= check_file(dir, true);

        for (int i = 0; i < NKEYS; i++) {
                char key[32];
                const char *v = NULL;
                bool ok;
                int r;

                snprintf(key, sizeof key, "key-%d", i);
                r = kvp_get(s, 0, key, &v);
                if (r == 0)
                        present++;
                ok = (r == 0 && exp[i].value && strcmp(v, exp[i].value) == 0) ||
                     (r == -ENOENT && !exp[i].value);
                if (i == pend_key) {
                        /* The op in flight at the kill may have completed. */
                        const char *sp = strchr(pending + 6, ' ');
                        if (strncmp(pending, "T set ", 6) == 0)
                                applied = r == 0 && sp && strcmp(v, sp + 1) == 0;
                        else
                                applied = r == -ENOENT;
                        ok = ok || applied;
                }
                if (!ok) {
                        fprintf(stderr, "%s: expected %.40s, found %.40s\n", key,
                                exp[i].value ? exp[i].value : "(absent)", r == 0 ? v : "(absent)");
                        bad = 1;
                }
        }
        n = kvp_count(s, 0);
        if (n != present) {
                fprintf(stderr, "pool 0 has %lld records, %lld distinct known keys\n",
                        (long long) n, (long long) present);
                bad = 1;
        }

        /* Our next write drops an interrupted append's partial record. */
        if (kvp_set(s, 0, MARKER_KEY, "verify") < 0 || kvp_delete(s, 0, MARKER_KEY) < 0) {
                fprintf(stderr, "verify write failed\n");
                bad = 1;
        }
        bad |= check_file(dir, false);
        if (applied)
                printf("APPLIED\n");
        printf("verified %lld present keys after %ld acknowledged ops%s\n", (long long) present,
               acked, pend_key >= 0 ? " (+1 in flight)" : "");
        for (int i = 0; i < NKEYS; i++)
                free(exp[i].value);
        return bad;
}

static bool record_whole(const char *key, const char *value) {
        size_t vl = strlen(value);
        if (strncmp(key, "pvic-", 5) == 0)
                return strncmp(value, "ours-", 5) == 0;
        /* cloud-init and the appenders write compact JSON objects. */
        return vl >= 2 && value[0] == '{' && value[vl - 1] == '}' && key[0] != '\0';
}

static int do_watch(const char *dir, unsigned pool, double secs, const char *stop) {
        _cleanup_kvp_store_ struct kvp_store *s = open_store(dir, 100);
        double end = now() + secs;
        long rounds = 0, busy = 0, max_seen = 0;

        while (now() < end && !(stop && access(stop, F_OK) == 0)) {
                int r = kvp_refresh(s, pool);
                if (r == -EAGAIN) {
                        busy++;
                        continue;
                }
                if (r < 0) {
                        fprintf(stderr, "refresh: %s\n", strerror(-r));
                        return 1;
                }
                for (size_t i = 0;; i++) {
                        const char *k, *v;
                        if (kvp_enumerate(s, pool, i, &k, &v) < 0)
                                break;
                        if (!record_whole(k, v)) {
                                fprintf(stderr, "torn record %zu: key %.60s value %.60s\n", i, k, v);
                                return 1;
                        }
                }
                max_seen = MAX(max_seen, (long) kvp_count(s, pool));
                rounds++;
        }
        (void) kvp_refresh(s, pool);
        printf("records %lld rounds %ld busy %ld\n", (long long) kvp_count(s, pool), rounds, busy);
        return 0;
}

static int do_churn(const char *dir, unsigned pool, double secs) {
        _cleanup_kvp_store_ struct kvp_store *s = open_store(dir, 2000);
        static char *state[64];
        double end = now() + secs;
        long ops = 0, busy = 0;

        rng_state = 12345;
        while (now() < end) {
                char key[32], value[64];
                unsigned k = rnd() % 64;
                int r;

                snprintf(key, sizeof key, "pvic-%u", k);
                if (rnd() % 3) {
                        snprintf(value, sizeof value, "ours-%ld", ops);
                        r = kvp_set(s, pool, key, value);
                        if (r == 0) {
                                free(state[k]);
                                state[k] = strdup(value);
                        }
                } else {
                        r = kvp_delete(s, pool, key);
                        if (r == 0 || r == -ENOENT) {
                                free(state[k]);
                                state[k] = NULL;
                                r = 0;
                        }
                }
                if (r == -EAGAIN) {
                        busy++;
                        continue;
                }
                if (r < 0) {
                        fprintf(stderr, "churn %s: %s\n", key, strerror(-r));
                        return 1;
                }
                ops++;
                usleep(2000);
        }
        for (unsigned k = 0; k < 64; k++) {
                if (state[k])
                        printf("K pvic-%u %s\n", k, state[k]);
                free(state[k]);
        }
        fprintf(stderr, "churn: %ld ops, %ld lock timeouts\n", ops, busy);
        return 0;
}

int main(int argc, char **argv) {
        log_set_target_journal(0);
        /* verify reports journal repairs (info) so the test can count them */
        log_set_max_level(argc > 1 && strcmp(argv[1], "verify") == 0 ? LOG_INFO : LOG_WARNING);
        if (argc == 5 && strcmp(argv[1], "write") == 0)
                return do_write(argv[2], strtoul(argv[3], NULL, 10), strtol(argv[4], NULL, 10));
        if (argc == 3 && strcmp(argv[1], "verify") == 0)
                return do_verify(argv[2]);
        if ((argc == 5 || argc == 6) && strcmp(argv[1], "watch") == 0)
                return do_watch(argv[2], (unsigned) atoi(argv[3]), atof(argv[4]), argc == 6 ? argv[5] : NULL);
        if (argc == 5 && strcmp(argv[1], "churn") == 0)
                return do_churn(argv[2], (unsigned) atoi(argv[3]), atof(argv[4]));
        fprintf(stderr, "usage: %s write DIR SEED OPS | verify DIR | watch DIR POOL SECS | churn DIR POOL SECS\n",
                argv[0]);
        return 2;
}
