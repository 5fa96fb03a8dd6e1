/* The time service: host samples in, one decision per sample out (step, slew, feed
 * chronyd, or reject with a reason), every decision kept in a bounded history for
 * `pvicctl time`. It owns no event source; the daemon calls in. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pvic/log.h"
#include "pvic/timesync.h"
#include "chrony.h"
#include "filter.h"
#include "policy.h"

/* Host clocks before this are unset or broken, whatever the flags say (2020-01-01). */
#define HOST_TIME_MIN_NS (INT64_C(1577836800) * NSEC_PER_SEC)
/* ... and past this (2200-01-01) as well. */
#define HOST_TIME_MAX_NS (INT64_C(7258118400) * NSEC_PER_SEC)
#define YEAR_NS (INT64_C(365) * 86400 * NSEC_PER_SEC)

struct tsync {
        struct tsync_config cfg;
        struct clock_driver *clock;
        enum tsync_mode mode;
        struct filter filter;
        struct policy policy;
        struct chrony_sock *chrony;
        bool chrony_warned;

        struct tsync_event history[TSYNC_HISTORY_MAX];
        unsigned hist_head, hist_n;

        bool have_last_host;
        int64_t last_host_ns;
        bool resume_pending;
        bool corrected_since_resume;   /* debounce window is running */
        int64_t debounce_until_ns;     /* CLOCK_BOOTTIME */
        pid_t chronyc_pid;
        int64_t chronyc_deadline_ns;   /* CLOCK_BOOTTIME */

        bool have_offset;
        int64_t last_offset_ns;
        int64_t last_jitter_ns;
        enum tsync_source last_source;
        uint64_t samples, accepted, rejected, steps;
};

void tsync_config_init(struct tsync_config *c) {
        *c = (struct tsync_config) {
                .makestep_ns = NSEC_PER_SEC,
                .max_offset_ns = YEAR_NS,
                .backward = TSYNC_BACKWARD_ALLOW,
                .backward_max_ns = NSEC_PER_SEC,
                .window = 8,
                .outlier_k = 5.0,
                .outlier_floor_ns = NSEC_PER_MSEC,
                .delay_floor_ns = 500 * NSEC_PER_USEC,
                .unknown_delay_ns = NSEC_PER_MSEC,
                .time_constant = 0,
                .resume_debounce_ns = 10 * NSEC_PER_SEC,
                .chronyc_timeout_ns = 5 * NSEC_PER_SEC,
        };
}

void tsync_config_done(struct tsync_config *c) {
        free(c->chrony_refclock_path);
        free(c->chronyc_socket);
        c->chrony_refclock_path = c->chronyc_socket = NULL;
}

