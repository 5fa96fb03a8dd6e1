/* A simulated clock that obeys the kernel's adjtimex rules (kernel/time/ntp.c), so the
 * discipline code can be tested and benchmarked deterministically: an oscillator with a
 * natural drift, ADJ_FREQUENCY on top of it, the PLL slewing 2^-(SHIFT_PLL+tc) of the
 * remaining ADJ_OFFSET every second, and ADJ_SETOFFSET steps that reset the PLL. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvic/clock.h"

#define SHIFT_PLL 2
#define SCALED_PPM 65536.0
/* NTP_PHASE_LIMIT: past 16 s of accumulated maxerror the kernel declares itself unsynced. */
#define PHASE_LIMIT_US 16000000L
/* Arbitrary boot epoch so monotonic values look like a machine that has been up a while. */
#define SIM_MONO_ORIGIN (1000 * NSEC_PER_SEC)

struct clock_sim {
        int64_t true_ns;
        int64_t running_ns;     /* true time the guest ran (not paused) */
        int64_t paused_ns;      /* true time spent suspended */
        double real_err;        /* CLOCK_REALTIME - true, ns */
        double raw_err;         /* MONOTONIC_RAW drift since start, ns */
        double mono_err;        /* MONOTONIC's adjustments (frequency, slew), ns */
        double drift_ppm;
        long freq;              /* 2^-16 ppm, as in struct timex */
        int64_t pll_offset_ns;  /* what the PLL still has to slew */
        int64_t slew_ns;        /* being slewed during the current second */
        int64_t next_tick_ns;   /* true time of the next second_overflow() */
        int64_t reftime_s;      /* time of the last ADJ_OFFSET (for the PLL's frequency term) */
        int status;
        long constant;
        long maxerror_us, esterror_us;
        unsigned steps, adjtime_calls;
};

static const struct clock_ops clock_sim_ops;

static struct clock_sim *sim_of(const struct clock_driver *c) {
        if (!c || clock_driver_userdata(c) == NULL || clock_driver_name(c) != clock_sim_ops.name) {
                fprintf(stderr, "clock_sim: not a simulated clock\n");
                abort();
        }
        return clock_driver_userdata(c);
}

static int64_t realtime_of(const struct clock_sim *s) {
        return s->true_ns + llround(s->real_err);
}

/* The kernel's shift_right(): an arithmetic shift that rounds toward zero for negatives. */
static int64_t shift_right(int64_t v, int s) {
        return v < 0 ? -((-v) >> s) : v >> s;
}

static void second_overflow(struct clock_sim *s) {
        s->slew_ns = (s->status & STA_PLL) ? shift_right(s->pll_offset_ns, SHIFT_PLL + (int) s->constant) : 0;
        s->pll_offset_ns -= s->slew_ns;
        s->maxerror_us += 500;
        if (s->maxerror_us > PHASE_LIMIT_US) {
                s->maxerror_us = PHASE_LIMIT_US;
                s->status |= STA_UNSYNC;
        }
}

static void run(struct clock_sim *s, int64_t ns) {
        while (ns > 0) {
                int64_t seg = MIN(ns, s->next_tick_ns - s->true_ns);
                double osc = s->drift_ppm * 1e-6;
                double adj = (1.0 + osc) * (1.0 + s->freq / SCALED_PPM * 1e-6) - 1.0 +
                             (double) s->slew_ns / (double) NSEC_PER_SEC;
                s->raw_err += (double) seg * osc;
                s->real_err += (double) seg * adj;
                s->mono_err += (double) seg * adj;
                s->true_ns += seg;
                s->running_ns += seg;
                ns -= seg;
                if (s->true_ns == s->next_tick_ns) {
                        s->next_tick_ns += NSEC_PER_SEC;
                        second_overflow(s);
                }
        }
}

static int sim_gettime(void *userdata, clockid_t id, int64_t *ret_ns) {
        struct clock_sim *s = userdata;
        int64_t mono = SIM_MONO_ORIGIN + s->running_ns + llround(s->mono_err);
        switch (id) {
        case CLOCK_REALTIME:
                *ret_ns = realtime_of(s);
                return 0;
        case CLOCK_MONOTONIC:
                *ret_ns = mono;
                return 0;
        case CLOCK_MONOTONIC_RAW:
                *ret_ns = SIM_MONO_ORIGIN + s->running_ns + llround(s->raw_err);
                return 0;
        case CLOCK_BOOTTIME:
                *ret_ns = mono + s->paused_ns;
                return 0;
        default:
                return -EINVAL;
        }
}

static void clear_ntp(struct clock_sim *s) {
        s->pll_offset_ns = 0;
        s->slew_ns = 0;
        s->status |= STA_UNSYNC;
        s->maxerror_us = s->esterror_us = PHASE_LIMIT_US;
}

