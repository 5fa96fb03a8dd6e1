/* The pvicd manager: owns the loop, signals, the systemd watchdog and the backend. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "bus.h"
#include "manager.h"
#include "services_internal.h"
#include "pvic/clock.h"
#include "pvic/freeze.h"
#include "pvic/health.h"
#include "pvic/kvp_store.h"
#include "pvic/kvp_watch.h"
#include "pvic/log.h"
#include "pvic/netinfo.h"
#include "pvic/shutdown.h"
#include "pvic/timesync.h"

void pvicd_set_status(struct pvicd *d, const char *fmt, ...) {
        char buf[sizeof d->status];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (strcmp(buf, d->status) == 0)
                return;
        memcpy(d->status, buf, sizeof buf);
        log_debug("status: %s", buf);
        sd_notifyf(0, "STATUS=%s", buf);
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        struct pvicd *d = userdata;
        uint64_t interval = 0;
        sd_watchdog_enabled(0, &interval);
        /* Sent from the loop itself: a wedged loop stops these pings (systemd restarts us)
         * and the heartbeat answers alike. A degraded system is reported to the host in
         * the heartbeat's application state, but is no reason to restart pvicd. */
        health_tick(d->health);
        sd_notify(0, "WATCHDOG=1");
        sd_event_source_set_time(s, usec + interval / 2);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct pvicd *d = userdata;
        log_info("received %s; exiting", strsignal((int)si->ssi_signo));
        sd_notify(0, "STOPPING=1");
        return sd_event_exit(d->event, 0);
}

int pvicd_new(struct pvicd **ret) {
        struct pvicd *d = calloc(1, sizeof *d);
        if (!d)
                return log_oom();
        config_init(&d->config);
        int r = sd_event_default(&d->event);
        if (r < 0) {
                pvicd_free(d);
                return log_error_errno(r, "cannot create the event loop: %m");
        }
        *ret = d;
        return 0;
}

struct pvicd *pvicd_free(struct pvicd *d) {
        if (!d)
                return NULL;
        bus_stop(d);
        /* Services first: a final shutdown report still reaches the backend's wire. */
        d->shutdown = shutdown_service_free(d->shutdown);
        /* A freeze ends with us (thawed here, not later by the guard) and before the
         * backend it would report to is gone; the freeing thaw reports nothing. */
        d->freeze = freeze_service_free(d->freeze);
        d->health = health_free(d->health);
        d->net = net_collector_free(d->net);
        d->hostname_watch = sd_event_source_disable_unref(d->hostname_watch);
        services_kvp_stop(d);
        d->clock_set = sd_event_source_disable_unref(d->clock_set);
        d->resume = resume_detector_free(d->resume);
        d->tsync = tsync_free(d->tsync);
        d->clock = clock_driver_free(d->clock);
        if (d->backend && d->backend_state)
                d->backend->fini(d->backend_state);
        d->kvp_watch = kvp_watch_free(d->kvp_watch);
        d->kvp = kvp_store_free(d->kvp);
        d->watchdog_timer = sd_event_source_disable_unref(d->watchdog_timer);
        d->mem_timer = sd_event_source_disable_unref(d->mem_timer);
        facts_os_done(&d->os);
        config_done(&d->config);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

/* Somebody set the clock: a resume shows as slept time (BOOTTIME - MONOTONIC jumped),
 * an administrator's or our own step does not. */
static int on_clock_set(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct pvicd *d = userdata;
        if (resume_clock_set_fd_dispatch(fd) == 1 && d->resume)
                resume_detector_dispatch(d->resume, d->tsync);
        return 0;
}

/* Test hook, only with --virtual-clock (docs/timesync.md): SIGUSR1 steps the virtual clock
 * underneath pvicd by $PVICD_VIRTUAL_CLOCK_STEP_MS (default +5000), as `date -s` by an
 * administrator steps a real one, and reports it as the clock-set timerfd would. */
static int on_virtual_step(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct pvicd *d = userdata;
        const char *e = getenv("PVICD_VIRTUAL_CLOCK_STEP_MS");
        long long ms = 5000;
        char *end;

        if (e) {
                errno = 0;
                ms = strtoll(e, &end, 10);
                if (errno != 0 || end == e || *end || ms < -86400000LL || ms > 86400000LL) {
                        log_warning("PVICD_VIRTUAL_CLOCK_STEP_MS='%s' is not milliseconds within a day; not stepping.", e);
                        return 0;
                }
        }
        int r = clock_step(d->clock, ms * NSEC_PER_MSEC);
        if (r < 0)
                return log_warning_errno(r, "Cannot step the virtual clock: %m"), 0;
        log_notice("Virtual clock stepped underneath pvicd by %+lld ms (SIGUSR1 test hook).", ms);
        if (d->resume)
                (void) resume_detector_dispatch(d->resume, d->tsync);
        return 0;
}

static void on_net_change(struct net_collector *c, const struct net_snapshot *s, void *userdata) {
        struct pvicd *d = userdata;
        services_kvp_addresses_changed(d, s);
        if (d->backend && d->backend_state && d->backend->facts_changed)
                d->backend->facts_changed(d->backend_state);
}

/* The kernel wakes pollers of /proc/sys/kernel/hostname (EPOLLPRI) when the name
 * changes: the FQDN item and the facts follow without any polling. */
static int on_hostname(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct pvicd *d = userdata;
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0); /* re-arms the notification */
        if (n <= 0)
                return 0;
        struct pvic_os_facts os = {};
        if (facts_os_collect(&os, d->config.root) < 0)
                return 0;
        if (d->os.hostname && os.hostname && strcmp(d->os.hostname, os.hostname) == 0) {
                facts_os_done(&os);
                return 0;
        }
        log_info("hostname changed to %s", os.hostname ? os.hostname : "?");
        facts_os_done(&d->os);
        d->os = os;
        services_kvp_start(d); /* rebuilds the intrinsic items from the new facts */
        if (d->net)
                services_kvp_addresses_changed(d, net_collector_snapshot(d->net));
        if (d->backend && d->backend_state && d->backend->facts_changed)
                d->backend->facts_changed(d->backend_state);
        return 0;
}

