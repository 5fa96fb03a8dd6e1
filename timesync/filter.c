/* Sample filter. Samples are kept as "host time at the local receive instant" against
 * the raw oscillator (CLOCK_MONOTONIC_RAW), not as offsets against the wall clock: our
 * own steps and slews then never make old samples stale, and any old sample can be
 * carried forward to "now" with the oscillator's estimated frequency error, the way
 * chrony's sourcestats keeps its regression independent of its own corrections. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

/* Linux refuses Hyper-V samples older than this (hv_utils, 600 s). */
#define REF_AGE_MAX_NS (600 * NSEC_PER_SEC)
/* A request/response exchange slower than this measured nothing useful. */
#define ROUND_TRIP_MAX_NS (10 * NSEC_PER_SEC)
/* Frequency needs a baseline: fewer/closer samples give a slope that is mostly noise. */
#define FREQ_MIN_SAMPLES 4u
#define FREQ_MIN_SPAN_NS (4 * NSEC_PER_SEC)
/* Selection: samples whose delay is within this of the minimum count as "minimum delay". */
#define SELECT_TOLERANCE_NS (50 * NSEC_PER_USEC)
/* MAD -> standard deviation for normally distributed noise. */
#define MAD_SCALE 1.4826

int filter_sample_from_host(const struct host_time_sample *h, const struct tsync_rx *rx,
                            int64_t unknown_delay_ns, struct filter_sample *ret) {
        struct filter_sample s = {
                .raw_ns = rx->raw_ns,
                .real_ns = rx->realtime_ns,
        };

        if (rx->send_realtime_ns != 0) {
                /* NTP-style exchange: the host read its clock somewhere between our send
                 * and our receive; assuming the middle errs by at most delay/2. */
                int64_t rtt = rx->realtime_ns - rx->send_realtime_ns;
                if (rtt < 0 || rtt > ROUND_TRIP_MAX_NS)
                        return -EINVAL;
                s.host_ns = h->host_time_ns + rtt / 2;
                s.delay_ns = rtt;
        } else if (h->has_ref_time && rx->has_ref_now) {
                /* Hyper-V 4.0: the host sampled its clock when the partition reference
                 * counter read ref_time; we read the same counter at receive, so the
                 * sample's age is exact and transit drops out. Only the difference is
                 * used, so the counter's epoch does not matter. */
                if (rx->ref_now_ns < h->ref_time_ns || rx->ref_now_ns - h->ref_time_ns > (uint64_t) REF_AGE_MAX_NS)
                        return -ESTALE;
                s.host_ns = h->host_time_ns + (int64_t) (rx->ref_now_ns - h->ref_time_ns);
                s.delay_ns = 0;
        } else {
                /* One-way message with unknown transit: take it as instantaneous and
                 * say how unsure that is, so measured samples win the selection. */
                s.host_ns = h->host_time_ns;
                s.delay_ns = unknown_delay_ns;
        }
        *ret = s;
        return 0;
}

void filter_init(struct filter *f, const struct filter_config *cfg) {
        *f = (struct filter) { .cfg = *cfg };
        f->cfg.window = MAX(MIN(f->cfg.window, FILTER_HISTORY_MAX), FILTER_WINDOW_MIN);
}

void filter_reset(struct filter *f) {
        struct filter_config cfg = f->cfg;
        filter_init(f, &cfg);
}

unsigned filter_size(const struct filter *f) {
        return f->n;
}

static const struct filter_sample *nth(const struct filter *f, unsigned i) {
        return &f->s[(f->head + i) % FILTER_HISTORY_MAX];
}

static unsigned window_start(const struct filter *f) {
        return f->n > f->cfg.window ? f->n - f->cfg.window : 0;
}

/* Host time at raw_now, extrapolated from one sample along the raw oscillator, minus
 * ref_ns (a double cannot hold an absolute time to the nanosecond). */
