/* kvp-harness: plays the kernel's side of /dev/vmbus/hv_kvp (spec/hyperv-ic.md §5) for
 * one peer — pvicd in relay mode or the real hv_kvp_daemon under hv-kvp-shim.so — so
 * both can be driven by identical host messages and their answers compared
 * (tests/interop/kvp-differential.sh), timed (bench/kvp-relay.sh) or killed
 * (tests/integration/kvp-kill9-pvicd.sh).
 *
 *   kvp-harness --socket PATH [--preload SO] [--prefill DIR:POOL:N]
 *               (--sequence [--ip-mac MAC]
 *               | --bench set|get|enumerate --pool P --records N [--seconds S]
 *                       [--min-ops N] [--max-ops M]
 *               | --kill9 N [--seconds S] [--kill-ms MIN:MAX] [--seed X] [--pool-file F])
 *               -- PEER ARGV...
 *
 * Binds a SEQPACKET socket at PATH, starts the peer (stdout sent to stderr; LD_PRELOAD
 * only in the peer's environment), accepts it, checks its registration, answers it
 * with version "3.1", then sends the requests and prints what the kernel would read
 * from each reply, one line per request. Stops the peer (SIGTERM) before exiting.
 * --prefill writes N zero-filled records "key%05u"/"value%05u..." into DIR/.kvp_pool_POOL
 * before the peer starts.
 *
 * --bench times one operation for S seconds (default 1) but at least N and at most M
 * operations (a peer that rewrites its file per SET manages a few dozen a second at
 * 10,000 records): SET rewrites existing keys, GET and ENUMERATE walk the records in
 * order. Prints "bench op=... ops=... seconds=... ops_per_sec=... us_per_op=...
 * peer_cpu_us_per_op=..." (the round trip, and the CPU time of the peer alone).
 *
 * --kill9 sends N host SETs to pool 0 (key "kill9-%05u", a value that encodes the
 * sequence number, see k9_value), spread over S seconds, and kills the peer with
 * SIGKILL every MIN..MAX ms (default 50:300): each kill lands at a random point of a
 * SET's round trip (0 to 1.25 times the last one's, after the request went out: before,
 * during or after the peer's write), one in five right after a restart instead (while
 * the peer loads its pools). The peer is started again after every kill, with --preload
 * on every other start only (kvp-slowwrite.so there pauses pool-file writes at page
 * boundaries, so that kills land inside writes too). Prints "A SEQ" when SET SEQ was
 * acknowledged with success (the kernel would tell the host so), "L SEQ" when the peer
 * died without answering, then "LA SEQ"/"LN SEQ" after a host GET found that SET
 * applied/not applied, and retries it; "F SEQ STATUS" for a failure status (retried
 * too). At the end it kills and restarts the peer once more and checks through host GET
 * and ENUMERATE that every SET is there with its value, exactly once, and prints a
 * "kill9 ..." summary; "seed X" first, for --seed. With --pool-file (the peer's
 * .kvp_pool_0), "T SIZE" after a kill that left a partial record at its end.
 * Exit status: 0, or 1 with a message on stderr. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvic/kvp_msg.h"
#include "pvic/macro.h"
#include "pvic/vmbus_ic.h"

#define IO_TIMEOUT_MS 10000

static int conn = -1;
static pid_t peer = -1;
static char **peer_argv;
static const char *preload;
static bool preload_odd_starts; /* --kill9: LD_PRELOAD every other start only */
static unsigned long n_starts;
static uint8_t msg[KVP_MSG_SIZE];

static void stop_peer(void) {
        if (peer <= 0)
                return;
        kill(peer, SIGTERM);
        for (int i = 0; i < 100; i++) {
                if (waitpid(peer, NULL, WNOHANG) == peer) {
                        peer = -1;
                        return;
                }
                usleep(20000);
        }
        kill(peer, SIGKILL);
        waitpid(peer, NULL, 0);
        peer = -1;
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "kvp-harness: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        stop_peer();
        exit(1);
}

static void wait_readable(int fd, const char *what) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, IO_TIMEOUT_MS);
        if (r < 0)
                die("poll: %s", strerror(errno));
        if (r == 0)
                die("timed out waiting for %s", what);
}