static void update_offset(struct clock_sim *s, long offset) {
        if (!(s->status & STA_PLL))
                return;
        int64_t off = (s->status & STA_NANO) ? offset : (int64_t) offset * NSEC_PER_USEC;
        off = MAX(MIN(off, CLOCK_MAX_PHASE_NS), -CLOCK_MAX_PHASE_NS);
        int64_t now_s = realtime_of(s) / NSEC_PER_SEC;
        int64_t secs = now_s - s->reftime_s;
        s->reftime_s = now_s;
        if (!(s->status & STA_FREQHOLD) && secs > 0) {
                /* The kernel PLL's integral term; pvic sets STA_FREQHOLD to disable it. */
                secs = MIN(secs, INT64_C(1) << (SHIFT_PLL + 1 + s->constant));
                double ns_per_s = (double) off * (double) secs /
                                  ldexp(1.0, 2 * (SHIFT_PLL + 2 + (int) s->constant));
                double f = s->freq + ns_per_s / 1000.0 * SCALED_PPM;
                s->freq = lround(fmax(fmin(f, 500 * SCALED_PPM), -500 * SCALED_PPM));
        }
        s->pll_offset_ns = off;
}

static int sim_adjtime(void *userdata, struct timex *tx) {
        struct clock_sim *s = userdata;
        s->adjtime_calls++;
        if (tx->modes & ADJ_SETOFFSET) {
                bool nano = tx->modes & ADJ_NANO;
                long lim = nano ? 1000000000L : 1000000L;
                if (tx->time.tv_usec < 0 || tx->time.tv_usec >= lim)
                        return -EINVAL;
                s->real_err += (double) tx->time.tv_sec * 1e9 + (double) tx->time.tv_usec * (nano ? 1.0 : 1e3);
                s->steps++;
                clear_ntp(s);
        }
        if (tx->modes & ADJ_STATUS) {
                if ((s->status & STA_PLL) && !(tx->status & STA_PLL))
                        s->pll_offset_ns = 0;
                s->status = (s->status & STA_RONLY) | (tx->status & ~STA_RONLY);
        }
        if (tx->modes & ADJ_NANO)
                s->status |= STA_NANO;
        if (tx->modes & ADJ_MICRO)
                s->status &= ~STA_NANO;
        if (tx->modes & ADJ_FREQUENCY)
                s->freq = MAX(MIN(tx->freq, 500L << 16), -(500L << 16));
        if (tx->modes & ADJ_MAXERROR)
                s->maxerror_us = MAX(MIN(tx->maxerror, PHASE_LIMIT_US), 0L);
        if (tx->modes & ADJ_ESTERROR)
                s->esterror_us = MAX(MIN(tx->esterror, PHASE_LIMIT_US), 0L);
        if (tx->modes & ADJ_TIMECONST)
                s->constant = MAX(MIN(tx->constant + ((s->status & STA_NANO) ? 0 : 4), (long) CLOCK_MAX_TC), 0L);
        if ((tx->modes & ADJ_OFFSET_SINGLESHOT) == ADJ_OFFSET)
                update_offset(s, tx->offset);

        int64_t now = realtime_of(s);
        bool nano = s->status & STA_NANO;
        tx->offset = (long) (nano ? s->pll_offset_ns : s->pll_offset_ns / NSEC_PER_USEC);
        tx->freq = s->freq;
        tx->status = s->status;
        tx->constant = s->constant;
        tx->maxerror = s->maxerror_us;
        tx->esterror = s->esterror_us;
        tx->time.tv_sec = (time_t) (now / NSEC_PER_SEC);
        tx->time.tv_usec = (suseconds_t) (now % NSEC_PER_SEC / (nano ? 1 : NSEC_PER_USEC));
        return (s->status & STA_UNSYNC) ? TIME_ERROR : TIME_OK;
}

static void sim_free(void *userdata) {
        free(userdata);
}

static const struct clock_ops clock_sim_ops = {
        .name = "sim",
        .gettime = sim_gettime,
        .adjtime = sim_adjtime,
        .free = sim_free,
};

struct clock_driver *clock_sim_new(const struct clock_sim_params *p) {
        struct clock_sim *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->true_ns = p->true_ns;
        s->real_err = (double) p->offset_ns;
        s->drift_ppm = p->drift_ppm;
        s->next_tick_ns = p->true_ns + NSEC_PER_SEC;
        s->reftime_s = (p->true_ns + p->offset_ns) / NSEC_PER_SEC;
        s->status = STA_UNSYNC;
        s->maxerror_us = s->esterror_us = PHASE_LIMIT_US;
        struct clock_driver *c = clock_driver_new(&clock_sim_ops, s);
        if (!c)
                free(s);
        return c;
}

void clock_sim_advance(struct clock_driver *c, int64_t ns) {
        run(sim_of(c), ns);
}

void clock_sim_suspend(struct clock_driver *c, int64_t ns, int64_t realtime_ns) {
        struct clock_sim *s = sim_of(c);
        /* While paused nothing ticks; the wall clock gets what the resume path injects. */
        s->true_ns += ns;
        s->next_tick_ns += ns;
        s->paused_ns += ns;
        s->real_err += (double) (realtime_ns - ns);
}

int64_t clock_sim_true_ns(const struct clock_driver *c) {
        return sim_of(c)->true_ns;
}

int64_t clock_sim_offset_ns(const struct clock_driver *c) {
        return llround(sim_of(c)->real_err);
}

unsigned clock_sim_steps(const struct clock_driver *c) {
        return sim_of(c)->steps;
}

unsigned clock_sim_adjtime_calls(const struct clock_driver *c) {
        return sim_of(c)->adjtime_calls;
}

bool clock_sim_synced(const struct clock_driver *c) {
        return !(sim_of(c)->status & STA_UNSYNC);
}

double clock_sim_frequency_ppm(const struct clock_driver *c) {
        return sim_of(c)->freq / SCALED_PPM;
}