static int strdup_or_null(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int tsync_new(const struct tsync_config *cfg, struct clock_driver *clock, enum tsync_mode mode,
              struct tsync **ret) {
        if (!cfg || !clock || mode < 0 || mode >= _TSYNC_MODE_MAX)
                return -EINVAL;
        _cleanup_(tsync_freep) struct tsync *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->cfg = *cfg;
        t->cfg.chrony_refclock_path = t->cfg.chronyc_socket = NULL;
        if (strdup_or_null(cfg->chrony_refclock_path, &t->cfg.chrony_refclock_path) < 0 ||
            strdup_or_null(cfg->chronyc_socket, &t->cfg.chronyc_socket) < 0)
                return -ENOMEM;
        t->clock = clock;
        t->mode = mode;
        filter_init(&t->filter, &(struct filter_config) {
                .window = cfg->window,
                .outlier_k = cfg->outlier_k,
                .outlier_floor_ns = cfg->outlier_floor_ns,
                .delay_floor_ns = cfg->delay_floor_ns,
        });
        policy_init(&t->policy, &(struct policy_config) {
                .makestep_ns = cfg->makestep_ns,
                .backward = cfg->backward,
                .backward_max_ns = cfg->backward_max_ns,
                .time_constant = cfg->time_constant,
        });
        /* Only a disciplining service talks to the clock at all. */
        if (mode == TSYNC_MODE_DISCIPLINE)
                (void) clock_get_frequency(clock, &t->policy.freq_ppm);

        if (mode == TSYNC_MODE_FEED_CHRONY) {
                if (!t->cfg.chrony_refclock_path)
                        return log_error_errno(EINVAL, "Feeding chronyd needs its SOCK refclock path.");
                int r = chrony_sock_new(t->cfg.chrony_refclock_path, &t->chrony);
                if (r < 0)
                        return log_error_errno(r, "Cannot create the chrony refclock socket: %m");
        }
        log_debug("Time service: mode %s, clock %s.", tsync_mode_to_string(mode), clock_driver_name(clock));
        *ret = TAKE_PTR(t);
        return 0;
}

struct tsync *tsync_free(struct tsync *t) {
        if (!t)
                return NULL;
        if (t->chronyc_pid > 0) {
                kill(t->chronyc_pid, SIGKILL);
                (void) waitpid(t->chronyc_pid, NULL, 0);
        }
        chrony_sock_free(t->chrony);
        tsync_config_done(&t->cfg);
        free(t);
        return NULL;
}

static int64_t now_ns(struct tsync *t, clockid_t id) {
        int64_t v = 0;
        (void) clock_read(t->clock, id, &v);
        return v;
}

static void record(struct tsync *t, enum tsync_action action, enum tsync_source source,
                   int64_t before, int64_t after, const char *reason) {
        struct tsync_event *e;
        if (t->hist_n < TSYNC_HISTORY_MAX)
                e = &t->history[(t->hist_head + t->hist_n++) % TSYNC_HISTORY_MAX];
        else {
                e = &t->history[t->hist_head];
                t->hist_head = (t->hist_head + 1) % TSYNC_HISTORY_MAX;
        }
        *e = (struct tsync_event) {
                .time_ns = now_ns(t, CLOCK_REALTIME),
                .offset_before_ns = before,
                .offset_after_ns = after,
                .action = action,
                .source = source,
        };
        snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
        if (action == TSYNC_ACTION_STEP)
                t->steps++;
}

static enum tsync_action reject(struct tsync *t, enum tsync_source source, int64_t offset, const char *reason) {
        t->rejected++;
        log_info("Rejected %s (offset %+.6f s): %s.", tsync_source_to_string(source),
                 (double) offset / 1e9, reason);
        record(t, TSYNC_ACTION_REJECTED, source, offset, offset, reason);
        return TSYNC_ACTION_REJECTED;
}

pid_t tsync_reap_children(struct tsync *t) {
        if (t->chronyc_pid <= 0)
                return 0;
        int st, r = chronyc_reap(t->chronyc_pid, &st);
        if (r > 0) {
                if (st != 0)
                        log_warning("chronyc makestep exited with status %d.", st);
                t->chronyc_pid = 0;
        } else if (r < 0 || now_ns(t, CLOCK_BOOTTIME) > t->chronyc_deadline_ns) {
                log_warning("chronyc makestep did not finish in time, killing it.");
                kill(t->chronyc_pid, SIGKILL);
                (void) waitpid(t->chronyc_pid, NULL, 0);
                t->chronyc_pid = 0;
        }
        return t->chronyc_pid;
}

/* Sanity limits that hold whatever the filter thinks. NULL when the sample may pass. */
static const char *insane(struct tsync *t, const struct host_time_sample *s, int64_t offset, bool sync,
                          char *buf, size_t size) {
        if (s->host_time_ns < HOST_TIME_MIN_NS || s->host_time_ns > HOST_TIME_MAX_NS)
                return "host time outside 2020..2200";
        /* A SYNC may follow a restore on a host whose clock is behind the source's; a
         * SAMPLE never legitimately goes back. */
        if (!sync && t->have_last_host && s->host_time_ns < t->last_host_ns) {
                snprintf(buf, size, "host time went backwards by %.6f s",
                         (double) (t->last_host_ns - s->host_time_ns) / 1e9);
                return buf;
        }
        /* SYNC is the host saying "this is the time" (after a restore the guest may be
         * days off), so only the absolute range above applies to it. */
        if (!sync && llabs(offset) > t->cfg.max_offset_ns) {
                snprintf(buf, size, "offset beyond the %.0f s limit", (double) t->cfg.max_offset_ns / 1e9);
                return buf;
        }
        return NULL;
}

static void feed_chrony(struct tsync *t, const struct filter_sample *fs, const struct host_time_sample *s,
                        enum tsync_source source, int64_t offset) {
        int r = chrony_sock_send(t->chrony, fs->real_ns, offset, s->leap);
        if (r < 0) {
                if (!t->chrony_warned)
                        log_warning_errno(r, "Cannot feed chronyd through %s: %m", t->cfg.chrony_refclock_path);
                t->chrony_warned = true;
                record(t, TSYNC_ACTION_NONE, source, offset, offset, "chronyd not listening");
        } else {
                t->chrony_warned = false;
                record(t, TSYNC_ACTION_FED, source, offset, offset, NULL);
        }

        if (!t->resume_pending)
                return;
        t->resume_pending = false;
        t->corrected_since_resume = true;
        t->debounce_until_ns = now_ns(t, CLOCK_BOOTTIME) + t->cfg.resume_debounce_ns;
        if (tsync_reap_children(t) > 0)
                return;
        pid_t pid;
        r = chronyc_makestep_spawn(t->cfg.chronyc_socket, &pid);
        if (r < 0) {
                log_warning_errno(r, "Cannot run chronyc makestep: %m");
                return;
        }
        t->chronyc_pid = pid;
        t->chronyc_deadline_ns = now_ns(t, CLOCK_BOOTTIME) + t->cfg.chronyc_timeout_ns;
        record(t, TSYNC_ACTION_MAKESTEP, TSYNC_SOURCE_RESUME, offset, offset, NULL);
}

static enum tsync_action discipline(struct tsync *t, const struct filter_sample *fs, bool forced,
                                    enum tsync_source source, int64_t offset) {
        struct policy_result res;
        struct filter_estimate est;
        const struct filter_estimate *e = NULL;
        int64_t before = offset;

        if (forced) {
                /* A step acts on this one sample: the past may be from before a pause. */
                filter_reset(&t->filter);
                (void) filter_add(&t->filter, fs, NULL);
        } else {
                int64_t dev;
                enum filter_verdict v = filter_add(&t->filter, fs, &dev);
                if (v == FILTER_OUTLIER || v == FILTER_DELAY) {
                        char why[64];
                        snprintf(why, sizeof why, "%s (%+.6f s off the others)",
                                 filter_verdict_to_string(v), (double) dev / 1e9);
                        return reject(t, source, offset, why);
                }
                if (v == FILTER_ACCEPTED_RESET)
                        log_info("Host time samples disagree with the history; starting over.");
                if (filter_estimate(&t->filter, fs->raw_ns, fs->real_ns, &est)) {
                        e = &est;
                        before = est.offset_ns;
                        t->last_jitter_ns = est.jitter_ns;
                }
        }

        int r = policy_correct(&t->policy, t->clock, before, forced, e, &res);
        if (r < 0) {
                record(t, TSYNC_ACTION_NONE, source, before, before, "clock adjustment failed");
                return TSYNC_ACTION_NONE;
        }
        t->accepted++;
        t->have_offset = true;
        t->last_offset_ns = before;
        t->last_source = source;
        if (res.action == TSYNC_ACTION_REJECTED)
                return reject(t, source, before, res.reason);
        if (res.action == TSYNC_ACTION_STEP) {
                log_info("Stepped the clock by %+.6f s (%s).", (double) res.applied_ns / 1e9,
                         tsync_source_to_string(source));
                if (t->resume_pending || source == TSYNC_SOURCE_HOST_SYNC) {
                        t->corrected_since_resume = true;
                        t->debounce_until_ns = now_ns(t, CLOCK_BOOTTIME) + t->cfg.resume_debounce_ns;
                }
                t->resume_pending = false;
        } else if (res.reason[0])
                log_info("%s.", res.reason);
        record(t, res.action, source, before, before - (res.action == TSYNC_ACTION_STEP ? res.applied_ns : 0),
               res.reason);
        return res.action;
}

enum tsync_action tsync_handle_sample(struct tsync *t, const struct host_time_sample *s,
                                      const struct tsync_rx *rx) {
        struct tsync_rx now = {};
        if (!rx) {
                now.realtime_ns = now_ns(t, CLOCK_REALTIME);
                now.raw_ns = now_ns(t, CLOCK_MONOTONIC_RAW);
                rx = &now;
        }
        t->samples++;
        tsync_reap_children(t);

        bool sync = s->flags & HOST_TIME_SYNC;
        enum tsync_source source = sync ? TSYNC_SOURCE_HOST_SYNC : TSYNC_SOURCE_HOST_SAMPLE;
        struct filter_sample fs;
        int r = filter_sample_from_host(s, rx, t->cfg.unknown_delay_ns, &fs);
        if (r < 0)
                return reject(t, source, 0, r == -ESTALE ? "reference time stale" : "unusable timestamps");
        int64_t offset = fs.host_ns - fs.real_ns;

        char buf[64];
        const char *why = insane(t, s, offset, sync, buf, sizeof buf);
        if (why)
                return reject(t, source, offset, why);
        t->have_last_host = true;
        t->last_host_ns = s->host_time_ns;

        bool in_debounce = t->corrected_since_resume && now_ns(t, CLOCK_BOOTTIME) < t->debounce_until_ns;
        if (!in_debounce)
                t->corrected_since_resume = false;
        bool forced = t->resume_pending || sync;
        /* The SYNC that follows a resume we already corrected is the same event. */
        if (forced && !t->resume_pending && in_debounce && llabs(offset) <= t->cfg.makestep_ns)
                forced = false;
        if (t->resume_pending)
                source = TSYNC_SOURCE_RESUME;

        switch (t->mode) {
        case TSYNC_MODE_DISCIPLINE:
                return discipline(t, &fs, forced, source, offset);
        case TSYNC_MODE_FEED_CHRONY:
                if (forced)
                        filter_reset(&t->filter);
                else {
                        enum filter_verdict v = filter_add(&t->filter, &fs, NULL);
                        if (v == FILTER_OUTLIER || v == FILTER_DELAY)
                                return reject(t, source, offset, filter_verdict_to_string(v));
                }
                t->accepted++;
                t->have_offset = true;
                t->last_offset_ns = offset;
                t->last_source = source;
                feed_chrony(t, &fs, s, source, offset);
                return TSYNC_ACTION_FED;
        default:
                t->accepted++;
                t->have_offset = true;
                t->last_offset_ns = offset;
                t->last_source = source;
                t->resume_pending = false;
                record(t, TSYNC_ACTION_NONE, source, offset, offset, NULL);
                return TSYNC_ACTION_NONE;
        }
}

void tsync_resume_detected(struct tsync *t) {
        if (t->resume_pending) {
                log_debug("Resume already pending.");
                return;
        }
        if (t->corrected_since_resume && now_ns(t, CLOCK_BOOTTIME) < t->debounce_until_ns) {
                log_debug("Resume reported again after its correction; ignored.");
                return;
        }
        log_info("Resume detected: the next host sample sets the clock.");
        t->resume_pending = true;
        filter_reset(&t->filter);
}

void tsync_get_status(const struct tsync *t, struct tsync_status *ret) {
        *ret = (struct tsync_status) {
                .mode = t->mode,
                .last_source = t->last_source,
                .have_offset = t->have_offset,
                .last_offset_ns = t->last_offset_ns,
                .frequency_ppm = t->policy.freq_ppm,
                .jitter_ns = t->last_jitter_ns,
                .time_constant = t->policy.cfg.time_constant,
                .synchronized = t->mode == TSYNC_MODE_DISCIPLINE && t->policy.synced,
                .resume_pending = t->resume_pending,
                .samples = t->samples,
                .accepted = t->accepted,
                .rejected = t->rejected,
                .steps = t->steps,
        };
}

size_t tsync_history_size(const struct tsync *t) {
        return t->hist_n;
}

const struct tsync_event *tsync_history_get(const struct tsync *t, size_t i) {
        if (i >= t->hist_n)
                return NULL;
        return &t->history[(t->hist_head + i) % TSYNC_HISTORY_MAX];
}

static const char *const mode_names[_TSYNC_MODE_MAX] = {
        [TSYNC_MODE_DISCIPLINE] = "disciplining",
        [TSYNC_MODE_FEED_CHRONY] = "feeding-chrony",
        [TSYNC_MODE_RELAY_KERNEL] = "relay-kernel",
        [TSYNC_MODE_OBSERVE] = "observing",
};

static const char *const action_names[_TSYNC_ACTION_MAX] = {
        [TSYNC_ACTION_NONE] = "none",
        [TSYNC_ACTION_STEP] = "step",
        [TSYNC_ACTION_SLEW] = "slew",
        [TSYNC_ACTION_REJECTED] = "rejected",
        [TSYNC_ACTION_FED] = "fed-chrony",
        [TSYNC_ACTION_MAKESTEP] = "chrony-makestep",
};

static const char *const source_names[_TSYNC_SOURCE_MAX] = {
        [TSYNC_SOURCE_HOST_SYNC] = "host-sync",
        [TSYNC_SOURCE_HOST_SAMPLE] = "host-sample",
        [TSYNC_SOURCE_RESUME] = "resume",
};

static const char *const backward_names[_TSYNC_BACKWARD_MAX] = {
        [TSYNC_BACKWARD_ALLOW] = "allow",
        [TSYNC_BACKWARD_SLEW] = "slew-only",
        [TSYNC_BACKWARD_REFUSE] = "refuse",
};

const char *tsync_mode_to_string(enum tsync_mode m) {
        return m >= 0 && m < _TSYNC_MODE_MAX ? mode_names[m] : NULL;
}

const char *tsync_action_to_string(enum tsync_action a) {
        return a >= 0 && a < _TSYNC_ACTION_MAX ? action_names[a] : NULL;
}

const char *tsync_source_to_string(enum tsync_source s) {
        return s >= 0 && s < _TSYNC_SOURCE_MAX ? source_names[s] : NULL;
}

const char *tsync_backward_to_string(enum tsync_backward b) {
        return b >= 0 && b < _TSYNC_BACKWARD_MAX ? backward_names[b] : NULL;
}

int tsync_backward_from_string(const char *s, enum tsync_backward *ret) {
        for (int i = 0; i < _TSYNC_BACKWARD_MAX; i++)
                if (s && strcmp(s, backward_names[i]) == 0) {
                        *ret = (enum tsync_backward) i;
                        return 0;
                }
        return -EINVAL;
}