static void start_peer(void) {
        n_starts++;
        peer = fork();
        if (peer < 0)
                die("fork: %s", strerror(errno));
        if (peer == 0) {
                dup2(STDERR_FILENO, STDOUT_FILENO);
                if (preload && (!preload_odd_starts || n_starts % 2 == 1))
                        setenv("LD_PRELOAD", preload, 1);
                execvp(peer_argv[0], peer_argv);
                fprintf(stderr, "kvp-harness: exec %s: %s\n", peer_argv[0], strerror(errno));
                _exit(127);
        }
}

/* The kernel's side of a peer that went away (killed): the transaction in flight
 * fails and the next open starts over. */
static bool conn_lost(int e) {
        return e == ECONNRESET || e == EPIPE || e == ECONNREFUSED || e == ENOTCONN || e == 0;
}

/* Blocking I/O with SO_RCVTIMEO/SO_SNDTIMEO as the deadline: one syscall per message,
 * as little of the harness as possible in the measured round trip. 0, or -1 when the
 * peer is gone (EOF, reset, broken pipe). */
static int recv_msg_or_lost(const char *what) {
        ssize_t n = read(conn, msg, sizeof msg);
        if (n == 0 || (n < 0 && conn_lost(errno)))
                return -1;
        if (n < 0)
                die("read %s: %s", what, errno == EAGAIN ? "timed out" : strerror(errno));
        if (n != KVP_MSG_SIZE)
                die("%s: got %zd bytes, want %u", what, n, KVP_MSG_SIZE);
        return 0;
}

static int send_msg_or_lost(void) {
        ssize_t n = write(conn, msg, sizeof msg);
        if (n < 0 && conn_lost(errno))
                return -1;
        if (n != KVP_MSG_SIZE)
                die("write: %s", n < 0 ? (errno == EAGAIN ? "timed out" : strerror(errno)) : "short");
        return 0;
}

static void recv_msg(const char *what) {
        if (recv_msg_or_lost(what) < 0)
                die("%s: the peer closed the device", what);
}

static void send_msg(void) {
        if (send_msg_or_lost() < 0)
                die("write: the peer closed the device");
}