static void watch_hostname(struct pvicd *d) {
        _cleanup_free_ char *path = root_path(d->config.root, "/proc/sys/kernel/hostname");
        int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd < 0)
                return; /* a test root without /proc: nothing to follow */
        char buf[256];
        if (pread(fd, buf, sizeof buf, 0) < 0 ||
            sd_event_add_io(d->event, &d->hostname_watch, fd, EPOLLPRI | EPOLLERR, on_hostname, d) < 0) {
                close(fd);
                return;
        }
        sd_event_source_set_io_fd_own(d->hostname_watch, true);
}

/* Memory is the one fact the kernel gives no event for: look once a minute, tell the
 * host only when it moved by more than 1 % of the total (spec §9 item 10). */
#define MEM_CHECK_USEC (60u * 1000000u)
static int on_mem_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct pvicd *d = userdata;
        struct pvic_mem_facts m;
        if (facts_mem_collect(&m, d->config.root) >= 0) {
                uint64_t delta = m.available_kib > d->mem.available_kib ? m.available_kib - d->mem.available_kib
                                                                       : d->mem.available_kib - m.available_kib;
                if (m.total_kib != d->mem.total_kib || delta * 100 > m.total_kib) {
                        d->mem = m;
                        if (d->backend && d->backend_state && d->backend->facts_changed)
                                d->backend->facts_changed(d->backend_state);
                }
        }
        sd_event_source_set_time(s, usec + MEM_CHECK_USEC);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* The services answer the host; one that cannot start leaves a logged gap, not a dead
 * daemon (the others still serve). */
