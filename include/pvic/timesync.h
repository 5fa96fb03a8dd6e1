/* The time service (issue 6): turns host time samples into clock corrections, or into
 * samples for a running chronyd. Pure: it never reads a wire, never owns an event loop;
 * the daemon hands it samples and resume notifications and shows its status/history.
 * docs/timesync.md has the math, the policies and their defaults. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvic/clock.h"
#include "pvic/hostmsg.h"
#include "pvic/macro.h"

enum tsync_mode {
        TSYNC_MODE_DISCIPLINE,   /* pvicd steps/slews the clock itself */
        TSYNC_MODE_FEED_CHRONY,  /* an NTP daemon runs: feed chronyd's SOCK refclock */
        TSYNC_MODE_RELAY_KERNEL, /* hv_utils owns timesync: record only */
        TSYNC_MODE_OBSERVE,      /* an NTP daemon we cannot feed (ntpd, timesyncd): record only */
        _TSYNC_MODE_MAX,
};

enum tsync_backward {
        TSYNC_BACKWARD_ALLOW,    /* backward steps like forward ones */
        TSYNC_BACKWARD_SLEW,     /* never step backwards: slew (at most 500 µs/s) */
        TSYNC_BACKWARD_REFUSE,   /* step back at most backward_max_ns, refuse beyond */
        _TSYNC_BACKWARD_MAX,
};

enum tsync_action {
        TSYNC_ACTION_NONE,
        TSYNC_ACTION_STEP,
        TSYNC_ACTION_SLEW,
        TSYNC_ACTION_REJECTED,
        TSYNC_ACTION_FED,        /* handed to chronyd */
        TSYNC_ACTION_MAKESTEP,   /* asked chronyd to step (chronyc makestep) */
        _TSYNC_ACTION_MAX,
};

enum tsync_source {
        TSYNC_SOURCE_HOST_SYNC,
        TSYNC_SOURCE_HOST_SAMPLE,
        TSYNC_SOURCE_RESUME,
        _TSYNC_SOURCE_MAX,
};

struct tsync_config {
        int64_t makestep_ns;         /* step when |offset| exceeds this (1 s) */
        int64_t max_offset_ns;       /* SAMPLE/probe sanity limit (1 year); SYNC exempt */
        enum tsync_backward backward;
        int64_t backward_max_ns;     /* TSYNC_BACKWARD_REFUSE limit (1 s) */
        unsigned window;             /* filter window, samples (8; 4..64) */
        double outlier_k;            /* reject beyond k x MAD (5) */
        int64_t outlier_floor_ns;    /* MAD floor for that test (1 ms) */
        int64_t delay_floor_ns;      /* delay may exceed the minimum by this much (500 µs) */
        int64_t unknown_delay_ns;    /* delay assumed when nothing is known (1 ms) */
        int time_constant;           /* kernel PLL: slews 2^-(2+tc) of the offset a second (0) */
        int64_t resume_debounce_ns;  /* one correction per resume within this (10 s) */
        /* FEED_CHRONY: chronyd's `refclock SOCK` path; chronyc and its command socket
         * (NULL: chronyc's default). Local configuration, never host data. */
        char *chrony_refclock_path;
        char *chronyc_socket;
        int64_t chronyc_timeout_ns;  /* kill chronyc after this (5 s) */
};

void tsync_config_init(struct tsync_config *c);
void tsync_config_done(struct tsync_config *c);

/* What the receiving side knows about one sample, read as close to the arrival as
 * possible. All local times are this machine's clocks, in ns. */
struct tsync_rx {
        int64_t realtime_ns;         /* CLOCK_REALTIME at receive */
        int64_t raw_ns;              /* CLOCK_MONOTONIC_RAW at receive */
        int64_t send_realtime_ns;    /* request/response exchanges: when we asked; 0 = unknown */
        bool has_ref_now;            /* Hyper-V 4.0: the partition reference counter read */
        uint64_t ref_now_ns;         /*   together with realtime_ns, in ns */
};

struct tsync_event {
        int64_t time_ns;             /* local CLOCK_REALTIME after the action */
        int64_t offset_before_ns;    /* host - local; + means the local clock is behind */
        int64_t offset_after_ns;     /* what is left right after it (a slew needs time) */
        enum tsync_action action;
        enum tsync_source source;
        char reason[64];             /* short, for rejections and refusals */
};