static uint32_t get32(const uint8_t *p) {
        return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What the host ends up with from a reply string field: the kernel reads it up to the
 * first NUL (strlen) and converts at most max_units UTF-16 units (§5.5: 254 for keys,
 * 1022 for values; 0 = no limit), so a longer answer and a pre-cut one look the same
 * to the host and must print the same. Printed escaped, one token. */
static void print_field_units(const char *name, const uint8_t *field, size_t size, size_t max_units) {
        size_t n = strnlen((const char *)field, size), units = 0;
        printf(" %s=", name);
        if (n == size)
                printf("<no NUL>");
        for (size_t i = 0; i < n; i++) {
                uint8_t c = field[i];
                if ((c & 0xc0) != 0x80) {
                        units += c >= 0xf0 ? 2 : 1; /* 4-byte sequences are surrogate pairs */
                        if (max_units && units > max_units)
                                break;
                }
                if (c == '\\')
                        fputs("\\\\", stdout);
                else if (c <= 0x20 || c == 0x7f)
                        printf("\\x%02x", c);
                else
                        putchar(c);
        }
}

static void print_field(const char *name, const uint8_t *field, size_t size) {
        print_field_units(name, field, size, 0);
}

static const char *op_name(enum host_kvp_op op) {
        static const char *const names[] = { "GET", "SET", "DELETE", "ENUMERATE", "GET_IP_INFO", "SET_IP_INFO" };
        return (unsigned)op < ELEMENTSOF(names) ? names[op] : "OP?";
}

/* One transaction; prints "OP pool=P <what was asked> status=0x... <what came back>". */
static void encode(const struct host_kvp_request *req) {
        int r = kvp_msg_encode_request(msg, req);
        if (r < 0)
                die("cannot encode request: %s", strerror(-r));
}

static void transact(const struct host_kvp_request *req, bool print) {
        encode(req);
        send_msg();
        recv_msg("reply");
        if (!print)
                return;
        uint32_t error = get32(msg + KVP_MSG_OFF_ERROR);
        printf("%s pool=%u", op_name(req->op), req->pool);
        switch (req->op) {
        case HOST_KVP_ENUMERATE:
                printf(" index=%u", req->index);
                break;
        case HOST_KVP_GET:
        case HOST_KVP_DELETE:
                print_field("key", (const uint8_t *)req->key, sizeof req->key);
                break;
        case HOST_KVP_SET:
                print_field("key", (const uint8_t *)req->key, sizeof req->key);
                printf(" value_len=%zu", strlen(req->value));
                break;
        default:
                print_field("adapter", (const uint8_t *)req->ip.adapter_id, sizeof req->ip.adapter_id);
                break;
        }
        printf(" status=0x%08x", error);
        /* The kernel looks at nothing else when error != 0 (§5.5). */
        if (error == 0) {
                switch (req->op) {
                case HOST_KVP_ENUMERATE:
                        print_field_units("key", msg + KVP_MSG_OFF_EN_KEY, 512, 254);
                        print_field_units("value", msg + KVP_MSG_OFF_EN_VALUE, 2048, 1022);
                        break;
                case HOST_KVP_GET:
                        print_field_units("value", msg + KVP_MSG_OFF_EN_VALUE, 2048, 1022);
                        break;
                case HOST_KVP_GET_IP_INFO:
                        printf(" family=%u dhcp=%u", msg[KVP_MSG_OFF_IP_FAMILY], msg[KVP_MSG_OFF_IP_DHCP]);
                        print_field("ip", msg + KVP_MSG_OFF_IP_ADDR, 2048);
                        print_field("subnet", msg + KVP_MSG_OFF_IP_SUBNET, 2048);
                        print_field("gateway", msg + KVP_MSG_OFF_IP_GATEWAY, 1024);
                        print_field("dns", msg + KVP_MSG_OFF_IP_DNS, 2048);
                        break;
                default:
                        break;
                }
        }
        putchar('\n');
        fflush(stdout);
}

static struct host_kvp_request *mkreq(enum host_kvp_op op, unsigned pool, const char *key, const char *value) {
        static struct host_kvp_request req;
        memset(&req, 0, sizeof req);
        req.op = op;
        req.pool = (uint8_t)pool;
        if (key)
                snprintf(req.key, sizeof req.key, "%s", key);
        if (value)
                snprintf(req.value, sizeof req.value, "%s", value);
        return &req;
}

static void enumerate(unsigned pool, uint32_t index, bool print) {
        struct host_kvp_request *req = mkreq(HOST_KVP_ENUMERATE, pool, NULL, NULL);
        req->index = index;
        transact(req, print);
}

static void enumerate_all(unsigned pool, unsigned max) {
        for (unsigned i = 0; i < max; i++) {
                enumerate(pool, i, true);
                if (get32(msg) != 0)
                        break;
        }
}

static const char *ip_mac; /* --ip-mac: a NIC that exists, for GET_IP_INFO */

static void run_sequence(void) {
        char big[1501];
        memset(big, 'b', sizeof big - 1);
        big[sizeof big - 1] = 0;

        /* The intrinsic pool as the host walks it: until the first non-zero status. */
        enumerate_all(2, 16);
        transact(mkreq(HOST_KVP_GET, 2, "OSName", NULL), true);
        transact(mkreq(HOST_KVP_SET, 2, "OSName", "host-written"), true);
        enumerate(2, 5, true);

        const unsigned pools[] = { 0, 1, 3 };
        for (unsigned p = 0; p < ELEMENTSOF(pools); p++) {
                unsigned pool = pools[p];
                enumerate(pool, 0, true);
                transact(mkreq(HOST_KVP_SET, pool, "k1", "v1"), true);
                transact(mkreq(HOST_KVP_SET, pool, "k2", "v2"), true);
                transact(mkreq(HOST_KVP_SET, pool, "k3", "v3"), true);
                transact(mkreq(HOST_KVP_SET, pool, "k1", "v1-modified"), true);
                transact(mkreq(HOST_KVP_SET, pool, "k2", ""), true);
                transact(mkreq(HOST_KVP_GET, pool, "k1", NULL), true);
                transact(mkreq(HOST_KVP_GET, pool, "absent", NULL), true);
                enumerate_all(pool, 16);
                transact(mkreq(HOST_KVP_DELETE, pool, "k1", NULL), true);
                transact(mkreq(HOST_KVP_DELETE, pool, "k1", NULL), true);
                transact(mkreq(HOST_KVP_DELETE, pool, "absent", NULL), true);
                enumerate_all(pool, 16);
                transact(mkreq(HOST_KVP_SET, pool, "Schlüssel-ключ-鍵", "Wert €uro ✓"), true);
                /* Pool 1 is guest -> host: a value the host cannot read back whole is
                 * a separate case at the end (docs/kvp-differential.md). */
                if (pool != 1)
                        transact(mkreq(HOST_KVP_SET, pool, "big", big), true);
                enumerate_all(pool, 16);
        }

        struct host_kvp_request *req = mkreq(HOST_KVP_GET_IP_INFO, 1, NULL, NULL);
        snprintf(req->ip.adapter_id, sizeof req->ip.adapter_id, "00:15:5D:FE:DC:BA");
        transact(req, true);
        req = mkreq(HOST_KVP_SET_IP_INFO, 1, NULL, NULL);
        snprintf(req->ip.adapter_id, sizeof req->ip.adapter_id, "{f8615163-0000-0000-0000-000000000000}");
        req->ip.addr_family = HOST_KVP_ADDR_IPV4;
        snprintf(req->ip.ip_addr, sizeof req->ip.ip_addr, "192.0.2.10");
        snprintf(req->ip.sub_net, sizeof req->ip.sub_net, "255.255.255.0");
        transact(req, true);

        transact(mkreq(HOST_KVP_SET, 1, "big", big), true);

        if (ip_mac) {
                req = mkreq(HOST_KVP_GET_IP_INFO, 1, NULL, NULL);
                snprintf(req->ip.adapter_id, sizeof req->ip.adapter_id, "%s", ip_mac);
                transact(req, true);
        }
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum bench_op { BENCH_SET, BENCH_GET, BENCH_ENUMERATE };

/* A GET or ENUMERATE request for record idx, made by patching the one for record 0:
 * the keys all have the same length, so only the key bytes or the index differ. Saves
 * the harness two large memsets per round trip, which would otherwise count against
 * both peers alike and hide part of the difference between them. */
static void bench_patch(uint8_t *req, enum bench_op op, unsigned idx) {
        char key[16];
        if (op == BENCH_ENUMERATE) {
                uint32_t v = idx;
                for (int i = 0; i < 4; i++)
                        req[KVP_MSG_OFF_EN_INDEX + i] = (uint8_t)(v >> (8 * i));
                return;
        }
        snprintf(key, sizeof key, "key%05u", idx);
        memcpy(req + KVP_MSG_OFF_GS_KEY, key, strlen(key));
}

static void bench_request(uint8_t *out, enum bench_op op, unsigned pool, unsigned idx) {
        char key[16];
        snprintf(key, sizeof key, "key%05u", idx);
        struct host_kvp_request *req = op == BENCH_GET ? mkreq(HOST_KVP_GET, pool, key, NULL)
                                                       : mkreq(HOST_KVP_ENUMERATE, pool, NULL, NULL);
        req->index = idx;
        int r = kvp_msg_encode_request(out, req);
        if (r < 0)
                die("cannot encode request: %s", strerror(-r));
}

/* CPU time the peer used so far (all its threads, user and kernel), from the
 * scheduler's own accounting: what one request costs the peer itself, apart from the
 * round trip through the harness. -1 if /proc does not say. */
static double peer_cpu_s(void) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", (int)peer);
        DIR *d = opendir(path);
        if (!d)
                return -1;
        unsigned long long total = 0;
        bool any = false;
        struct dirent *de;
        while ((de = readdir(d))) {
                char stat[384];
                unsigned long long ns;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(stat, sizeof stat, "%s/%s/schedstat", path, de->d_name);
                FILE *f = fopen(stat, "re");
                if (f && fscanf(f, "%llu", &ns) == 1) {
                        total += ns;
                        any = true;
                }
                if (f)
                        fclose(f);
        }
        closedir(d);
        return any ? (double)total / 1e9 : -1;
}

static void run_bench(enum bench_op op, unsigned pool, unsigned records, double seconds,
                      unsigned long min_ops, unsigned long max_ops) {
        static const char *const names[] = { "set", "get", "enumerate" };
        static uint8_t tmpl[KVP_MSG_SIZE], check[KVP_MSG_SIZE];
        char key[32], value[64];
        unsigned long ops = 0;
        unsigned n = records ? records : 1;
        /* Warm-up: the last record must be visible before the clock starts. */
        enumerate(pool, n - 1, false);
        if (records && get32(msg) != 0)
                die("record %u not visible to the peer", records - 1);
        if (op != BENCH_SET) {
                bench_request(tmpl, op, pool, 0);
                bench_patch(tmpl, op, n - 1);
                bench_request(check, op, pool, n - 1);
                if (memcmp(tmpl, check, KVP_MSG_SIZE) != 0)
                        die("a patched request differs from an encoded one");
        }
        double cpu0 = peer_cpu_s(), start = now_s(), elapsed;
        do {
                unsigned idx = (unsigned)(ops % n);
                if (op == BENCH_SET) {
                        snprintf(key, sizeof key, "key%05u", idx);
                        snprintf(value, sizeof value, "value%05u-%lu", idx, ops);
                        transact(mkreq(HOST_KVP_SET, pool, key, value), false);
                } else {
                        bench_patch(tmpl, op, idx);
                        if (write(conn, tmpl, KVP_MSG_SIZE) != KVP_MSG_SIZE)
                                die("write: %s", strerror(errno));
                        recv_msg("reply");
                }
                if (get32(msg) != 0)
                        die("%s %u failed: 0x%08x", names[op], idx, get32(msg));
                ops++;
                /* The clock is read from the vDSO: cheap next to a round trip, and a
                 * slow peer stops right after the window instead of a batch later. */
                elapsed = now_s() - start;
        } while ((elapsed < seconds || ops < min_ops) && (max_ops == 0 || ops < max_ops));
        double cpu1 = peer_cpu_s();
        printf("bench op=%s records=%u ops=%lu seconds=%.3f ops_per_sec=%.0f us_per_op=%.2f", names[op], records,
               ops, elapsed, (double)ops / elapsed, elapsed * 1e6 / (double)ops);
        if (cpu0 >= 0 && cpu1 >= cpu0)
                printf(" peer_cpu_us_per_op=%.2f", (cpu1 - cpu0) * 1e6 / (double)ops);
        putchar('\n');
}

/* --kill9 */

#define K9_VALUE_MAX 1024u

static uint64_t rng;

static uint32_t rnd(uint32_t below) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return below ? (uint32_t)((rng >> 11) % below) : 0;
}

