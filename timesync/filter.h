/* Sample filter (internal to timesync/): turns one host sample into (host time at
 * receive, local raw time, delay), keeps a bounded history, rejects outliers and
 * estimates the current offset and the oscillator's frequency error. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "pvic/hostmsg.h"
#include "pvic/timesync.h"

#define FILTER_HISTORY_MAX 64u
#define FILTER_WINDOW_MIN 4u

struct filter_sample {
        int64_t raw_ns;       /* local CLOCK_MONOTONIC_RAW at receive */
        int64_t real_ns;      /* local CLOCK_REALTIME at receive */
        int64_t host_ns;      /* host time at the moment of receive (transit-corrected) */
        int64_t delay_ns;     /* round trip, or the uncertainty assumed for the transit */
};

struct filter_config {
        unsigned window;
        double outlier_k;
        int64_t outlier_floor_ns;
        int64_t delay_floor_ns;
};

enum filter_verdict {
        FILTER_ACCEPTED,
        FILTER_ACCEPTED_RESET,   /* the old samples disagreed for too long: started over */
        FILTER_OUTLIER,
        FILTER_DELAY,
};

struct filter_estimate {
        int64_t offset_ns;    /* host - local now */
        int64_t jitter_ns;    /* RMS spread of the samples used */
        int64_t error_ns;     /* standard error of offset_ns itself */
        double freq_ppm;      /* host rate vs the raw oscillator: + means raw is slow */
        bool freq_valid;
        unsigned used;
};

struct filter {
        struct filter_config cfg;
        struct filter_sample s[FILTER_HISTORY_MAX];
        unsigned head, n;         /* ring: s[(head + i) % MAX], i < n, oldest first */
        unsigned rejects_in_row;
        double freq_ppm;
        bool freq_valid;
};

/* Offset math (docs/timesync.md): the host time at the local receive instant.
 * Returns 0, or -EINVAL when the sample's timing fields are unusable. */
int filter_sample_from_host(const struct host_time_sample *h, const struct tsync_rx *rx,
                            int64_t unknown_delay_ns, struct filter_sample *ret);

void filter_init(struct filter *f, const struct filter_config *cfg);
void filter_reset(struct filter *f);
/* Outlier and delay tests against the window, then stores the sample. `deviation_ns`
 * (may be NULL) gets the distance from the window's median prediction. */
enum filter_verdict filter_add(struct filter *f, const struct filter_sample *s, int64_t *deviation_ns);
/* Estimate at (raw_now, real_now). false when the filter is empty. */
bool filter_estimate(const struct filter *f, int64_t raw_now, int64_t real_now,
                     struct filter_estimate *ret);
unsigned filter_size(const struct filter *f);
const char *filter_verdict_to_string(enum filter_verdict v);
