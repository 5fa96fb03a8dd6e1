/* A virtual clock for tests and demos run on a real machine: CLOCK_REALTIME plus an
 * offset that steps and slews move, so the whole time path (exchange, filter, policy,
 * driver calls) runs in pvicd without touching the machine's clock. Slews drain at the
 * kernel's maximum rate (500 µs/s), as adjtimex would. */
#include <errno.h>
#include <stdlib.h>
#include <sys/timex.h>
#include <time.h>

#include "pvic/clock.h"

struct vclock {
        int64_t offset_ns;   /* applied so far */
        int64_t pending_ns;  /* slew still to apply */
        int64_t last_mono_ns;
        long freq;           /* as given, 2^-16 ppm */
        int status;
};

static int64_t now_ns(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void drain(struct vclock *v) {
        int64_t mono = now_ns(CLOCK_MONOTONIC);
        int64_t budget = (mono - v->last_mono_ns) / 2000; /* 500 ppm */
        v->last_mono_ns = mono;
        int64_t step = v->pending_ns > 0 ? (v->pending_ns < budget ? v->pending_ns : budget)
                                         : (-v->pending_ns < budget ? v->pending_ns : -budget);
        v->offset_ns += step;
        v->pending_ns -= step;
}

static int vclock_gettime(void *userdata, clockid_t id, int64_t *ret) {
        struct vclock *v = userdata;
        if (id != CLOCK_REALTIME) {
                *ret = now_ns(id);
                return 0;
        }
        drain(v);
        *ret = now_ns(CLOCK_REALTIME) + v->offset_ns;
        return 0;
}

static int vclock_adjtime(void *userdata, struct timex *tx) {
        struct vclock *v = userdata;
        drain(v);
        int64_t unit = (tx->modes & ADJ_NANO) ? 1 : 1000;
        if (tx->modes & ADJ_SETOFFSET) {
                v->offset_ns += (int64_t)tx->time.tv_sec * NSEC_PER_SEC + (int64_t)tx->time.tv_usec * unit;
                v->pending_ns = 0;
        } else if (tx->modes & ADJ_OFFSET) {
                v->pending_ns = (int64_t)tx->offset * unit;
        }
        if (tx->modes & ADJ_FREQUENCY)
                v->freq = tx->freq;
        if (tx->modes & ADJ_STATUS)
                v->status = tx->status;
        tx->freq = v->freq;
        tx->status = v->status;
        tx->offset = (long)(v->pending_ns / unit);
        return TIME_OK;
}

static void vclock_free(void *userdata) { free(userdata); }

static const struct clock_ops vclock_ops = {
        .name = "virtual",
        .gettime = vclock_gettime,
        .adjtime = vclock_adjtime,
        .free = vclock_free,
};

struct clock_driver *clock_virtual_new(int64_t initial_offset_ns) {
        struct vclock *v = calloc(1, sizeof *v);
        if (!v)
                return NULL;
        v->offset_ns = initial_offset_ns;
        v->last_mono_ns = now_ns(CLOCK_MONOTONIC);
        v->status = STA_UNSYNC;
        struct clock_driver *c = clock_driver_new(&vclock_ops, v);
        if (!c)
                free(v);
        return c;
}