static void k9_key(char *key, size_t size, unsigned seq) {
        snprintf(key, size, "kill9-%05u", seq);
}

/* "value-SEQ-" and 0..672 copies of one letter, both from SEQ: records of many sizes,
 * and any mix-up of two SETs shows. tests/integration/kvp-kill9-pvicd.sh computes the
 * same in its own parser. */
static void k9_value(char *value, size_t size, unsigned seq) {
        int n = snprintf(value, size, "value-%05u-", seq);
        size_t fill = (size_t)(seq % 97u) * 7u;
        if (n < 0 || (size_t)n + fill >= size)
                die("k9_value: buffer too small");
        memset(value + n, 'a' + (int)(seq % 26u), fill);
        value[(size_t)n + fill] = 0;
}

/* A reply field (GET and ENUMERATE values sit at the same offset) equals want. */
static bool field_is(const uint8_t *field, size_t size, const char *want) {
        size_t n = strlen(want);
        return n < size && memcmp(field, want, n + 1) == 0;
}

struct k9 {
        int lfd;
        const char *file; /* the pool file, to see what a kill left behind */
        bool kill_sent;
        unsigned long kills, kills_in_set, kills_at_start, restarts, torn;
        unsigned long lost, lost_applied, lost_absent, refused;
};

static void k9_kill(struct k9 *k) {
        if (kill(peer, SIGKILL) < 0)
                die("kill: %s", strerror(errno));
        k->kill_sent = true;
        k->kills++;
}

