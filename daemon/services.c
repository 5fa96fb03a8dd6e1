/* The services a backend calls (include/pvic/services.h), over the manager's objects. */
#include <errno.h>
#include <time.h>

#include "pvic/clock.h"
#include "pvic/health.h"
#include "pvic/log.h"
#include "pvic/pvicd.h"
#include "pvic/services.h"

enum host_app_state pvicd_heartbeat(struct pvicd *d, const struct host_heartbeat *hb) {
        /* We are running this from the loop, which is the liveness the host asks about. */
        health_tick(d->health);
        return d->health ? health_state(d->health) : HOST_APP_HEALTHY;
}

int pvicd_shutdown(struct pvicd *d, const struct host_shutdown *req, shutdown_report_fn report,
                   void *userdata) {
        if (!d->shutdown)
                return log_error_errno(EOPNOTSUPP, "shutdown: service unavailable; request ignored");
        return shutdown_request(d->shutdown, req, report, userdata);
}

void pvicd_time_rx_now(struct pvicd *d, struct tsync_rx *rx) {
        struct timespec rt, raw;
        clock_gettime(CLOCK_MONOTONIC_RAW, &raw);
        clock_gettime(CLOCK_REALTIME, &rt);
        *rx = (struct tsync_rx){
                .realtime_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec,
                .raw_ns = (int64_t)raw.tv_sec * 1000000000 + raw.tv_nsec,
        };
        int64_t ns;
        if (d->clock && clock_read(d->clock, CLOCK_REALTIME, &ns) >= 0)
                rx->realtime_ns = ns;
}

void pvicd_time_sample(struct pvicd *d, const struct host_time_sample *s, const struct tsync_rx *rx) {
        if (!d->tsync)
                return;
        enum tsync_action a = tsync_handle_sample(d->tsync, s, rx);
        log_debug("time: sample handled: %s", tsync_action_to_string(a));
}

void pvicd_resumed(struct pvicd *d) {
        /* The time service debounces: several signals of one resume give one correction. */
        if (d->tsync)
                tsync_resume_detected(d->tsync);
}

/* The freeze service is created on first use: most guests never freeze, and a freeze
 * must not depend on anything else having started. */
static struct freeze_service *freeze_for(struct pvicd *d) {
        if (!d->freeze && freeze_service_new(&d->freeze, d->event, d->config.root) < 0)
                d->freeze = NULL;
        return d->freeze;
}

int pvicd_freeze(struct pvicd *d, unsigned lease_sec, freeze_report_fn report, void *userdata) {
        struct freeze_service *f = freeze_for(d);
        if (!f)
                return log_error_errno(EOPNOTSUPP, "freeze: service unavailable; request ignored");
        return freeze_request(f, lease_sec, report, userdata);
}

int pvicd_thaw(struct pvicd *d, freeze_report_fn report, void *userdata) {
        struct freeze_service *f = freeze_for(d);
        if (!f)
                return log_error_errno(EOPNOTSUPP, "freeze: service unavailable; request ignored");
        return freeze_thaw(f, report, userdata);
}
