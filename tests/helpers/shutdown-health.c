/* Drives the health signal on an sd-event loop for tests: reads health_state() every
 * --poll-ms and prints "<state> <reason>" whenever it changes; --block-at-ms/--block-ms
 * stall the loop once (a callback that does not return) and print what a reader sees
 * right after ("after-block <state> <reason>"). Exits after --duration-ms or on SIGTERM.
 *
 *   shutdown-health [--tick-ms N] [--stall-ms N] [--refresh-ms N] [--poll-ms N]
 *                   [--unit NAME]... [--no-system-state] [--block-at-ms T --block-ms D]
 *                   [--duration-ms N]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvic/bus-util.h"
#include "pvic/health.h"
#include "pvic/log.h"

static struct health *health;
static uint64_t poll_usec = 100000, block_usec;
static char last[160];

static const char *name(enum host_app_state s) {
        switch (s) {
        case HOST_APP_HEALTHY: return "healthy";
        case HOST_APP_CRITICAL: return "critical";
        case HOST_APP_STOPPED: return "stopped";
        default: return "unknown";
        }
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        char now[160];
        enum host_app_state st = health_state(health);
        snprintf(now, sizeof now, "%s %s", name(st), health_reason(health));
        if (strcmp(now, last) != 0) {
                printf("%s\n", now);
                fflush(stdout);
                memcpy(last, now, sizeof now);
        }
        (void)sd_event_source_set_time_relative(s, poll_usec);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_block(sd_event_source *s, uint64_t usec, void *userdata) {
        struct timespec ts = { .tv_sec = (time_t)(block_usec / 1000000),
                               .tv_nsec = (long)(block_usec % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0)
                ;
        enum host_app_state st = health_state(health);
        printf("after-block %s %s\n", name(st), health_reason(health));
        fflush(stdout);
        snprintf(last, sizeof last, "%s %s", name(st), health_reason(health));
        return 0;
}

int main(int argc, char **argv) {
        enum { O_TICK = 256, O_STALL, O_REFRESH, O_POLL, O_UNIT, O_NOSYS, O_BLOCK_AT, O_BLOCK, O_DUR };
        static const struct option opts[] = {
                { "tick-ms", required_argument, NULL, O_TICK },
                { "stall-ms", required_argument, NULL, O_STALL },
                { "refresh-ms", required_argument, NULL, O_REFRESH },
                { "poll-ms", required_argument, NULL, O_POLL },
                { "unit", required_argument, NULL, O_UNIT },
                { "no-system-state", no_argument, NULL, O_NOSYS },
                { "block-at-ms", required_argument, NULL, O_BLOCK_AT },
                { "block-ms", required_argument, NULL, O_BLOCK },
                { "duration-ms", required_argument, NULL, O_DUR },
                {}
        };
        struct health_config cfg = HEALTH_CONFIG_DEFAULT;
        const char *units[9] = {};
        size_t n_units = 0;
        uint64_t block_at = 0, duration = 0;
        int c, r;

        log_set_ident("shutdown-health");
        log_set_max_level(LOG_DEBUG);
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                uint64_t ms = optarg ? strtoull(optarg, NULL, 10) * 1000 : 0;
                switch (c) {
                case O_TICK: cfg.tick_usec = ms; break;
                case O_STALL: cfg.stall_usec = ms; break;
                case O_REFRESH: cfg.refresh_usec = ms; break;
                case O_POLL: poll_usec = ms; break;
                case O_UNIT:
                        if (n_units < ELEMENTSOF(units) - 1)
                                units[n_units++] = optarg;
                        break;
                case O_NOSYS: cfg.check_system_state = false; break;
                case O_BLOCK_AT: block_at = ms; break;
                case O_BLOCK: block_usec = ms; break;
                case O_DUR: duration = ms; break;
                default: return 64;
                }
        }
        cfg.units = n_units ? units : NULL;

        _cleanup_event_unref_ sd_event *e = NULL;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if ((r = sd_event_default(&e)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, NULL, NULL)) < 0)
                return 1;
        _cleanup_(health_freep) struct health *h = NULL;
        if (health_new(&h, e, NULL, &cfg) < 0)
                return 1;
        health = h;
        if (sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 0, 0, on_poll, NULL) < 0)
                return 1;
        if (block_at && sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, block_at, 0, on_block, NULL) < 0)
                return 1;
        if (duration && sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, duration, 0, NULL, NULL) < 0)
                return 1;
        r = sd_event_loop(e);
        return r < 0 ? 1 : 0;
}
