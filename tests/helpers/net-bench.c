/* Benchmark helper for bench/facts-snapshot.sh, run inside the benchmark's netns, once
 * per sample (the script takes medians over fresh processes, so every figure is a
 * first: cold heap, cold caches, as at daemon start).
 *
 *   net-bench [--root DIR] [--classify sysfs|names] [--rounds N]
 *
 * Prints one line: "nics=N addrs=N cold_ms=X facts_ms=X facts_bytes=N change_ms=X
 * rss_kb=N hwm_kb=N dump_ms=X".
 *   cold_ms    net_collector_new to the first snapshot: netlink dumps, parsing, link
 *              classification, topology, slots. Timed in-process: excludes exec,
 *              dynamic loading and the netns entry.
 *   facts_ms   that snapshot rendered as the whole facts document and serialized, as
 *              for a D-Bus Facts call (OS and memory facts are collected beforehand:
 *              the daemon has them at start).
 *   change_ms  median of N, adding or removing an address on the first NIC (over
 *              rtnetlink, from here) to the new snapshot; includes the 1 ms debounce
 *              set here.
 *   rss_kb     VmRSS after the first snapshot; hwm_kb: VmHWM after the render, the peak
 *              of start-up plus one facts query.
 *   dump_ms    the kernel's part of cold_ms: the same two dumps (links without
 *              statistics, then all addresses) on a fresh socket into a buffer of the
 *              collector's size, each message thrown away unread. No daemon can do a
 *              first snapshot in less, so the figure beside cold_ms says what is pvic's.
 * --classify sysfs (default) reads ROOT's sysfs as the daemon does under a test root.
 * --classify names answers "nic<N>" as Xen vif N without a file read: what the collector
 * gets from rtnetlink on Linux 5.14+ for real vifs (the benchmark's ifb links have no
 * bus device for the kernel to name), through the same net_class_from_parent. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "pvic/facts_json.h"
#include "pvic/log.h"
#include "pvic/netinfo.h"

#define ROUNDS_MAX 64

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static long status_kb(const char *field) {
        char line[256];
        long v = -1;
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, field, strlen(field)) == 0)
                        v = strtol(line + strlen(field) + 1, NULL, 10);
        fclose(f);
        return v;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
        qsort(v, (size_t) n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int names_classify(const char *name, struct net_class *ret, void *userdata) {
        struct net_link_info l = { .parent = true, .parent_vif = -1 };
        int devid;

        if (strncmp(name, "nic", 3) == 0 && net_parse_devid(name + 3, &devid) == 0)
                l.parent_vif = devid;
        if (!net_class_from_parent(&l, true, ret))
                *ret = (struct net_class) { .nic = true, .kind = NET_NIC_OTHER, .devid = -1 };
        return 0;
}

static bool got;

static void on_change(struct net_collector *c, const struct net_snapshot *s, void *userdata) {
        got = true;
}

static void run_until_snapshot(sd_event *e) {
        got = false;
        while (!got)
                if (sd_event_run(e, UINT64_MAX) < 0) {
                        fprintf(stderr, "net-bench: event loop failed\n");
                        exit(1);
                }
}

/* Adds or removes 192.0.2.<n>/32 on ifindex and waits for the kernel's ack. */
static void change_addr(int fd, uint16_t type, int ifindex, uint8_t n) {
        struct {
                struct nlmsghdr h;
                struct ifaddrmsg ifa;
                struct rtattr rta;
                uint8_t addr[4];
        } req = {
                .h.nlmsg_len = sizeof req,
                .h.nlmsg_type = type,
                .h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0),
                .ifa = { .ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = (unsigned) ifindex },
                .rta = { .rta_len = RTA_LENGTH(4), .rta_type = IFA_LOCAL },
                .addr = { 192, 0, 2, n },
        };
        char ack[512];
        struct nlmsgerr err;
        if (send(fd, &req, sizeof req, 0) < 0 || recv(fd, ack, sizeof ack, 0) < (ssize_t) (NLMSG_HDRLEN + sizeof err)) {
                fprintf(stderr, "net-bench: cannot change an address: %m\n");
                exit(1);
        }
        memcpy(&err, ack + NLMSG_HDRLEN, sizeof err);
        if (err.error != 0) {
                fprintf(stderr, "net-bench: address change refused: %s\n", strerror(-err.error));
                exit(1);
        }
}

/* Sends the collector's dump request and reads the answer to its NLMSG_DONE, parsing
 * nothing. */
