/* Runs the network collector on an sd-event loop and prints every snapshot it hands
 * out as one JSON line (tests/integration/net-topology.sh, bench/facts-snapshot.sh).
 *
 *   net-dump [--root DIR] [--debounce-ms N] [--count N] [--no-link-local] [--rcvbuf BYTES]
 *
 * Each line: {"seq":N,"usec":T,"network":[...]} where T is the time since start (µs).
 * Exits 0 after --count snapshots, or on SIGTERM/SIGINT; 1 on setup errors. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "pvic/log.h"
#include "pvic/net_json.h"
#include "pvic/netinfo.h"

static unsigned seq, count;
static uint64_t t0;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void on_change(struct net_collector *c, const struct net_snapshot *s, void *userdata) {
        sd_event *e = userdata;
        json_object *o = json_object_new_object();

        json_object_object_add(o, "seq", json_object_new_int((int) ++seq));
        json_object_object_add(o, "usec", json_object_new_int64((int64_t) (now_usec() - t0)));
        json_object_object_add(o, "network", net_snapshot_to_json(s));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        fflush(stdout);
        json_object_put(o);
        if (count && seq >= count)
                sd_event_exit(e, 0);
}

int main(int argc, char **argv) {
        struct net_collector_options o = NET_COLLECTOR_OPTIONS_DEFAULT;
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },
                { "debounce-ms", required_argument, NULL, 'd' },
                { "count", required_argument, NULL, 'c' },
                { "no-link-local", no_argument, NULL, 'L' },
                { "rcvbuf", required_argument, NULL, 'b' },
                {}
        };
        sd_event *e = NULL;
        struct net_collector *c = NULL;
        int opt, r;

        log_set_target_journal(0);
        log_set_max_level(getenv("NET_DUMP_DEBUG") ? LOG_DEBUG : LOG_INFO);
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (opt) {
                case 'r':
                        o.root = optarg;
                        break;
                case 'd':
                        o.debounce_usec = strtoull(optarg, NULL, 10) * 1000u;
                        break;
                case 'c':
                        count = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        o.rcvbuf = atoi(optarg);
                        break;
                case 'L':
                        o.table.ipv6_link_local = false;
                        break;
                default:
                        return 1;
                }

        t0 = now_usec();
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&e) < 0 ||
            sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, NULL, NULL) < 0) {
                fprintf(stderr, "net-dump: cannot set up the event loop\n");
                return 1;
        }
        r = net_collector_new(&c, e, &o, on_change, e);
        if (r < 0) {
                sd_event_unref(e);
                return 1;
        }
        r = sd_event_loop(e);
        net_collector_free(c);
        sd_event_unref(e);
        return r < 0 ? 1 : 0;
}
