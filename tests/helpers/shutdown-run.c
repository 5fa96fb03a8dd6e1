/* Runs the shutdown service on an sd-event loop for one request from the command line and
 * prints every reported state as a line, so shell tests can drive it against a private
 * bus. reboot(2) is a stub that records, and it refuses to run unless
 * DBUS_SYSTEM_BUS_ADDRESS names a bus other than the real one: nothing here can power the
 * machine off.
 *
 *   shutdown-run [options] ACTION
 *     --root DIR  --hook-timeout S  --deadline S  --abort-on-hook-failure
 *     --allow-reboot-syscall  --grace S  --stub-record FILE  --bus-timeout-ms MS
 *     --force  --timeout S  --reason TEXT  --reason-code N
 *     --twice           submit the same request again right after the first ack
 *     --times           prefix each line with microseconds since the request
 *     --repeat N        bench: N requests, a fresh service each on one shared bus;
 *                       prints "req <CLOCK_MONOTONIC ns>" before each, "lat <us>" at done
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvic/bus-util.h"
#include "pvic/log.h"
#include "pvic/shutdown.h"

static struct {
        bool times, twice;
        const char *stub_record;
        uint64_t t0;
        struct shutdown_service *svc;
        struct host_shutdown req;
        sd_event *event;
        bool final;
        bool first_ack_seen;
        bool failed;
} ctx;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void print_state(const char *prefix, const struct shutdown_report *r) {
        if (ctx.times)
                printf("%llu %s%s\n", (unsigned long long)((now_ns() - ctx.t0) / 1000), prefix, r->text);
        else
                printf("%s%s\n", prefix, r->text);
        fflush(stdout);
}

static void on_second(const struct shutdown_report *r, void *userdata) {
        print_state("second: ", r);
}

static void on_report(const struct shutdown_report *r, void *userdata) {
        print_state("", r);
        if (!ctx.first_ack_seen && ctx.twice) {
                ctx.first_ack_seen = true;
                (void)shutdown_request(ctx.svc, &ctx.req, on_second, NULL);
        }
        if (r->final) {
                ctx.final = true;
                sd_event_exit(ctx.event, r->state == SHUTDOWN_DONE ? 0 : 2);
        }
}

static int stub_reboot(enum host_shutdown_action action, void *userdata) {
        const char *name = shutdown_action_to_string(action);
        printf("STUB reboot-syscall %s\n", name);
        fflush(stdout);
        if (ctx.stub_record) {
                FILE *f = fopen(ctx.stub_record, "ae");
                if (!f)
                        return -errno;
                fprintf(f, "reboot-syscall %s\n", name);
                fclose(f);
        }
        return 0;
}

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        fprintf(stderr, "shutdown-run: no final state within the safety timeout\n");
        return sd_event_exit(ctx.event, 3);
}

/* Bench: a fresh service per request (a done power-off latches the service), one bus. */
static void on_bench_report(const struct shutdown_report *r, void *userdata) {
        if (!r->final)
                return;
        if (r->state != SHUTDOWN_DONE)
                fprintf(stderr, "bench: %s\n", r->text);
        printf("lat %llu\n", (unsigned long long)((now_ns() - ctx.t0) / 1000));
        ctx.final = true;
        ctx.failed = r->state != SHUTDOWN_DONE;
}

static int bench(sd_event *e, const char *root, const struct shutdown_config *cfg,
                 const struct shutdown_actions *stub, unsigned n) {
        _cleanup_bus_flush_close_unref_ sd_bus *bus = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0 || (r = sd_bus_attach_event(bus, e, 0)) < 0)
                return log_error_errno(r, "bench: no bus: %m");
        for (unsigned i = 0; i < n; i++) {
                _cleanup_(shutdown_service_freep) struct shutdown_service *s = NULL;
                r = shutdown_service_new(&s, e, bus, root, cfg, stub);
                if (r < 0)
                        return r;
                ctx.final = false;
                ctx.t0 = now_ns();
                printf("req %llu\n", (unsigned long long)ctx.t0);
                r = shutdown_request(s, &ctx.req, on_bench_report, NULL);
                if (r < 0)
                        return r;
                /* sd_event_exit() would close the bus: turn the loop by hand */
                while (!ctx.final)
                        if ((r = sd_event_run(e, UINT64_MAX)) < 0)
                                return r;
                if (ctx.failed)
                        return -EIO;
        }
        return 0;
}