static double predict(const struct filter *f, const struct filter_sample *s, int64_t raw_now, int64_t ref_ns) {
        double dt = (double) (raw_now - s->raw_ns);
        double ppm = f->freq_valid ? f->freq_ppm : 0.0;
        return (double) (s->host_ns - ref_ns) + dt * (1.0 + ppm * 1e-6);
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static double median(double *v, unsigned n) {
        qsort(v, n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static int64_t window_min_delay(const struct filter *f) {
        int64_t m = INT64_MAX;
        for (unsigned i = window_start(f); i < f->n; i++)
                m = MIN(m, nth(f, i)->delay_ns);
        return m;
}

struct fit {
        double at_now;     /* (host - raw) at raw_now, relative to the newest sample's */
        double slope;      /* ns/s */
        double rms;        /* weighted residual RMS */
        double err;        /* standard error of the line at raw_now */
        double weight;     /* effective number of samples */
};

/* Minimum-delay selection without a cliff: a sample's weight falls off with the fourth
 * power of how far its delay is above the history's minimum, so equal delays (nothing
 * measured) weigh the same and a sample twice as slow as the best barely counts. */
static double delay_weight(int64_t delay, int64_t min_delay) {
        double tol = (double) MAX(min_delay / 2, SELECT_TOLERANCE_NS);
        double q = (double) (delay - min_delay) / tol;
        return 1.0 / (1.0 + q * q * q * q);
}

/* Weighted least squares of (host - raw) against raw over the whole history: the slope
 * is how much faster the host runs than our oscillator, the line at raw_now the host's
 * time now. Our own steps and slews are not in these numbers at all. Values are taken
 * relative to the newest sample so doubles keep their precision. */
static bool fit(const struct filter *f, int64_t raw_now, struct fit *ret) {
        if (f->n < FREQ_MIN_SAMPLES)
                return false;
        const struct filter_sample *last = nth(f, f->n - 1);
        if (last->raw_ns - nth(f, 0)->raw_ns < FREQ_MIN_SPAN_NS)
                return false;
        int64_t min_delay = INT64_MAX;
        for (unsigned i = 0; i < f->n; i++)
                min_delay = MIN(min_delay, nth(f, i)->delay_ns);

        double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, w[FILTER_HISTORY_MAX], x[FILTER_HISTORY_MAX], y[FILTER_HISTORY_MAX];
        for (unsigned i = 0; i < f->n; i++) {
                const struct filter_sample *s = nth(f, i);
                w[i] = delay_weight(s->delay_ns, min_delay);
                x[i] = (double) (s->raw_ns - last->raw_ns) / 1e9;
                y[i] = (double) ((s->host_ns - last->host_ns) - (s->raw_ns - last->raw_ns));
                sw += w[i];
                sx += w[i] * x[i];
                sy += w[i] * y[i];
                sxx += w[i] * x[i] * x[i];
                sxy += w[i] * x[i] * y[i];
        }
        double d = sw * sxx - sx * sx;
        if (sw < 2.0 || d <= 0)
                return false;
        double slope = (sw * sxy - sx * sy) / d, icept = (sy - slope * sx) / sw, ss = 0;
        for (unsigned i = 0; i < f->n; i++)
                ss += w[i] * (y[i] - icept - slope * x[i]) * (y[i] - icept - slope * x[i]);
        double xn = (double) (raw_now - last->raw_ns) / 1e9, xm = sx / sw;
        double rms = sqrt(ss / fmax(sw - 2.0, 1.0));
        *ret = (struct fit) {
                .at_now = icept + slope * xn,
                .slope = slope,
                .rms = rms,
                /* Grows with the distance from the samples' centre of mass. */
                .err = rms * sqrt(1.0 / sw + (xn - xm) * (xn - xm) / (sxx - sw * xm * xm)),
                .weight = sw,
        };
        return isfinite(ret->at_now) && isfinite(slope) && isfinite(ret->err);
}

static void update_frequency(struct filter *f) {
        struct fit r;
        f->freq_valid = fit(f, nth(f, f->n - 1)->raw_ns, &r);
        if (f->freq_valid)
                f->freq_ppm = r.slope / 1000.0;
}

static void store(struct filter *f, const struct filter_sample *s) {
        if (f->n == FILTER_HISTORY_MAX) {
                f->head = (f->head + 1) % FILTER_HISTORY_MAX;
                f->n--;
        }
        f->s[(f->head + f->n) % FILTER_HISTORY_MAX] = *s;
        f->n++;
        update_frequency(f);
}

static enum filter_verdict check(const struct filter *f, const struct filter_sample *s, int64_t *deviation_ns) {
        unsigned start = window_start(f), k = f->n - start;
        if (k < FILTER_WINDOW_MIN)
                return FILTER_ACCEPTED;

        double pred[FILTER_HISTORY_MAX], dev[FILTER_HISTORY_MAX];
        for (unsigned i = 0; i < k; i++)
                pred[i] = predict(f, nth(f, start + i), s->raw_ns, s->host_ns);
        double med = median(pred, k);
        for (unsigned i = 0; i < k; i++)
                dev[i] = fabs(pred[i] - med);
        double mad = median(dev, k) * MAD_SCALE;
        double d = -med;
        if (deviation_ns)
                *deviation_ns = (int64_t) llround(fmax(fmin(d, 9e18), -9e18));
        if (fabs(d) > f->cfg.outlier_k * fmax(mad, (double) f->cfg.outlier_floor_ns))
                return FILTER_OUTLIER;

        int64_t min_delay = window_min_delay(f);
        if (s->delay_ns > min_delay + MAX(3 * min_delay, f->cfg.delay_floor_ns))
                return FILTER_DELAY;
        return FILTER_ACCEPTED;
}

enum filter_verdict filter_add(struct filter *f, const struct filter_sample *s, int64_t *deviation_ns) {
        if (deviation_ns)
                *deviation_ns = 0;
        enum filter_verdict v = check(f, s, deviation_ns);
        if (v != FILTER_ACCEPTED) {
                /* A host whose clock really moved (or a path that really got slower)
                 * must not be shut out forever: once most of a window's worth of samples
                 * in a row disagrees with the past, the past is what is wrong. */
                if (++f->rejects_in_row <= f->cfg.window / 2)
                        return v;
                filter_reset(f);
                v = FILTER_ACCEPTED_RESET;
        }
        f->rejects_in_row = 0;
        store(f, s);
        return v;
}

bool filter_estimate(const struct filter *f, int64_t raw_now, int64_t real_now,
                     struct filter_estimate *ret) {
        if (f->n == 0)
                return false;
        unsigned start = window_start(f);
        int64_t min_delay = window_min_delay(f);
        int64_t limit = min_delay + MAX(min_delay / 2, SELECT_TOLERANCE_NS);
        const struct filter_sample *last = nth(f, f->n - 1);

        /* Once the history spans enough time, the regression line at "now" is the
         * estimate: it averages every minimum-delay sample since the last reset, and it
         * is what the frequency comes from, so phase and frequency agree. */
        struct fit r;
        unsigned used;
        if (f->freq_valid && fit(f, raw_now, &r)) {
                double off = (double) ((last->host_ns - real_now) + (raw_now - last->raw_ns)) + r.at_now;
                *ret = (struct filter_estimate) {
                        .offset_ns = (int64_t) llround(fmax(fmin(off, 9e18), -9e18)),
                        .jitter_ns = (int64_t) llround(fmin(r.rms, 9e18)),
                        .error_ns = (int64_t) llround(fmin(r.err, 9e18)),
                        .freq_ppm = r.slope / 1000.0,
                        .freq_valid = true,
                        .used = (unsigned) lround(r.weight),
                };
                return true;
        }

        /* Early on: mean over the window's minimum-delay samples, carried forward. */
        double sum = 0, off[FILTER_HISTORY_MAX];
        used = 0;
        for (unsigned i = start; i < f->n; i++) {
                const struct filter_sample *s = nth(f, i);
                if (s->delay_ns > limit)
                        continue;
                off[used] = predict(f, s, raw_now, real_now);
                sum += off[used++];
        }
        double mean = sum / used, var = 0;
        for (unsigned i = 0; i < used; i++)
                var += (off[i] - mean) * (off[i] - mean);
        double jitter = used > 1 ? sqrt(var / (used - 1)) : (double) min_delay / 2.0;

        *ret = (struct filter_estimate) {
                .offset_ns = (int64_t) llround(fmax(fmin(mean, 9e18), -9e18)),
                .jitter_ns = (int64_t) llround(fmin(jitter, 9e18)),
                .error_ns = (int64_t) llround(fmin(jitter / sqrt(used), 9e18)),
                .freq_ppm = f->freq_ppm,
                .freq_valid = f->freq_valid,
                .used = used,
        };
        return true;
}

const char *filter_verdict_to_string(enum filter_verdict v) {
        switch (v) {
        case FILTER_ACCEPTED:       return "accepted";
        case FILTER_ACCEPTED_RESET: return "accepted, history reset";
        case FILTER_OUTLIER:        return "outlier";
        case FILTER_DELAY:          return "delay too high";
        }
        return "?";
}
