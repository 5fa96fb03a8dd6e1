/* Step/slew policy (internal to timesync/): given an offset, decide and apply one
 * correction to a clock driver. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "pvic/clock.h"
#include "pvic/timesync.h"
#include "filter.h"

struct policy_config {
        int64_t makestep_ns;
        enum tsync_backward backward;
        int64_t backward_max_ns;
        int time_constant;
};

struct policy {
        struct policy_config cfg;
        bool synced;
        double freq_ppm;     /* last frequency we set */
};

struct policy_result {
        enum tsync_action action;
        int64_t applied_ns;  /* stepped by (STEP) or handed to the PLL (SLEW) */
        char reason[64];
};

void policy_init(struct policy *p, const struct policy_config *cfg);
/* force_step: SYNC or resume. est: the filter's view (NULL for a lone forced sample). */
int policy_correct(struct policy *p, struct clock_driver *c, int64_t offset_ns, bool force_step,
                   const struct filter_estimate *est, struct policy_result *ret);