int main(int argc, char **argv) {
        enum { O_ROOT = 256, O_HOOK_TIMEOUT, O_DEADLINE, O_ABORT, O_ALLOW, O_GRACE, O_STUB,
               O_FORCE, O_TIMEOUT, O_REASON, O_CODE, O_TWICE, O_TIMES, O_REPEAT, O_BUSTMO };
        static const struct option opts[] = {
                { "root", required_argument, NULL, O_ROOT },
                { "hook-timeout", required_argument, NULL, O_HOOK_TIMEOUT },
                { "deadline", required_argument, NULL, O_DEADLINE },
                { "abort-on-hook-failure", no_argument, NULL, O_ABORT },
                { "allow-reboot-syscall", no_argument, NULL, O_ALLOW },
                { "grace", required_argument, NULL, O_GRACE },
                { "stub-record", required_argument, NULL, O_STUB },
                { "force", no_argument, NULL, O_FORCE },
                { "timeout", required_argument, NULL, O_TIMEOUT },
                { "reason", required_argument, NULL, O_REASON },
                { "reason-code", required_argument, NULL, O_CODE },
                { "twice", no_argument, NULL, O_TWICE },
                { "times", no_argument, NULL, O_TIMES },
                { "repeat", required_argument, NULL, O_REPEAT },
                { "bus-timeout-ms", required_argument, NULL, O_BUSTMO },
                {}
        };
        struct shutdown_config cfg = SHUTDOWN_CONFIG_DEFAULT;
        struct shutdown_actions stub = { .reboot_syscall = stub_reboot };
        const char *root = "";
        unsigned repeat = 0;
        int c, r, a;

        cfg.grace_sec = 0;
        log_set_ident("shutdown-run");
        log_set_max_level(LOG_DEBUG);
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case O_ROOT: root = optarg; break;
                case O_HOOK_TIMEOUT: cfg.hook_timeout_sec = (unsigned)strtoul(optarg, NULL, 10); break;
                case O_DEADLINE: cfg.deadline_sec = (unsigned)strtoul(optarg, NULL, 10); break;
                case O_ABORT: cfg.abort_on_hook_failure = true; break;
                case O_ALLOW: cfg.allow_reboot_syscall = true; break;
                case O_GRACE: cfg.grace_sec = (unsigned)strtoul(optarg, NULL, 10); break;
                case O_STUB: ctx.stub_record = optarg; break;
                case O_FORCE: ctx.req.force = true; break;
                case O_TIMEOUT: ctx.req.timeout_sec = (uint32_t)strtoul(optarg, NULL, 10); break;
                case O_REASON: snprintf(ctx.req.message, sizeof ctx.req.message, "%s", optarg); break;
                case O_CODE: ctx.req.reason_code = (uint32_t)strtoul(optarg, NULL, 0); break;
                case O_TWICE: ctx.twice = true; break;
                case O_TIMES: ctx.times = true; break;
                case O_REPEAT: repeat = (unsigned)strtoul(optarg, NULL, 10); break;
                case O_BUSTMO: cfg.bus_timeout_ms = (unsigned)strtoul(optarg, NULL, 10); break;
                default: return 64;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: shutdown-run [options] poweroff|reboot|halt|hibernate|<number>\n");
                return 64;
        }
        /* This program really asks logind to power off: only ever against a test bus. */
        const char *addr = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        if (!addr || !*addr || strstr(addr, "/run/dbus/system_bus_socket")) {
                fprintf(stderr, "shutdown-run: refusing to run: DBUS_SYSTEM_BUS_ADDRESS must point "
                        "at a private test bus, not the real system bus\n");
                return 64;
        }
        a = shutdown_action_from_string(argv[optind]);
        /* a number passes an arbitrary enum value through, as a buggy backend might */
        ctx.req.action = a >= 0 ? (enum host_shutdown_action)a :
                (enum host_shutdown_action)strtol(argv[optind], NULL, 0);

        _cleanup_event_unref_ sd_event *e = NULL;
        r = sd_event_default(&e);
        if (r < 0)
                return 1;
        ctx.event = e;
        if (repeat > 0) {
                log_set_max_level(LOG_WARNING);
                r = bench(e, root, &cfg, &stub, repeat);
                return r < 0 ? 1 : 0;
        }

        _cleanup_(shutdown_service_freep) struct shutdown_service *s = NULL;
        r = shutdown_service_new(&s, e, NULL, root, &cfg, &stub);
        if (r < 0)
                return 1;
        ctx.svc = s;
        r = sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 60 * 1000000ULL, 0, on_safety, NULL);
        if (r < 0)
                return 1;
        ctx.t0 = now_ns();
        r = shutdown_request(s, &ctx.req, on_report, NULL);
        if (r < 0)
                return 1;
        if (ctx.final)
                return 2; /* refused synchronously */
        r = sd_event_loop(e);
        return r < 0 ? 1 : r;
}
