/* Step/slew policy. Steps happen on the host's SYNC, after a resume, or past the
 * makestep threshold; everything else is slewed by a PI loop split the way the kernel
 * allows: the integral (frequency) part is the filter's regression of host time against
 * the raw oscillator, set with ADJ_FREQUENCY; the proportional (phase) part is handed to
 * the kernel PLL, which removes 2^-(2+tc) of it per second. The estimate handed over is
 * already a regression over up to 64 samples, so a fast loop (tc 0) just follows it; a
 * larger tc would only average the same data again while letting phase error grow
 * (measured: bench/timesync.sh, tests/unit/test-timesync.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvic/log.h"
#include "policy.h"

/* Below this |offset| the clock counts as synchronised (kernel STA_UNSYNC cleared). */
#define SYNCED_MAX_NS (10 * NSEC_PER_MSEC)
/* Error budget reported to the kernel beyond what we measured. */
#define MAXERROR_BASE_NS (100 * NSEC_PER_USEC)

void policy_init(struct policy *p, const struct policy_config *cfg) {
        *p = (struct policy) { .cfg = *cfg };
        p->cfg.time_constant = MAX(MIN(p->cfg.time_constant, CLOCK_MAX_TC), 0);
}

static int report_sync(struct policy *p, struct clock_driver *c, int64_t residual_ns, int64_t jitter_ns) {
        p->synced = llabs(residual_ns) <= SYNCED_MAX_NS;
        int64_t maxerr = llabs(residual_ns) + 3 * jitter_ns + MAXERROR_BASE_NS;
        return clock_set_sync_status(c, p->synced, maxerr, jitter_ns);
}

int policy_correct(struct policy *p, struct clock_driver *c, int64_t offset_ns, bool force_step,
                   const struct filter_estimate *est, struct policy_result *ret) {
        struct policy_result res = { .action = TSYNC_ACTION_SLEW };
        int64_t jitter = est ? est->jitter_ns : 0;
        bool step = force_step || llabs(offset_ns) > p->cfg.makestep_ns;
        int r;

        if (step && offset_ns < 0 && p->cfg.backward != TSYNC_BACKWARD_ALLOW) {
                if (p->cfg.backward == TSYNC_BACKWARD_SLEW) {
                        step = false;
                        snprintf(res.reason, sizeof res.reason, "backward step not allowed, slewing");
                } else if (-offset_ns > p->cfg.backward_max_ns) {
                        res.action = TSYNC_ACTION_REJECTED;
                        snprintf(res.reason, sizeof res.reason, "refused backward step of %.3f s",
                                 (double) -offset_ns / 1e9);
                        *ret = res;
                        return 0;
                }
        }

        if (step) {
                r = clock_step(c, offset_ns);
                if (r < 0)
                        return log_error_errno(r, "Failed to step the clock by %+.6f s: %m", (double) offset_ns / 1e9);
                res.action = TSYNC_ACTION_STEP;
                res.applied_ns = offset_ns;
                /* The step reset the kernel PLL and marked it unsynced; say where we are. */
                r = report_sync(p, c, 0, MAX(jitter, est ? est->jitter_ns : 0));
                *ret = res;
                return r < 0 ? r : 0;
        }

        if (est && est->freq_valid) {
                r = clock_set_frequency(c, est->freq_ppm);
                if (r < 0)
                        return log_error_errno(r, "Failed to set the clock frequency: %m");
                p->freq_ppm = fmax(fmin(est->freq_ppm, CLOCK_MAX_FREQ_PPM), -CLOCK_MAX_FREQ_PPM);
        }
        r = clock_slew(c, offset_ns, p->cfg.time_constant);
        if (r < 0)
                return log_error_errno(r, "Failed to slew the clock: %m");
        res.applied_ns = MAX(MIN(offset_ns, CLOCK_MAX_PHASE_NS), -CLOCK_MAX_PHASE_NS);
        r = report_sync(p, c, offset_ns, jitter);
        *ret = res;
        return r < 0 ? r : 0;
}
