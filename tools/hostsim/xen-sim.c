/* `pvic-hostsim xen`: a simulated xenstored serving dom0 and guest sockets. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "hostsim.h"
#include "pvic/log.h"
#include "pvic/macro.h"
#include "xs-server.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct xsd_server *, xsd_server_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct xsd_listen *, xsd_listen_free);

static void help(void) {
        printf("Usage: pvic-hostsim xen --dir DIR --domid N[,N...] [OPTIONS]\n"
               "\n"
               "Simulated xenstored. Serves DIR/host.sock (privileged, acts as dom0 like the\n"
               "real daemon's socket) and DIR/guest-N.sock for each domid (acts as domain N:\n"
               "permission checks, relative paths under /local/domain/N, quotas). Prints\n"
               "\"ready\" once every socket listens; SIGTERM/SIGINT stop it and remove them.\n"
               "\n"
               "  --dir DIR                 where to create the sockets\n"
               "  --domid N[,N...]          simulated guest domains (1-32751)\n"
               "  --libxl                   seed the libxl (xl) layout instead of XAPI's\n"
               "  --event-before-ok         send a WATCH's initial event before its OK\n"
               "  --force-eagain N          fail the next N transaction commits with EAGAIN\n"
               "  --stats FILE              on SIGUSR1, write per-guest request and write counts\n"
               "                            and the CPU time used to FILE\n"
               "  --quota-nodes N           nodes a guest may own (default 1000)\n"
               "  --quota-watches N         watches per guest (default 128)\n"
               "  --quota-transactions N    open transactions per guest (default 10)\n"
               "  --log-level LEVEL         err, warning, info, debug (default warning)\n"
               "  -h --help                 this text\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int parse_domids(const char *arg, struct xsd_server *srv) {
        _cleanup_free_ char *copy = strdup(arg);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned d;
                /* Above 32751 are DOMID_SELF, DOMID_ANY and friends; 0 is the host. */
                if (parse_uint(t, 32751, &d) < 0 || d == 0 || xsd_server_has_domid(srv, d))
                        return log_error_errno(-EINVAL, "invalid or repeated domid: %s", t);
                uint32_t *ids = realloc(srv->domids, (srv->n_domids + 1) * sizeof *ids);
                if (!ids)
                        return -ENOMEM;
                srv->domids = ids;
                srv->domids[srv->n_domids++] = d;
        }
        if (srv->n_domids == 0)
                return log_error_errno(-EINVAL, "--domid needs at least one domid");
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

struct stats_target {
        const struct xsd_server *srv;
        const char *path;
};

static int on_stats_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        const struct stats_target *t = userdata;
        int r = xsd_stats_write(t->srv, t->path);
        if (r < 0)
                log_error_errno(r, "cannot write the statistics to %s: %m", t->path);
        return 0;
}

