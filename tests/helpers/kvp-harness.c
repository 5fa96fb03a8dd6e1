/* kvp-harness: plays the kernel's side of /dev/vmbus/hv_kvp (spec/hyperv-ic.md §5) for
 * one peer — pvicd in relay mode or the real hv_kvp_daemon under hv-kvp-shim.so — so
 * both can be driven by identical host messages and their answers compared
 * (tests/interop/kvp-differential.sh) or timed (bench/kvp-relay.sh).
 *
 *   kvp-harness --socket PATH [--preload SO] [--prefill DIR:POOL:N]
 *               (--sequence [--ip-mac MAC] | --bench set|enumerate --pool P --records N [--seconds S])
 *               -- PEER ARGV...
 *
 * Binds a SEQPACKET socket at PATH, starts the peer (stdout sent to stderr; LD_PRELOAD
 * only in the peer's environment), accepts it, checks its registration, answers it
 * with version "3.1", then sends the requests and prints what the kernel would read
 * from each reply, one line per request. Stops the peer (SIGTERM) before exiting.
 * --prefill writes N zero-filled records "key%05u"/"value%05u..." into DIR/.kvp_pool_POOL
 * before the peer starts. Exit status: 0, or 1 with a message on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static void recv_msg(const char *what) {
        wait_readable(conn, what);
        ssize_t n = read(conn, msg, sizeof msg);
        if (n < 0)
                die("read %s: %s", what, strerror(errno));
        if (n != KVP_MSG_SIZE)
                die("%s: got %zd bytes, want %u", what, n, KVP_MSG_SIZE);
}

static void send_msg(void) {
        ssize_t n = write(conn, msg, sizeof msg);
        if (n != KVP_MSG_SIZE)
                die("write: %s", n < 0 ? strerror(errno) : "short");
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
static void transact(const struct host_kvp_request *req, bool print) {
        int r = kvp_msg_encode_request(msg, req);
        if (r < 0)
                die("cannot encode request: %s", strerror(-r));
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

static void run_bench(const char *what, unsigned pool, unsigned records, double seconds) {
        bool set = strcmp(what, "set") == 0;
        char key[32], value[64];
        unsigned long ops = 0;
        /* Warm-up: one full pass of the host's enumeration proves the records are there. */
        enumerate(pool, records ? records - 1 : 0, false);
        if (records && get32(msg) != 0)
                die("record %u not visible to the peer", records - 1);
        double start = now_s(), elapsed;
        do {
                for (unsigned i = 0; i < 16; i++, ops++) {
                        unsigned idx = (unsigned)(ops % (records ? records : 1));
                        if (set) {
                                snprintf(key, sizeof key, "key%05u", idx);
                                snprintf(value, sizeof value, "value%05u-%lu", idx, ops);
                                transact(mkreq(HOST_KVP_SET, pool, key, value), false);
                        } else
                                enumerate(pool, idx, false);
                        if (get32(msg) != 0)
                                die("%s %u failed: 0x%08x", what, idx, get32(msg));
                }
                elapsed = now_s() - start;
        } while (elapsed < seconds);
        printf("bench op=%s records=%u ops=%lu seconds=%.3f ops_per_sec=%.0f\n", what, records, ops, elapsed,
               (double)ops / elapsed);
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
                { "ip-mac", required_argument, NULL, 'm' },
                {}
        };
        const char *sock = NULL, *preload = NULL, *bench = NULL;
        bool sequence = false;
        unsigned pool = 1, records = 0;
        double seconds = 1.0;
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
                case 'm': ip_mac = optarg; break;
                default: return 2;
                }
        }
        if (!sock || optind >= argc || (!sequence && !bench) ||
            (bench && strcmp(bench, "set") != 0 && strcmp(bench, "enumerate") != 0)) {
                fprintf(stderr, "usage: kvp-harness --socket PATH [--preload SO] [--prefill DIR:POOL:N] "
                                "(--sequence | --bench set|enumerate --pool P --records N [--seconds S]) -- PEER...\n");
                return 2;
        }

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(sock) >= sizeof sa.sun_path)
                die("socket path too long");
        strcpy(sa.sun_path, sock);
        unlink(sock);
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4) < 0)
                die("listen on %s: %s", sock, strerror(errno));
        signal(SIGPIPE, SIG_IGN);

        peer = fork();
        if (peer < 0)
                die("fork: %s", strerror(errno));
        if (peer == 0) {
                dup2(STDERR_FILENO, STDOUT_FILENO);
                if (preload)
                        setenv("LD_PRELOAD", preload, 1);
                execvp(argv[optind], argv + optind);
                fprintf(stderr, "kvp-harness: exec %s: %s\n", argv[optind], strerror(errno));
                _exit(127);
        }

        wait_readable(lfd, "the peer to open the device");
        conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0)
                die("accept: %s", strerror(errno));
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
                run_bench(bench, pool, records, seconds);

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