/* Reaps a peer we killed; any other end is a failure of the peer. */
static void k9_reap(struct k9 *k) {
        int st;
        if (!k->kill_sent) {
                /* The device closed without a kill: the peer gave up or crashed. */
                if (waitpid(peer, &st, WNOHANG) == peer) {
                        peer = -1;
                        die("the peer exited on its own (wait status 0x%x)", st);
                }
                die("the peer closed the device without being killed");
        }
        if (waitpid(peer, &st, 0) != peer)
                die("waitpid: %s", strerror(errno));
        peer = -1;
        k->kill_sent = false;
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
                die("the peer ended with wait status 0x%x before our SIGKILL", st);
        /* A partial record at the end: the kill cut an append short. The peer must
         * ignore it and drop it before its next append. */
        struct stat fst;
        if (k->file && stat(k->file, &fst) == 0 && fst.st_size % 2560 != 0) {
                printf("T %lld\n", (long long)fst.st_size);
                k->torn++;
        }
}

/* Accepts the peer's device open and answers its registration. -1 when that
 * connection died (a peer killed while starting may have left one in the backlog). */
static int k9_accept(const struct k9 *k) {
        struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
        wait_readable(k->lfd, "the peer to open the device");
        conn = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
                die("accept: %s", strerror(errno));
        if (setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
            setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
                die("setsockopt: %s", strerror(errno));
        if (recv_msg_or_lost("registration") < 0)
                goto lost;
        if (kvp_msg_decode_register(msg, sizeof msg) < 0)
                die("first message is not a registration (op %u)", msg[0]);
        kvp_msg_encode_registered(msg, "3.1");
        if (send_msg_or_lost() < 0)
                goto lost;
        return 0;
lost:
        close(conn);
        conn = -1;
        return -1;
}

/* After a kill: a new peer, registered. One restart in five is killed again 0-30 ms
 * in, while it opens and loads its pools. */
static void k9_restart(struct k9 *k, bool may_kill_early) {
        if (conn >= 0)
                close(conn);
        conn = -1;
        k9_reap(k);
        for (;;) {
                start_peer();
                k->restarts++;
                if (may_kill_early && rnd(5) == 0) {
                        usleep(rnd(30000));
                        k9_kill(k);
                        k->kills_at_start++;
                        k9_reap(k);
                        continue;
                }
                while (k9_accept(k) < 0)
                        if (waitpid(peer, NULL, WNOHANG) == peer) {
                                peer = -1;
                                die("the peer exited while registering");
                        }
                return;
        }
}

/* Sleeps rather than spins: on a busy machine the peer may need this CPU to get on
 * with the request at all. */
static void k9_delay_us(uint32_t us) {
        struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* After a SET went unanswered: did the peer apply it before it died? Either answer is
 * allowed; counting both shows the kills land on both sides of the write. */
static void k9_probe_lost(struct k9 *k, unsigned seq) {
        char key[32], want[K9_VALUE_MAX];
        k9_key(key, sizeof key, seq);
        k9_value(want, sizeof want, seq);
        transact(mkreq(HOST_KVP_GET, 0, key, NULL), false);
        if (get32(msg) != 0) {
                printf("LN %u\n", seq);
                k->lost_absent++;
                return;
        }
        if (!field_is(msg + KVP_MSG_OFF_EN_VALUE, 2048, want))
                die("lost SET %u: GET answers another value", seq);
        printf("LA %u\n", seq);
        k->lost_applied++;
}

static void k9_verify(unsigned n) {
        char key[32], want[K9_VALUE_MAX];
        uint8_t *seen = calloc(n ? n : 1, 1);
        unsigned count = 0;
        if (!seen)
                die("out of memory");
        for (unsigned seq = 0; seq < n; seq++) {
                k9_key(key, sizeof key, seq);
                k9_value(want, sizeof want, seq);
                transact(mkreq(HOST_KVP_GET, 0, key, NULL), false);
                if (get32(msg) != 0)
                        die("verify: GET %s: status 0x%08x after the last restart", key, get32(msg));
                if (!field_is(msg + KVP_MSG_OFF_EN_VALUE, 2048, want))
                        die("verify: GET %s: wrong value", key);
        }
        for (uint32_t i = 0;; i++) {
                unsigned seq;
                char tail;
                enumerate(0, i, false);
                if (get32(msg) != 0)
                        break;
                char k[64];
                snprintf(k, sizeof k, "%.*s", 63, (const char *)msg + KVP_MSG_OFF_EN_KEY);
                if (sscanf(k, "kill9-%5u%c", &seq, &tail) != 1 || seq >= n)
                        die("verify: ENUMERATE %u: unexpected key '%.40s'", i, k);
                if (seen[seq]++)
                        die("verify: ENUMERATE %u: %s listed twice", i, k);
                k9_value(want, sizeof want, seq);
                if (!field_is(msg + KVP_MSG_OFF_EN_VALUE, 2048, want))
                        die("verify: ENUMERATE %u: %s has a wrong value", i, k);
                count++;
        }
        if (count != n)
                die("verify: ENUMERATE lists %u records, want %u", count, n);
        free(seen);
        printf("verify gets=%u enumerated=%u\n", n, count);
}

static void run_kill9(int lfd, const char *file, unsigned n, double seconds, unsigned kill_min_ms,
                      unsigned kill_max_ms) {
        struct k9 k = { .lfd = lfd, .file = file };
        char key[32], value[K9_VALUE_MAX];
        unsigned refused_in_row = 0;
        uint32_t rtt_us = 100;
        /* Microsecond sleeps must not round up to the default 50 us timer slack. */
        (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        double start = now_s();
        double next_kill = start + (kill_min_ms + rnd(kill_max_ms - kill_min_ms + 1)) / 1e3;

        for (unsigned seq = 0; seq < n;) {
                /* Spread the SETs over the run, so that the kills spread over them. */
                double due = start + seconds * seq / n, now = now_s();
                if (now < due)
                        usleep((useconds_t)((due - now) * 1e6));

                k9_key(key, sizeof key, seq);
                k9_value(value, sizeof value, seq);
                encode(mkreq(HOST_KVP_SET, 0, key, value));
                double sent = now_s();
                int r = send_msg_or_lost();
                if (sent >= next_kill) {
                        /* Anywhere in the last answered SET's round trip and a bit
                         * beyond: the peer is waking, writing, answering or done. */
                        k9_delay_us(rnd(rtt_us + rtt_us / 4 + 1));
                        k9_kill(&k);
                        k.kills_in_set++;
                }
                if (r == 0)
                        r = recv_msg_or_lost("reply");
                if (r == 0 && !k.kill_sent)
                        rtt_us = (uint32_t)((now_s() - sent) * 1e6);
                if (r < 0) {
                        printf("L %u\n", seq);
                        k.lost++;
                } else if (get32(msg) == 0) {
                        printf("A %u\n", seq);
                        seq++;
                        refused_in_row = 0;
                } else {
                        printf("F %u 0x%08x\n", seq, get32(msg));
                        k.refused++;
                        if (++refused_in_row > 100)
                                die("SET %u refused 100 times in a row", seq);
                }
                if (r < 0 || k.kill_sent) {
                        k9_restart(&k, true);
                        next_kill = now_s() + (kill_min_ms + rnd(kill_max_ms - kill_min_ms + 1)) / 1e3;
                        if (r < 0)
                                k9_probe_lost(&k, seq);
                }
        }
        /* The last restart: everything acknowledged must come back from the file. */
        k9_kill(&k);
        k9_restart(&k, false);
        k9_verify(n);
        printf("kill9 sets=%u kills=%lu in_set=%lu at_start=%lu restarts=%lu lost=%lu lost_applied=%lu "
               "lost_absent=%lu torn=%lu refused=%lu last_rtt_us=%u seconds=%.1f\n",
               n, k.kills, k.kills_in_set, k.kills_at_start, k.restarts, k.lost, k.lost_applied, k.lost_absent,
               k.torn, k.refused, rtt_us, now_s() - start);
}

static void prefill(const char *spec) {
        char dir[4096];
        unsigned pool, n;
        const char *c1 = strchr(spec, ':');
        if (!c1 || sscanf(c1 + 1, "%u:%u", &pool, &n) != 2 || pool > 4 || (size_t)(c1 - spec) >= sizeof dir)
                die("bad --prefill '%s' (DIR:POOL:N)", spec);
        memcpy(dir, spec, (size_t)(c1 - spec));
        dir[c1 - spec] = 0;
        char path[4200];
        snprintf(path, sizeof path, "%s/.kvp_pool_%u", dir, pool);
        FILE *f = fopen(path, "we");
        if (!f)
                die("%s: %s", path, strerror(errno));
        static char rec[2560];
        for (unsigned i = 0; i < n; i++) {
                memset(rec, 0, sizeof rec);
                snprintf(rec, 512, "key%05u", i);
                snprintf(rec + 512, 2048, "value%05u-initial", i);
                if (fwrite(rec, sizeof rec, 1, f) != 1)
                        die("%s: write failed", path);
        }
        if (fclose(f) != 0)
                die("%s: %s", path, strerror(errno));
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "preload", required_argument, NULL, 'p' },
                { "prefill", required_argument, NULL, 'f' },
                { "sequence", no_argument, NULL, 'q' },
                { "bench", required_argument, NULL, 'b' },
                { "pool", required_argument, NULL, 'P' },
                { "records", required_argument, NULL, 'n' },
                { "seconds", required_argument, NULL, 't' },
                { "min-ops", required_argument, NULL, 'N' },
                { "max-ops", required_argument, NULL, 'M' },
                { "ip-mac", required_argument, NULL, 'm' },
                { "kill9", required_argument, NULL, 'k' },
                { "kill-ms", required_argument, NULL, 'K' },
                { "pool-file", required_argument, NULL, 'F' },
                { "seed", required_argument, NULL, 'S' },
                {}
        };
        const char *sock = NULL, *bench = NULL, *kill9_file = NULL;
        bool sequence = false;
        unsigned pool = 1, records = 0, kill9 = 0, kill_min = 50, kill_max = 300;
        unsigned long min_ops = 0, max_ops = 0;
        unsigned long long seed = 0;
        enum bench_op op = BENCH_SET;
        double seconds = -1;
        int c;

        while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
                switch (c) {
                case 's': sock = optarg; break;
                case 'p': preload = optarg; break;
                case 'f': prefill(optarg); break;
                case 'q': sequence = true; break;
                case 'b': bench = optarg; break;
                case 'P': pool = (unsigned)atoi(optarg); break;
                case 'n': records = (unsigned)atoi(optarg); break;
                case 't': seconds = atof(optarg); break;
                case 'N': min_ops = strtoul(optarg, NULL, 10); break;
                case 'M': max_ops = strtoul(optarg, NULL, 10); break;
                case 'm': ip_mac = optarg; break;
                case 'k': kill9 = (unsigned)atoi(optarg); break;
                case 'K':
                        if (sscanf(optarg, "%u:%u", &kill_min, &kill_max) != 2 || kill_min > kill_max)
                                return 2;
                        break;
                case 'S': seed = strtoull(optarg, NULL, 0); break;
                case 'F': kill9_file = optarg; break;
                default: return 2;
                }
        }
        if (bench && strcmp(bench, "set") == 0)
                op = BENCH_SET;
        else if (bench && strcmp(bench, "get") == 0)
                op = BENCH_GET;
        else if (bench && strcmp(bench, "enumerate") == 0)
                op = BENCH_ENUMERATE;
        else if (bench)
                bench = "?";
        if (!sock || optind >= argc || (!sequence && !bench && !kill9) || (bench && bench[0] == '?')) {
                fprintf(stderr, "usage: kvp-harness --socket PATH [--preload SO] [--prefill DIR:POOL:N] "
                                "(--sequence [--ip-mac MAC] | --bench set|get|enumerate --pool P --records N "
                                "[--seconds S] [--min-ops N] [--max-ops M] | --kill9 N [--seconds S] [--kill-ms MIN:MAX] "
                                "[--seed X] [--pool-file F]) -- PEER...\n");
                return 2;
        }
        peer_argv = argv + optind;
        /* Printed, so that a failing --kill9 run can be repeated with --seed. */
        rng = seed ? seed : ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid()) | 1;
        if (kill9)
                printf("seed 0x%llx\n", (unsigned long long)rng);

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(sock) >= sizeof sa.sun_path)
                die("socket path too long");
        strcpy(sa.sun_path, sock);
        unlink(sock);
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4) < 0)
                die("listen on %s: %s", sock, strerror(errno));
        signal(SIGPIPE, SIG_IGN);

        preload_odd_starts = kill9 > 0;
        start_peer();
        if (kill9) {
                struct k9 k = { .lfd = lfd };
                if (k9_accept(&k) < 0)
                        die("the peer closed the device while registering");
                run_kill9(lfd, kill9_file, kill9, seconds >= 0 ? seconds : 20.0, kill_min, kill_max);
        } else {
                struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
                wait_readable(lfd, "the peer to open the device");
                conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (conn < 0)
                        die("accept: %s", strerror(errno));
                if (setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
                    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
                        die("setsockopt: %s", strerror(errno));
                recv_msg("registration");
                int reg = kvp_msg_decode_register(msg, sizeof msg);
                if (reg < 0)
                        die("first message is not a registration (op %u)", msg[0]);
                printf("REGISTER op=%d\n", reg);
                kvp_msg_encode_registered(msg, "3.1");
                send_msg();
                if (sequence)
                        run_sequence();
                else
                        run_bench(op, pool, records, seconds >= 0 ? seconds : 1.0, min_ops, max_ops);
        }

        /* The peer must still be alive: a crash mid-run would otherwise look like a pass. */
        if (waitpid(peer, NULL, WNOHANG) == peer) {
                peer = -1;
                die("the peer exited during the run");
        }
        stop_peer();
        close(conn);
        close(lfd);
        unlink(sock);
        return 0;
}
