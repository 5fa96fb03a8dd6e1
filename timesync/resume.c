/* Resume/migration detection. Two independent signals, both cheap and event-driven:
 * - CLOCK_BOOTTIME counts suspended time and CLOCK_MONOTONIC does not, so a growth of
 *   their difference means the machine was asleep (suspend, save/restore; a live
 *   migration pause shows up here too when the hypervisor stops the guest's clocks);
 * - a CLOCK_REALTIME timerfd with TFD_TIMER_CANCEL_ON_SET is cancelled whenever the
 *   wall clock is set, including by the kernel's resume path (clock_was_set()).
 * Both may fire for one resume; tsync_resume_detected() debounces. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "pvic/log.h"
#include "pvic/macro.h"
#include "pvic/timesync.h"

struct resume_detector {
        struct clock_driver *clock;
        int64_t threshold_ns;
        int64_t last_gap_ns;
};

static int read_gap(struct clock_driver *c, int64_t *ret) {
        int64_t boot, mono;
        int r = clock_read(c, CLOCK_BOOTTIME, &boot);
        if (r < 0)
                return r;
        r = clock_read(c, CLOCK_MONOTONIC, &mono);
        if (r < 0)
                return r;
        *ret = boot - mono;
        return 0;
}

int resume_detector_new(struct clock_driver *clock, int64_t threshold_ns, struct resume_detector **ret) {
        struct resume_detector *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->clock = clock;
        d->threshold_ns = threshold_ns > 0 ? threshold_ns : NSEC_PER_SEC;
        int r = read_gap(clock, &d->last_gap_ns);
        if (r < 0) {
                free(d);
                return r;
        }
        *ret = d;
        return 0;
}

struct resume_detector *resume_detector_free(struct resume_detector *d) {
        free(d);
        return NULL;
}

int resume_detector_check(struct resume_detector *d, int64_t *ret_ns) {
        int64_t gap;
        int r = read_gap(d->clock, &gap);
        if (r < 0)
                return r;
        int64_t slept = gap - d->last_gap_ns;
        d->last_gap_ns = gap;
        if (ret_ns)
                *ret_ns = slept;
        return slept > d->threshold_ns ? 1 : 0;
}

static int arm(int fd) {
        /* Never expires on its own; only the cancel-on-set matters. */
        struct itimerspec its = { .it_value.tv_sec = (time_t) INT32_MAX * 64 };
        if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
                return -errno;
        return 0;
}

int resume_clock_set_fd_open(void) {
        _cleanup_close_ int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = arm(fd);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

int resume_clock_set_fd_dispatch(int fd) {
        uint64_t n;
        ssize_t k = read(fd, &n, sizeof n);
        if (k < 0 && errno == ECANCELED) {
                int r = arm(fd);
                return r < 0 ? r : 1;
        }
        if (k < 0 && errno != EAGAIN)
                return -errno;
        if (k >= 0) {
                int r = arm(fd);
                if (r < 0)
                        return r;
        }
        return 0;
}

int resume_detector_dispatch(struct resume_detector *d, struct tsync *t) {
        int64_t slept;
        int r = resume_detector_check(d, &slept);
        if (r <= 0)
                return r;
        log_info("Clocks show %.3f s asleep: resume.", (double) slept / 1e9);
        tsync_resume_detected(t);
        return 1;
}
