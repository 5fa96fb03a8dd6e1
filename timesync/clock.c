/* The clock driver frame: every correction becomes one struct timex, built here once, so
 * the real and the simulated driver see identical requests (chrony's sys_timex role). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/clock.h"

struct clock_driver {
        const struct clock_ops *ops;
        void *userdata;
};

struct clock_driver *clock_driver_new(const struct clock_ops *ops, void *userdata) {
        struct clock_driver *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->ops = ops;
        c->userdata = userdata;
        return c;
}

struct clock_driver *clock_driver_free(struct clock_driver *c) {
        if (!c)
                return NULL;
        if (c->ops->free)
                c->ops->free(c->userdata);
        free(c);
        return NULL;
}

const char *clock_driver_name(const struct clock_driver *c) {
        return c->ops->name;
}

void *clock_driver_userdata(const struct clock_driver *c) {
        return c->userdata;
}

int clock_read(struct clock_driver *c, clockid_t id, int64_t *ret_ns) {
        return c->ops->gettime(c->userdata, id, ret_ns);
}

static int driver_adjtime(struct clock_driver *c, struct timex *tx) {
        return c->ops->adjtime(c->userdata, tx);
}

int clock_step(struct clock_driver *c, int64_t offset_ns) {
        /* ADJ_SETOFFSET wants a normalised timeval: tv_usec (ns with ADJ_NANO) in
         * [0, 1e9) and the sign carried by tv_sec. */
        int64_t sec = offset_ns / NSEC_PER_SEC, nsec = offset_ns % NSEC_PER_SEC;
        if (nsec < 0) {
                sec--;
                nsec += NSEC_PER_SEC;
        }
        struct timex tx = {
                .modes = ADJ_SETOFFSET | ADJ_NANO,
                .time.tv_sec = (time_t) sec,
                .time.tv_usec = (suseconds_t) nsec,
        };
        int r = driver_adjtime(c, &tx);
        return r < 0 ? r : 0;
}

int clock_slew(struct clock_driver *c, int64_t offset_ns, int time_constant) {
        offset_ns = MAX(MIN(offset_ns, CLOCK_MAX_PHASE_NS), -CLOCK_MAX_PHASE_NS);
        /* STA_FREQHOLD keeps the kernel's own PLL from integrating the offset into the
         * frequency: the frequency is ours (clock_set_frequency), the kernel only slews. */
        struct timex tx = {
                .modes = ADJ_OFFSET | ADJ_NANO | ADJ_STATUS | ADJ_TIMECONST,
                .offset = (long) offset_ns,
                .status = STA_PLL | STA_FREQHOLD | STA_NANO,
                .constant = MAX(MIN(time_constant, CLOCK_MAX_TC), 0),
        };
        int r = driver_adjtime(c, &tx);
        return r < 0 ? r : 0;
}

int clock_set_frequency(struct clock_driver *c, double ppm) {
        if (!isfinite(ppm))
                return -EINVAL;
        ppm = fmax(fmin(ppm, CLOCK_MAX_FREQ_PPM), -CLOCK_MAX_FREQ_PPM);
        struct timex tx = {
                .modes = ADJ_FREQUENCY,
                .freq = lround(ppm * 65536.0),
        };
        int r = driver_adjtime(c, &tx);
        return r < 0 ? r : 0;
}

int clock_get_frequency(struct clock_driver *c, double *ret_ppm) {
        struct timex tx = { .modes = 0 };
        int r = driver_adjtime(c, &tx);
        if (r < 0)
                return r;
        *ret_ppm = tx.freq / 65536.0;
        return 0;
}

int clock_set_sync_status(struct clock_driver *c, bool synced, int64_t max_error_ns,
                          int64_t est_error_ns) {
        /* Read-modify-write of the status word: the other STA_ bits (PLL, leap, ...)
         * belong to clock_slew() and must survive. */
        struct timex cur = { .modes = 0 };
        int r = driver_adjtime(c, &cur);
        if (r < 0)
                return r;
        /* The kernel grows maxerror by 500 µs/s by itself and sets STA_UNSYNC at 16 s. */
        struct timex tx = {
                .modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR,
                .status = synced ? (cur.status & ~STA_UNSYNC) : (cur.status | STA_UNSYNC),
                .maxerror = (long) MIN(MAX(max_error_ns, 0) / NSEC_PER_USEC, 16000000),
                .esterror = (long) MIN(MAX(est_error_ns, 0) / NSEC_PER_USEC, 16000000),
        };
        r = driver_adjtime(c, &tx);
        return r < 0 ? r : 0;
}