int xsd_stats_write(const struct xsd_server *srv, const char *path) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "we");
        if (!f)
                return -errno;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        fprintf(f, "cpu_ms %ld\n", (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
                                            (long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000);
        for (size_t i = 0; i < srv->n_domids; i++)
                fprintf(f, "%u %llu %llu\n", srv->domids[i],
                        srv->stats ? (unsigned long long)srv->stats[i].requests : 0ULL,
                        srv->stats ? (unsigned long long)srv->stats[i].writes : 0ULL);
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                return -errno;
        return 0;
}

int xen_sim_main(int argc, char **argv) {
        enum { ARG_STATS = 0x200 };
        const char *stats_path = NULL;
        enum { ARG_DIR = 0x100, ARG_DOMID, ARG_LIBXL, ARG_EVENT_BEFORE_OK, ARG_FORCE_EAGAIN,
               ARG_QUOTA_NODES, ARG_QUOTA_WATCHES, ARG_QUOTA_TXNS, ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "dir", required_argument, NULL, ARG_DIR },
                { "domid", required_argument, NULL, ARG_DOMID },
                { "libxl", no_argument, NULL, ARG_LIBXL },
                { "event-before-ok", no_argument, NULL, ARG_EVENT_BEFORE_OK },
                { "force-eagain", required_argument, NULL, ARG_FORCE_EAGAIN },
                { "stats", required_argument, NULL, ARG_STATS },
                { "quota-nodes", required_argument, NULL, ARG_QUOTA_NODES },
                { "quota-watches", required_argument, NULL, ARG_QUOTA_WATCHES },
                { "quota-transactions", required_argument, NULL, ARG_QUOTA_TXNS },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct xsd_config cfg = { .quota_nodes = 1000, .quota_watches = 128, .quota_transactions = 10 };
        const char *dir = NULL, *domids = NULL;
        bool libxl = false;
        int c, r;

        log_set_ident("pvic-hostsim");
        log_set_max_level(LOG_WARNING);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                unsigned *u = NULL;
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_DIR:
                        dir = optarg;
                        break;
                case ARG_DOMID:
                        domids = optarg;
                        break;
                case ARG_LIBXL:
                        libxl = true;
                        break;
                case ARG_STATS:
                        stats_path = optarg;
                        break;
                case ARG_EVENT_BEFORE_OK:
                        cfg.event_before_ok = true;
                        break;
                case ARG_FORCE_EAGAIN:
                        u = &cfg.force_eagain;
                        break;
                case ARG_QUOTA_NODES:
                        u = &cfg.quota_nodes;
                        break;
                case ARG_QUOTA_WATCHES:
                        u = &cfg.quota_watches;
                        break;
                case ARG_QUOTA_TXNS:
                        u = &cfg.quota_transactions;
                        break;
                case ARG_LOG_LEVEL:
                        if ((r = log_parse_level(optarg)) < 0) {
                                log_error("unknown log level: %s", optarg);
                                return 2;
                        }
                        log_set_max_level(r);
                        break;
                default:
                        return 2;
                }
                if (u && parse_uint(optarg, 1000000, u) < 0) {
                        log_error("not a number: %s", optarg);
                        return 2;
                }
        }
        if (optind < argc || !dir || !domids) {
                log_error("usage: pvic-hostsim xen --dir DIR --domid N[,N...] (see --help)");
                return 2;
        }

        _cleanup_(xsd_server_freep) struct xsd_server *srv = xsd_server_new(&cfg);
        if (!srv)
                return log_error("out of memory"), 1;
        if (parse_domids(domids, srv) < 0)
                return 2;
        if ((r = xsd_seed_base(srv->store)) < 0)
                return log_error_errno(r, "seeding failed: %m"), 1;
        for (size_t i = 0; i < srv->n_domids; i++)
                if ((r = xsd_seed_domain(srv->store, srv->domids[i], libxl)) < 0)
                        return log_error_errno(r, "seeding failed: %m"), 1;

        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        if ((r = sd_event_default(&e)) < 0)
                return log_error_errno(r, "sd_event_default: %m"), 1;
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if ((r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL)) < 0)
                return log_error_errno(r, "sd_event_add_signal: %m"), 1;
        struct stats_target stats = { srv, stats_path };
        if (stats_path && (r = sd_event_add_signal(e, NULL, SIGUSR1, on_stats_signal, &stats)) < 0)
                return log_error_errno(r, "sd_event_add_signal: %m"), 1;

        _cleanup_(xsd_listen_freep) struct xsd_listen *l = NULL;
        if ((r = xsd_listen_new(e, srv, &l)) < 0)
                return log_error_errno(r, "listen: %m"), 1;
        char path[4096];
        /* Like a daemon's RuntimeDirectory: create the directory the sockets go in. */
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "cannot create %s: %m", dir), 1;
        snprintf(path, sizeof path, "%s/host.sock", dir);
        if (xsd_listen_add(l, path, 0, true) < 0)
                return 1;
        for (size_t i = 0; i < srv->n_domids; i++) {
                snprintf(path, sizeof path, "%s/guest-%u.sock", dir, srv->domids[i]);
                if (xsd_listen_add(l, path, srv->domids[i], false) < 0)
                        return 1;
        }

        printf("ready\n");
        fflush(stdout);
        r = sd_event_loop(e);
        if (r < 0)
                return log_error_errno(r, "event loop: %m"), 1;
        return 0;
}
