/* KVP store throughput (bench/kvp-store.sh): SET (update in place, journaled), SET of a
 * new key (append), GET, ENUMERATE by index, and refresh + ENUMERATE (what serving one
 * host request costs), at a given pool size. Prints one line per operation:
 *   RECORDS OP OPS_PER_SECOND */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pvic/kvp_store.h"
#include "pvic/log.h"
#include "pvic/macro.h"

#define POOL 1u

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t) (rng >> 11);
}

static void die(const char *what, int r) {
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        exit(1);
}

static void report(size_t n, const char *op, long ops, double secs) {
        printf("%zu %s %.0f\n", n, op, (double) ops / secs);
}

int main(int argc, char **argv) {
        _cleanup_kvp_store_ struct kvp_store *s = NULL;
        char key[64], value[256];
        size_t n;
        double t, budget;
        long ops;
        int r;

        if (argc != 4) {
                fprintf(stderr, "usage: %s DIR RECORDS SECONDS_PER_OP\n", argv[0]);
                return 2;
        }
        n = strtoul(argv[2], NULL, 10);
        budget = atof(argv[3]);
        log_set_target_journal(0);
        log_set_max_level(LOG_WARNING);
        r = kvp_store_open(&s, argv[1], NULL);
        if (r < 0)
                die("open", r);

        /* Fill: cloud-init-like value sizes. */
        memset(value, 'v', sizeof value - 1);
        value[sizeof value - 1] = '\0';
        t = now();
        for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "CLOUD_INIT|1|start|module-%zu", i);
                r = kvp_set(s, POOL, key, value);
                if (r < 0)
                        die("fill", r);
        }
        report(n, "fill(SET-new)", (long) n, now() - t);

        /* SET of existing keys with a changing value: in place, through the journal. */
        t = now();
        for (ops = 0; now() - t < budget; ops++) {
                snprintf(key, sizeof key, "CLOUD_INIT|1|start|module-%u", rnd() % (unsigned) n);
                value[0] = (char) ('a' + ops % 26);
                r = kvp_set(s, POOL, key, value);
                if (r < 0)
                        die("set", r);
        }
        report(n, "SET", ops, now() - t);

        t = now();
        for (ops = 0; now() - t < budget;) {
                for (int i = 0; i < 1000; i++, ops++) {
                        const char *v;
                        snprintf(key, sizeof key, "CLOUD_INIT|1|start|module-%u", rnd() % (unsigned) n);
                        r = kvp_get(s, POOL, key, &v);
                        if (r < 0)
                                die("get", r);
                }
        }
        report(n, "GET", ops, now() - t);

        t = now();
        for (ops = 0; now() - t < budget;) {
                for (int i = 0; i < 1000; i++, ops++) {
                        const char *k, *v;
                        r = kvp_enumerate(s, POOL, (size_t) ops % n, &k, &v);
                        if (r < 0)
                                die("enumerate", r);
                }
        }
        report(n, "ENUMERATE", ops, now() - t);

        /* Per host request: catch up with other writers (fstat under the locks), then
         * answer from memory. hv_kvp_daemon rereads the whole file here. */
        t = now();
        for (ops = 0; now() - t < budget; ops++) {
                const char *k, *v;
                r = kvp_refresh(s, POOL);
                if (r >= 0)
                        r = kvp_enumerate(s, POOL, (size_t) ops % n, &k, &v);
                if (r < 0)
                        die("refresh+enumerate", r);
        }
        report(n, "refresh+ENUMERATE", ops, now() - t);
        return 0;
}
