/* pvic-hostsim hyperv: arguments, guests, the loop (docs/hostsim-hyperv.md). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostsim.h"
#include "hv-sim.h"
#include "pvic/macro.h"

static void help(void) {
        printf("Usage: pvic-hostsim hyperv --dir DIR --guest NAME[,NAME...] [OPTIONS]\n"
               "Simulated Hyper-V host: per guest DIR/NAME/root holds a fake sysfs with the\n"
               "heartbeat, shutdown, timesync and KVP channels bound to uio_hv_generic, their\n"
               "ring files and interrupt sockets, and dev/vmbus/hv_kvp and hv_vss (the kernel's\n"
               "KVP and VSS relays).\n"
               "Run pvicd --transport=vmbus --root DIR/NAME/root against it. DIR/control.sock\n"
               "takes JSON requests (docs/hostsim-hyperv.md). Prints \"ready\" when listening.\n\n"
               "  -d, --dir=DIR                   state directory (created)\n"
               "  -g, --guest=NAME[,NAME...]      guests to simulate\n"
               "      --heartbeat-interval=MS     periodic heartbeats (default 2000; 0: none)\n"
               "      --time-interval=MS          periodic time samples (default 5000; 0: none)\n"
               "      --ring-size=BYTES           ring size per direction (default 65536)\n"
               "      --kernel-ics=IC[,IC...]     leave these ICs bound to hv_utils (heartbeat,\n"
               "                                  shutdown, timesync, kvp): no uio node\n"
               "      --no-vss                    no dev/vmbus/hv_vss (hv_utils without VSS)\n"
               "      --uio-vss                   the VSS channel bound to uio_hv_generic (no hv_vss)\n"
               "  -h, --help\n");
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static bool guest_name_ok(const char *n) {
        if (!*n || strlen(n) > 32 || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
                return false;
        for (const char *p = n; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
                      *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

int hv_sim_main(int argc, char **argv) {
        enum { ARG_HB = 0x100, ARG_TIME, ARG_RING, ARG_KERNEL, ARG_NO_VSS, ARG_UIO_VSS };
        static const struct option options[] = {
                { "dir", required_argument, NULL, 'd' },
                { "guest", required_argument, NULL, 'g' },
                { "heartbeat-interval", required_argument, NULL, ARG_HB },
                { "time-interval", required_argument, NULL, ARG_TIME },
                { "ring-size", required_argument, NULL, ARG_RING },
                { "kernel-ics", required_argument, NULL, ARG_KERNEL },
                { "no-vss", no_argument, NULL, ARG_NO_VSS },
                { "uio-vss", no_argument, NULL, ARG_UIO_VSS },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct hv_sim sim = { .ctl_fd = -1, .heartbeat_interval_usec = 2000000, .time_interval_usec = 5000000,
                              .ring_size = 65536, .kernel_ics = 1u << HV_IC_VSS };
        const char *dir = NULL, *guests = NULL;
        int c, r, rc = 1;

        while ((c = getopt_long(argc, argv, "d:g:h", options, NULL)) >= 0) {
                switch (c) {
                case 'd': dir = optarg; break;
                case 'g': guests = optarg; break;
                case ARG_HB: sim.heartbeat_interval_usec = strtoull(optarg, NULL, 10) * 1000u; break;
                case ARG_TIME: sim.time_interval_usec = strtoull(optarg, NULL, 10) * 1000u; break;
                case ARG_RING: sim.ring_size = strtoull(optarg, NULL, 0); break;
                case ARG_KERNEL: {
                        _cleanup_free_ char *l = strdup(optarg);
                        for (char *save = NULL, *n = strtok_r(l, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
                                int ic = hv_ic_from_name(n);
                                if (ic < 0) {
                                        fprintf(stderr, "pvic-hostsim hyperv: unknown IC '%s'\n", n);
                                        return 2;
                                }
                                sim.kernel_ics |= 1u << ic;
                        }
                        break;
                }
                case ARG_NO_VSS: sim.no_vss = true; break;
                case ARG_UIO_VSS: sim.kernel_ics &= ~(1u << HV_IC_VSS); break;
                case 'h': help(); return 0;
                default: return 2;
                }
        }
        if (!dir || !guests || optind < argc) {
                help();
                return 2;
        }
        if (sim.ring_size < 16384 || sim.ring_size > (64u << 20) || sim.ring_size % 4096 != 0) {
                fprintf(stderr, "pvic-hostsim hyperv: --ring-size must be a multiple of 4096 in [16 KiB, 64 MiB]\n");
                return 2;
        }
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "pvic-hostsim hyperv: %s: %s\n", dir, strerror(errno));
                return 1;
        }
        sim.dir = strdup(dir);
        char *list = strdup(guests);
        if (!sim.dir || !list)
                return 1;
        for (char *save = NULL, *n = strtok_r(list, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
                if (!guest_name_ok(n)) {
                        fprintf(stderr, "pvic-hostsim hyperv: bad guest name '%s'\n", n);
                        goto out;
                }
                struct hv_guest *ng = realloc(sim.guests, (sim.n_guests + 1) * sizeof *ng);
                if (!ng)
                        goto out;
                sim.guests = ng;
                memset(&sim.guests[sim.n_guests], 0, sizeof *ng);
                sim.n_guests++;
        }
        if (sim.n_guests == 0)
                goto out;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (sd_event_new(&sim.event) < 0 || sd_event_add_signal(sim.event, NULL, SIGTERM, on_term, NULL) < 0 ||
            sd_event_add_signal(sim.event, NULL, SIGINT, on_term, NULL) < 0)
                goto out;

        unsigned i = 0;
        for (char *save = NULL, *n = strtok_r(strcpy(list, guests), ",", &save); n; n = strtok_r(NULL, ",", &save), i++) {
                r = hv_guest_init(&sim.guests[i], &sim, i, n);
                if (r < 0) {
                        fprintf(stderr, "pvic-hostsim hyperv: guest %s: %s\n", n, strerror(-r));
                        goto out;
                }
        }
        r = hv_control_open(&sim);
        if (r < 0) {
                fprintf(stderr, "pvic-hostsim hyperv: control socket: %s\n", strerror(-r));
                goto out;
        }
        printf("ready\n");
        fflush(stdout);
        r = sd_event_loop(sim.event);
        rc = r < 0 ? 1 : 0;
out:
        hv_control_close(&sim);
        for (unsigned k = 0; k < sim.n_guests; k++)
                hv_guest_done(&sim.guests[k]);
        free(sim.guests);
        free(sim.dir);
        free(list);
        sd_event_unref(sim.event);
        return rc;
}