static void dump_discard(int fd, uint16_t type, char *buf, size_t size) {
        uint8_t req[NET_DUMP_REQUEST_MAX];
        size_t len = net_dump_request(type, type, req, sizeof req);

        if (send(fd, req, len, 0) < 0) {
                fprintf(stderr, "net-bench: cannot request a dump: %m\n");
                exit(1);
        }
        for (;;) {
                ssize_t n = recv(fd, buf, size, 0);
                if (n < 0) {
                        fprintf(stderr, "net-bench: dump read failed: %m\n");
                        exit(1);
                }
                /* The kernel ends a dump with NLMSG_DONE alone or last in a datagram. */
                for (size_t off = 0; off + NLMSG_HDRLEN <= (size_t) n;) {
                        struct nlmsghdr h;
                        memcpy(&h, buf + off, sizeof h);
                        if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR)
                                return;
                        if (h.nlmsg_len < NLMSG_HDRLEN)
                                break;
                        off += NLMSG_ALIGN(h.nlmsg_len);
                }
        }
}

int main(int argc, char **argv) {
        struct net_collector_options o = NET_COLLECTOR_OPTIONS_DEFAULT;
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "classify", required_argument, NULL, 'c' },
                { "rounds", required_argument, NULL, 'n' },
                {}
        };
        int rounds = 5, opt;
        o.debounce_usec = 1000;
        sd_event *e = NULL;
        struct net_collector *c = NULL;

        log_set_target_journal(0);
        log_set_max_level(LOG_WARNING);
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (opt) {
                case 'r':
                        o.root = optarg;
                        break;
                case 'c':
                        if (strcmp(optarg, "names") == 0) {
                                o.classify = names_classify;
                                o.table.parents_from_netlink = true;
                        } else if (strcmp(optarg, "sysfs") != 0) {
                                fprintf(stderr, "net-bench: --classify sysfs|names\n");
                                return 1;
                        }
                        break;
                case 'n':
                        rounds = MIN(MAX(1, atoi(optarg)), ROUNDS_MAX);
                        break;
                default:
                        return 1;
                }

        struct pvic_os_facts os = {};
        struct pvic_mem_facts mem = {};
        (void) facts_os_collect(&os, "");
        (void) facts_mem_collect(&mem, "");
        if (sd_event_new(&e) < 0)
                return 1;

        double t = now_ms();
        if (net_collector_new(&c, e, &o, on_change, NULL) < 0) {
                fprintf(stderr, "net-bench: collector failed\n");
                return 1;
        }
        run_until_snapshot(e);
        double cold = now_ms() - t;
        long rss = status_kb("VmRSS:");

        const struct net_snapshot *s = net_collector_snapshot(c);
        t = now_ms();
        json_object *j = facts_to_json(&os, &mem, s);
        const char *text = j ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : NULL;
        if (!text || !text[0])
                return 1;
        size_t facts_bytes = strlen(text);
        json_object_put(j);
        double facts = now_ms() - t;
        long hwm = status_kb("VmHWM:");

        size_t addrs = 0;
        for (size_t i = 0; i < s->n_nics; i++)
                addrs += s->nics[i].n_ipv4 + s->nics[i].n_ipv6;
        size_t nics = s->n_nics;

        double change[2 * ROUNDS_MAX];
        int n_change = 0;
        if (nics > 0) {
                int ifindex = s->nics[0].ifindex;
                _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
                if (fd < 0)
                        return 1;
                for (int i = 0; i < rounds; i++)
                        for (int del = 0; del < 2; del++) {
                                t = now_ms();
                                change_addr(fd, del ? RTM_DELADDR : RTM_NEWADDR, ifindex, (uint8_t) (i + 1));
                                run_until_snapshot(e);
                                change[n_change++] = now_ms() - t;
                        }
        }
        double dump;
        {
                _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
                _cleanup_free_ char *buf = malloc(NET_COLLECTOR_RECV_BUF_SIZE);
                if (fd < 0 || !buf)
                        return 1;
                t = now_ms();
                dump_discard(fd, RTM_GETLINK, buf, NET_COLLECTOR_RECV_BUF_SIZE);
                dump_discard(fd, RTM_GETADDR, buf, NET_COLLECTOR_RECV_BUF_SIZE);
                dump = now_ms() - t;
        }
        printf("nics=%zu addrs=%zu cold_ms=%.2f facts_ms=%.2f facts_bytes=%zu change_ms=%.2f rss_kb=%ld "
               "hwm_kb=%ld dump_ms=%.2f\n", nics, addrs, cold, facts, facts_bytes,
               n_change ? median(change, n_change) : -1.0, rss, hwm, dump);
        net_collector_free(c);
        sd_event_unref(e);
        facts_os_done(&os);
        return 0;
}
