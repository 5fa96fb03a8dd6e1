/* The machine's clock (chrony's sys_linux role). Only the daemon constructs this; tests
 * use clock_sim.c, so nothing under tests/ can move the host's time. */
#include <errno.h>
#include <sys/timex.h>
#include <time.h>

#include "pvic/clock.h"

static int real_gettime(void *userdata, clockid_t id, int64_t *ret_ns) {
        struct timespec ts;
        if (clock_gettime(id, &ts) < 0)
                return -errno;
        *ret_ns = (int64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
        return 0;
}

static int real_adjtime(void *userdata, struct timex *tx) {
        int r = clock_adjtime(CLOCK_REALTIME, tx);
        return r < 0 ? -errno : r;
}

static const struct clock_ops clock_real_ops = {
        .name = "real",
        .gettime = real_gettime,
        .adjtime = real_adjtime,
};

struct clock_driver *clock_real_new(void) {
        return clock_driver_new(&clock_real_ops, NULL);
}
