/* The pvicd manager: owns the loop, signals, the systemd watchdog and the backend. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "bus.h"
#include "manager.h"
#include "pvic/kvp_store.h"
#include "pvic/kvp_watch.h"
#include "pvic/log.h"

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
        /* Sent from the loop itself: a wedged loop stops the pings and systemd restarts us. */
        sd_notify(0, "WATCHDOG=1");
        sd_event_source_set_time(s, usec + interval / 2);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        (void)d;
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
        if (d->backend && d->backend_state)
                d->backend->fini(d->backend_state);
        d->kvp_watch = kvp_watch_free(d->kvp_watch);
        d->kvp = kvp_store_free(d->kvp);
        d->watchdog_timer = sd_event_source_disable_unref(d->watchdog_timer);
        facts_os_done(&d->os);
        config_done(&d->config);
        sd_event_unref(d->event);
        free(d);
        return NULL;
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

        _cleanup_free_ char *pools = root_path(d->config.root, "/var/lib/hyperv");
        if (!pools)
                return log_oom();
        r = kvp_store_open(&d->kvp, pools, NULL);
        if (r < 0)
                /* Facts, heartbeat, shutdown and time do not need the pools. */
                log_error_errno(r, "kvp: cannot open the pools in %s: %m; KVP is unavailable", pools);
        else if ((r = kvp_watch_new(&d->kvp_watch, d->event, d->kvp, pools)) < 0)
                log_warning_errno(r, "kvp: cannot watch %s for other writers: %m", pools);

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