static int services_start(struct pvicd *d, const struct pvic_backend_ops *backend) {
        struct health_config hc = HEALTH_CONFIG_DEFAULT;
        hc.tick_usec = 0; /* ticked by the heartbeat and the watchdog: no timer of its own */
        int r = health_new(&d->health, d->event, NULL, &hc);
        if (r < 0)
                log_error_errno(r, "health: cannot start: %m");

        services_kvp_start(d);
        watch_hostname(d);
        struct net_collector_options no = NET_COLLECTOR_OPTIONS_DEFAULT;
        no.root = d->config.root;
        r = net_collector_new(&d->net, d->event, &no, on_net_change, d);
        if (r < 0)
                log_error_errno(r, "network: cannot watch addresses: %m; the host will not see them");

        struct shutdown_config sc = SHUTDOWN_CONFIG_DEFAULT;
        r = shutdown_service_new(&d->shutdown, d->event, NULL, d->config.root, &sc, &shutdown_actions_real);
        if (r < 0)
                log_error_errno(r, "shutdown: cannot start: %m");

        d->clock = d->config.virtual_clock ? clock_virtual_new(d->config.virtual_clock_offset_ns) : clock_real_new();
        if (!d->clock)
                return log_oom();
        bool relay = strcmp(backend->name, "vmbus") == 0 && d->config.vmbus_mode == PVIC_VMBUS_RELAY;
        enum tsync_mode mode = d->config.virtual_clock ? TSYNC_MODE_DISCIPLINE : tsync_pick_mode(d->config.root, relay);
        struct tsync_config tc;
        tsync_config_init(&tc);
        /* chronyd reads samples here when its configuration has our drop-in
         * (`refclock SOCK /run/chrony/pvic.sock refid PVIC`, systemd/chrony-pvic.conf). */
        tc.chrony_refclock_path = root_path(d->config.root, "/run/chrony/pvic.sock");
        r = tsync_new(&tc, d->clock, mode, &d->tsync);
        tsync_config_done(&tc);
        if (r < 0) {
                log_error_errno(r, "time: cannot start: %m");
                return 0;
        }
        if (mode == TSYNC_MODE_RELAY_KERNEL)
                log_notice("time: in relay mode the kernel's hv_utils keeps the clock; for NTP-grade time "
                           "give chrony `refclock PHC /dev/ptp_hyperv`");
        r = resume_detector_new(d->clock, NSEC_PER_SEC, &d->resume);
        if (r < 0)
                log_warning_errno(r, "time: no resume detection: %m");
        int fd = resume_clock_set_fd_open();
        if (fd < 0)
                log_warning_errno(fd, "time: cannot watch for clock changes: %m");
        else if ((r = sd_event_add_io(d->event, &d->clock_set, fd, EPOLLIN, on_clock_set, d)) < 0) {
                close(fd);
                log_warning_errno(r, "time: cannot watch for clock changes: %m");
        } else
                sd_event_source_set_io_fd_own(d->clock_set, true);
        if (d->config.virtual_clock) {
                sigset_t mask;
                sigemptyset(&mask);
                sigaddset(&mask, SIGUSR1);
                sigprocmask(SIG_BLOCK, &mask, NULL);
                r = sd_event_add_signal(d->event, NULL, SIGUSR1, on_virtual_step, d);
                if (r < 0)
                        log_warning_errno(r, "time: no SIGUSR1 virtual clock step: %m");
        }
        return 0;
}

int pvicd_start(struct pvicd *d, const struct pvic_backend_ops *backend) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        int r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d);
        if (r < 0)
                return log_error_errno(r, "cannot watch signals: %m");
        /* A broken pipe to a peer is an error return, never a reason to die. */
        signal(SIGPIPE, SIG_IGN);

        uint64_t interval = 0;
        if (sd_watchdog_enabled(0, &interval) > 0 && interval > 0) {
                uint64_t now;
                sd_event_now(d->event, CLOCK_MONOTONIC, &now);
                r = sd_event_add_time(d->event, &d->watchdog_timer, CLOCK_MONOTONIC, now + interval / 2, 0,
                                      on_watchdog, d);
                if (r < 0)
                        return log_error_errno(r, "cannot arm the watchdog timer: %m");
        }

        r = facts_os_collect(&d->os, d->config.root);
        if (r < 0)
                log_warning_errno(r, "cannot collect OS facts: %m");
        r = facts_mem_collect(&d->mem, d->config.root);
        if (r < 0)
                log_debug_errno(r, "memory facts unavailable: %m");
        /* Coarse accuracy lets the kernel batch this wakeup with others. */
        else if (sd_event_add_time_relative(d->event, &d->mem_timer, CLOCK_MONOTONIC, MEM_CHECK_USEC, 5000000u,
                                            on_mem_timer, d) < 0)
                log_warning("memory facts will not be refreshed");

        _cleanup_free_ char *pools = root_path(d->config.root, "/var/lib/hyperv");
        if (!pools)
                return log_oom();
        r = kvp_store_open(&d->kvp, pools, NULL);
        if (r < 0)
                /* Facts, heartbeat, shutdown and time do not need the pools. */
                log_error_errno(r, "kvp: cannot open the pools in %s: %m; KVP is unavailable", pools);
        else if ((r = kvp_watch_new(&d->kvp_watch, d->event, d->kvp, pools)) < 0)
                log_warning_errno(r, "kvp: cannot watch %s for other writers: %m", pools);

        r = services_start(d, backend);
        if (r < 0)
                return r;

        d->backend = backend;
        r = backend->init(d, &d->backend_state);
        if (r < 0)
                return r;
        return bus_start(d);
}

int pvicd_run(struct pvicd *d) {
        sd_notify(0, "READY=1");
        log_info("pvicd %d.%d.%d started (transport %s)", PVIC_VERSION_MAJOR, PVIC_VERSION_MINOR,
                 PVIC_VERSION_MICRO, d->backend ? d->backend->name : "none");
        return sd_event_loop(d->event);
}
