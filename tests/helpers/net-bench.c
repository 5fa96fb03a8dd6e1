/* Benchmark helper for bench/facts-snapshot.sh: how long the network collector takes
 * from nothing to its first snapshot (netlink dump, parsing, sysfs classification,
 * topology, slots), how long rendering that snapshot as facts JSON takes, and the
 * process's resident memory. Run inside the benchmark's netns.
 *
 *   net-bench [--root DIR] [--rounds N]
 *
 * Prints one line: "nics=N addrs=N cold_ms=X warm_ms=X change_ms=X json_ms=X rss_kb=N
 * end_rss_kb=N hwm_kb=N". cold: the first collector; warm: best of the later ones (a
 * restart with sysfs in the page cache); change: best of N, from adding or removing an
 * address on the first NIC (over rtnetlink, from here) to the new snapshot, with the
 * debounce set to 1 ms; json: best of N renders. rss: after the first snapshot (one
 * collector, as in the daemon); end_rss and hwm: after all rounds and renders. */
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

#include "pvic/log.h"
#include "pvic/net_json.h"
#include "pvic/netinfo.h"

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

/* One collector from creation to its first snapshot, on a fresh loop (an exited loop
 * takes no new sources); returns ms, keeps both. */
static double one_round(sd_event **e, const struct net_collector_options *o, struct net_collector **ret) {
        if (sd_event_new(e) < 0)
                exit(1);
        double t = now_ms();
        if (net_collector_new(ret, *e, o, on_change, *e) < 0) {
                fprintf(stderr, "net-bench: collector failed\n");
                exit(1);
        }
        run_until_snapshot(*e);
        return now_ms() - t;
}

int main(int argc, char **argv) {
        struct net_collector_options o = NET_COLLECTOR_OPTIONS_DEFAULT;
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
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
                case 'n':
                        rounds = MAX(2, atoi(optarg));
                        break;
                default:
                        return 1;
                }
        double cold = one_round(&e, &o, &c), warm = 1e9;
        /* One collector and its first snapshot: what the daemon keeps. */
        long cold_rss = status_kb("VmRSS:");
        for (int i = 1; i < rounds; i++) {
                net_collector_free(c);
                sd_event_unref(e);
                warm = MIN(warm, one_round(&e, &o, &c));
        }

        const struct net_snapshot *s = net_collector_snapshot(c);
        size_t addrs = 0;
        for (size_t i = 0; i < s->n_nics; i++)
                addrs += s->nics[i].n_ipv4 + s->nics[i].n_ipv6;

        double change = -1;
        if (s->n_nics > 0) {
                int ifindex = s->nics[0].ifindex;
                _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
                if (fd < 0)
                        return 1;
                change = 1e9;
                for (int i = 0; i < rounds; i++)
                        for (int del = 0; del < 2; del++) {
                                double t = now_ms();
                                change_addr(fd, del ? RTM_DELADDR : RTM_NEWADDR, ifindex, (uint8_t) (i + 1));
                                run_until_snapshot(e);
                                change = MIN(change, now_ms() - t);
                        }
                s = net_collector_snapshot(c);
        }
        double json = 1e9;
        for (int i = 0; i < rounds; i++) {
                double t = now_ms();
                json_object *j = net_snapshot_to_json(s);
                const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
                if (!text || !text[0])
                        return 1;
                json_object_put(j);
                json = MIN(json, now_ms() - t);
        }
        printf("nics=%zu addrs=%zu cold_ms=%.2f warm_ms=%.2f change_ms=%.2f json_ms=%.2f rss_kb=%ld "
               "end_rss_kb=%ld hwm_kb=%ld\n", s->n_nics, addrs, cold, warm, change, json, cold_rss,
               status_kb("VmRSS:"), status_kb("VmHWM:"));
        net_collector_free(c);
        sd_event_unref(e);
        return 0;
}