#define TSYNC_HISTORY_MAX 64

struct tsync_status {
        enum tsync_mode mode;
        enum tsync_source last_source;
        bool have_offset;
        int64_t last_offset_ns;      /* last estimate (or measurement when feeding) */
        double frequency_ppm;        /* what we set (discipline) */
        int64_t jitter_ns;
        int time_constant;
        bool synchronized;
        bool resume_pending;
        uint64_t samples, accepted, rejected, steps;
};

struct tsync;

/* `clock` is borrowed and must outlive the service. Copies cfg. */
int tsync_new(const struct tsync_config *cfg, struct clock_driver *clock, enum tsync_mode mode,
              struct tsync **ret);
struct tsync *tsync_free(struct tsync *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tsync *, tsync_free);

/* One host sample. rx may be NULL: then the clocks are read now (fine when called right
 * after the backend decoded the message). Returns the action taken. */
enum tsync_action tsync_handle_sample(struct tsync *t, const struct host_time_sample *s,
                                      const struct tsync_rx *rx);
/* A resume/migration was detected (resume.c, logind's PrepareForSleep(false), a
 * backend's resume). The next sample steps (or chronyc makestep runs) once, however
 * many detectors report the same resume. */
void tsync_resume_detected(struct tsync *t);
/* Reaps a finished chronyc; kills one that ran past its timeout. Call from a child event
 * or a timer; cheap when nothing runs. Returns the pid still running, or 0. */
pid_t tsync_reap_children(struct tsync *t);

void tsync_get_status(const struct tsync *t, struct tsync_status *ret);
/* Oldest first; i < tsync_history_size(). */
size_t tsync_history_size(const struct tsync *t);
const struct tsync_event *tsync_history_get(const struct tsync *t, size_t i);

const char *tsync_mode_to_string(enum tsync_mode m);
const char *tsync_action_to_string(enum tsync_action a);
const char *tsync_source_to_string(enum tsync_source s);
int tsync_backward_from_string(const char *s, enum tsync_backward *ret);
const char *tsync_backward_to_string(enum tsync_backward b);

/* ntp_detect.c: is an NTP daemon running on the machine under `root` ("" or NULL = /)?
 * Returns 1 and its name ("chronyd", "ntpd", "systemd-timesyncd", "ntpsec"), 0 when none,
 * negative errno when /proc cannot be read. */
int ntp_detect(const char *root, const char **ret_name);
/* The mode pvicd should use on this machine: FEED_CHRONY when chronyd runs, OBSERVE for
 * another NTP daemon, RELAY_KERNEL when hv_utils owns the timesync channel, else
 * DISCIPLINE. */
enum tsync_mode tsync_pick_mode(const char *root, bool vmbus_relay);

/* resume.c: resume/jump detection usable from sd-event. */
struct resume_detector;
/* threshold_ns: a jump of BOOTTIME - MONOTONIC above this means we were suspended. */
int resume_detector_new(struct clock_driver *clock, int64_t threshold_ns, struct resume_detector **ret);
struct resume_detector *resume_detector_free(struct resume_detector *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct resume_detector *, resume_detector_free);
/* Compares BOOTTIME - MONOTONIC with the last check: 1 when it jumped (suspended time
 * in *ret_ns when not NULL), 0 otherwise. */
int resume_detector_check(struct resume_detector *d, int64_t *ret_ns);
/* resume_detector_check() and, on a jump, tsync_resume_detected(t). Call it when the
 * clock-set fd fires, when a sample arrives, or from a slow timer: a set clock without
 * slept time (the admin, our own step) is not a resume. Returns 1 on resume. */
int resume_detector_dispatch(struct resume_detector *d, struct tsync *t);
/* A CLOCK_REALTIME timerfd armed far in the future with TFD_TIMER_CANCEL_ON_SET: it
 * becomes readable when anybody sets the clock (read() then fails with ECANCELED). Add
 * it to sd-event (EPOLLIN) and call resume_clock_set_fd_dispatch() when it fires. */
int resume_clock_set_fd_open(void);
/* Returns 1 if the clock was set (and re-arms the fd), 0 if spurious, negative errno. */
int resume_clock_set_fd_dispatch(int fd);
