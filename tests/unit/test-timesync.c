/* The time service against the simulated clock: convergence of the slew loop, SYNC
 * steps, sanity rejections, resume debouncing, backward-step policies, history ring.
 * Nothing here touches the machine's clock: every tsync gets a clock_sim driver. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvic/clock.h"
#include "pvic/log.h"
#include "pvic/timesync.h"
#include "../../timesync/chrony.h"

/* 2026-11-23 00:00:00 UTC */
#define T0 (INT64_C(1795392000) * NSEC_PER_SEC)

static bool trace;
#ifndef NSEEDS
#define NSEEDS 4
#endif

/* splitmix64: deterministic, seedable, good enough for jitter. */
static uint64_t rnd(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Uniform in [-width/2, width/2). */
static int64_t jitter(uint64_t *s, int64_t width) {
        return (int64_t) ((double) (rnd(s) >> 11) / 9007199254740992.0 * (double) width) - width / 2;
}

static struct host_time_sample host_sample(int64_t host_ns, unsigned flags) {
        return (struct host_time_sample) { .host_time_ns = host_ns, .flags = flags };
}

struct rig {
        struct clock_driver *clk;
        struct tsync *t;
};

static void rig_init(struct rig *r, int64_t offset_ns, double drift_ppm, const struct tsync_config *cfg) {
        r->clk = clock_sim_new(&(struct clock_sim_params) {
                .true_ns = T0, .offset_ns = offset_ns, .drift_ppm = drift_ppm });
        ck_assert_ptr_nonnull(r->clk);
        struct tsync_config def;
        tsync_config_init(&def);
        ck_assert_int_eq(tsync_new(cfg ? cfg : &def, r->clk, TSYNC_MODE_DISCIPLINE, &r->t), 0);
}

static void rig_done(struct rig *r) {
        r->t = tsync_free(r->t);
        r->clk = clock_driver_free(r->clk);
}

/* One second passes, then the host sends its time with jitter. */
static enum tsync_action tick(struct rig *r, uint64_t *seed, int64_t width, unsigned flags) {
        clock_sim_advance(r->clk, NSEC_PER_SEC);
        struct host_time_sample s = host_sample(clock_sim_true_ns(r->clk) + jitter(seed, width), flags);
        return tsync_handle_sample(r->t, &s, NULL);
}

static unsigned count_actions(const struct tsync *t, enum tsync_action a) {
        unsigned n = 0;
        for (size_t i = 0; i < tsync_history_size(t); i++)
                n += tsync_history_get(t, i)->action == a;
        return n;
}

/* Runs f with stderr going to a buffer, so log lines can be checked. */
static void capture_begin(int *saved, char *path) {
        strcpy(path, "/tmp/pvic-test-timesync.XXXXXX");
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        fflush(stderr);
        *saved = dup(STDERR_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
}

static void capture_end(int saved, char *path, char *out, size_t size) {
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        FILE *f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        size_t n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        fclose(f);
        unlink(path);
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        return remove(p) < 0 ? -1 : 0;
}

static void setup(void) {
        log_set_target_journal(0);
        log_set_max_level(LOG_INFO);
        trace = getenv("TSYNC_TRACE") != NULL;
}

/* Hyper-V 4.0-style stream: the host samples every second with 1 ms (peak to peak)
 * uniform jitter on when it sends, the message takes 0..1 ms to arrive, and the sample
 * carries the reference-counter reading of its host time (the sim's reference counter
 * runs at the true rate). Returns the worst |offset| from sample `from` on. */
static int64_t run_stream(struct rig *r, uint64_t *seed, int n, int from, bool with_ref, int64_t *ret_rms) {
        int64_t worst = 0, since = 0;
        double ss = 0;
        int k = 0;
        for (int i = 1; i <= n; i++) {
                /* Next send instant: one second after the last nominal one, +-0.5 ms. */
                int64_t next = T0 + (int64_t) i * NSEC_PER_SEC + jitter(seed, NSEC_PER_MSEC);
                clock_sim_advance(r->clk, next - clock_sim_true_ns(r->clk));
                struct host_time_sample s = host_sample(clock_sim_true_ns(r->clk), HOST_TIME_SAMPLE);
                int64_t transit = jitter(seed, NSEC_PER_MSEC) + NSEC_PER_MSEC / 2;
                if (with_ref) {
                        s.has_ref_time = true;
                        s.ref_time_ns = (uint64_t) (clock_sim_true_ns(r->clk) - T0);
                } else {
                        /* No reference time: 1 ms of uniform noise on the measured offset.
                         * Symmetric, so the test measures the filter, not a transit bias
                         * that no one-way measurement can see. */
                        s.host_time_ns += transit + jitter(seed, NSEC_PER_MSEC);
                }
                clock_sim_advance(r->clk, transit);
                struct tsync_rx rx = { .has_ref_now = with_ref,
                                       .ref_now_ns = (uint64_t) (clock_sim_true_ns(r->clk) - T0) };
                ck_assert_int_eq(clock_read(r->clk, CLOCK_REALTIME, &rx.realtime_ns), 0);
                ck_assert_int_eq(clock_read(r->clk, CLOCK_MONOTONIC_RAW, &rx.raw_ns), 0);
                enum tsync_action a = tsync_handle_sample(r->t, &s, &rx);
                ck_assert_int_eq(a, TSYNC_ACTION_SLEW);
                int64_t off = clock_sim_offset_ns(r->clk);
                if (trace) {
                        struct tsync_status st;
                        tsync_get_status(r->t, &st);
                        fprintf(stderr, "%3d off %+10.1f us est %+10.1f us freq %+8.3f tc %d jit %.1f\n", i,
                                off / 1e3, st.last_offset_ns / 1e3, st.frequency_ppm, st.time_constant,
                                st.jitter_ns / 1e3);
                }
                if (i >= from) {
                        worst = MAX(worst, llabs(off));
                        ss += (double) off * (double) off;
                        k++;
                }
                since = i;
        }
        (void) since;
        if (ret_rms)
                *ret_rms = k ? (int64_t) sqrt(ss / k) : 0;
        return worst;
}

/* 500 ms off, 100 ppm drift: |offset| < 100 µs within 60 samples, and it stays there. */
START_TEST(test_converges) {
        struct rig r;
        uint64_t seed = 42 + (uint64_t) _i;
        rig_init(&r, 500 * NSEC_PER_MSEC, 100.0, NULL);
        int64_t worst = run_stream(&r, &seed, 180, 60, true, NULL);
        if (getenv("TSYNC_MARGIN")) fprintf(stderr, "clean seed %d worst %lld\n", _i, (long long) worst);
        ck_assert_msg(worst < 100 * NSEC_PER_USEC, "seed %d: worst |offset| after 60 samples: %lld ns",
                      _i, (long long) worst);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 0);
        /* The frequency found cancels the oscillator's 100 ppm. */
        ck_assert_msg(fabs(clock_sim_frequency_ppm(r.clk) + 100.0) < 1.0, "freq %f", clock_sim_frequency_ppm(r.clk));
        ck_assert(clock_sim_synced(r.clk));
        struct tsync_status st;
        tsync_get_status(r.t, &st);
        ck_assert(st.synchronized);
        ck_assert_int_eq(st.mode, TSYNC_MODE_DISCIPLINE);
        rig_done(&r);
}
END_TEST

/* The same without reference times, the jitter landing in the measured offsets
 * (sigma 289 µs a sample). 64 samples of regression cannot know the phase better than
 * about 2 sigma / 8 = 72 µs, so the bound is on the RMS, with a looser worst case. */
START_TEST(test_converges_noisy) {
        struct rig r;
        uint64_t seed = 42 + (uint64_t) _i;
        int64_t rms;
        rig_init(&r, 500 * NSEC_PER_MSEC, 100.0, NULL);
        int64_t worst = run_stream(&r, &seed, 180, 60, false, &rms);
        if (getenv("TSYNC_MARGIN")) fprintf(stderr, "noisy seed %d worst %lld rms %lld\n", _i, (long long) worst, (long long) rms);
        ck_assert_msg(worst < 300 * NSEC_PER_USEC, "seed %d: worst |offset| after 60 samples: %lld ns",
                      _i, (long long) worst);
        ck_assert_msg(rms < 150 * NSEC_PER_USEC, "seed %d: RMS offset after 60 samples: %lld ns",
                      _i, (long long) rms);
        ck_assert_msg(fabs(clock_sim_frequency_ppm(r.clk) + 100.0) < 5.0, "freq %f", clock_sim_frequency_ppm(r.clk));
        rig_done(&r);
}
END_TEST

/* Without a controller the same clock ends far away: the test above can fail. */
START_TEST(test_uncontrolled_drifts) {
        struct clock_driver *c = clock_sim_new(&(struct clock_sim_params) {
                .true_ns = T0, .offset_ns = 500 * NSEC_PER_MSEC, .drift_ppm = 100.0 });
        clock_sim_advance(c, 60 * NSEC_PER_SEC);
        ck_assert_int_ge(clock_sim_offset_ns(c), 500 * NSEC_PER_MSEC + 5 * NSEC_PER_MSEC);
        clock_driver_free(c);
}
END_TEST

START_TEST(test_sync_steps) {
        struct rig r;
        uint64_t seed = 7;
        rig_init(&r, -3 * NSEC_PER_SEC / 10, 20.0, NULL);     /* 300 ms behind: would be slewed */
        for (int i = 0; i < 5; i++)
                tick(&r, &seed, NSEC_PER_MSEC / 10, HOST_TIME_SAMPLE);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 0);
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        int64_t off = clock_sim_offset_ns(r.clk);
        ck_assert_int_lt(off, -10 * NSEC_PER_MSEC);            /* still slewing */
        struct host_time_sample s = host_sample(clock_sim_true_ns(r.clk), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_STEP);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 1);
        ck_assert_int_lt(llabs(clock_sim_offset_ns(r.clk)), 10 * NSEC_PER_USEC);
        const struct tsync_event *e = tsync_history_get(r.t, tsync_history_size(r.t) - 1);
        ck_assert_int_eq(e->action, TSYNC_ACTION_STEP);
        ck_assert_int_eq(e->source, TSYNC_SOURCE_HOST_SYNC);
        ck_assert_int_lt(llabs(e->offset_after_ns), 10 * NSEC_PER_USEC);
        ck_assert_int_lt(llabs(e->offset_before_ns + off), NSEC_PER_MSEC);
        /* Told the kernel it is synchronised again after the step reset STA_UNSYNC. */
        ck_assert(clock_sim_synced(r.clk));
        rig_done(&r);
}
END_TEST

START_TEST(test_makestep_threshold) {
        struct rig r;
        uint64_t seed = 9;
        rig_init(&r, 2 * NSEC_PER_SEC, 0.0, NULL);            /* 2 s ahead > 1 s makestep */
        ck_assert_int_eq(tick(&r, &seed, 0, HOST_TIME_SAMPLE), TSYNC_ACTION_STEP);
        ck_assert_int_lt(llabs(clock_sim_offset_ns(r.clk)), 10 * NSEC_PER_USEC);
        rig_done(&r);
}
END_TEST

START_TEST(test_absurd_rejected) {
        struct rig r;
        uint64_t seed = 11;
        rig_init(&r, 0, 0.0, NULL);
        for (int i = 0; i < 8; i++)
                tick(&r, &seed, 0, HOST_TIME_SAMPLE);
        int64_t off = clock_sim_offset_ns(r.clk);
        unsigned calls = clock_sim_adjtime_calls(r.clk);
        size_t hist = tsync_history_size(r.t);
        char path[64], out[4096];
        int saved;

        capture_begin(&saved, path);
        /* Years ahead. */
        struct host_time_sample s = host_sample(clock_sim_true_ns(r.clk) + INT64_C(3) * 365 * 86400 * NSEC_PER_SEC,
                                                HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_REJECTED);
        /* Before 2020: an unset host clock. */
        s = host_sample(INT64_C(86400) * NSEC_PER_SEC, HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_REJECTED);
        /* Backwards compared with the previous sample. */
        s = host_sample(clock_sim_true_ns(r.clk) - 5 * NSEC_PER_SEC, HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_REJECTED);
        capture_end(saved, path, out, sizeof out);

        ck_assert_msg(strstr(out, "offset beyond"), "log: %s", out);
        ck_assert_msg(strstr(out, "outside 2020..2200"), "log: %s", out);
        ck_assert_msg(strstr(out, "went backwards"), "log: %s", out);
        /* The clock was not touched at all. */
        ck_assert_int_eq(clock_sim_offset_ns(r.clk), off);
        ck_assert_uint_eq(clock_sim_adjtime_calls(r.clk), calls);
        ck_assert_uint_eq(tsync_history_size(r.t), hist + 3);
        ck_assert_uint_eq(count_actions(r.t, TSYNC_ACTION_REJECTED), 3);
        ck_assert_str_eq(tsync_history_get(r.t, hist + 2)->reason, "host time went backwards by 5.000000 s");

        /* A single wild sample inside the limits is a filter outlier, also untouched. */
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(r.clk) + 200 * NSEC_PER_MSEC, HOST_TIME_SAMPLE);
        calls = clock_sim_adjtime_calls(r.clk);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_REJECTED);
        ck_assert_uint_eq(clock_sim_adjtime_calls(r.clk), calls);
        ck_assert_ptr_nonnull(strstr(tsync_history_get(r.t, tsync_history_size(r.t) - 1)->reason, "outlier"));
        rig_done(&r);
}
END_TEST

START_TEST(test_sync_may_be_far) {
        /* A guest restored from an old snapshot is months behind: SYNC still sets it. */
        struct rig r;
        rig_init(&r, -INT64_C(200) * 86400 * NSEC_PER_SEC, 0.0, NULL);
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        struct host_time_sample s = host_sample(clock_sim_true_ns(r.clk), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_STEP);
        ck_assert_int_lt(llabs(clock_sim_offset_ns(r.clk)), 10 * NSEC_PER_USEC);
        rig_done(&r);
}
END_TEST

START_TEST(test_resume_one_correction) {
        struct rig r;
        uint64_t seed = 5;
        rig_init(&r, 0, 30.0, NULL);
        for (int i = 0; i < 20; i++)
                tick(&r, &seed, NSEC_PER_MSEC / 10, HOST_TIME_SAMPLE);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 0);
        size_t hist0 = tsync_history_size(r.t);

        struct resume_detector *d;
        ck_assert_int_eq(resume_detector_new(r.clk, NSEC_PER_SEC, &d), 0);
        ck_assert_int_eq(resume_detector_check(d, NULL), 0);
        /* Paused 90 s; the wall clock was not told (the guest is 90 s behind). */
        clock_sim_suspend(r.clk, 90 * NSEC_PER_SEC, 0);
        int64_t slept;
        ck_assert_int_eq(resume_detector_check(d, &slept), 1);
        ck_assert_int_eq(slept, 90 * NSEC_PER_SEC);
        ck_assert_int_eq(resume_detector_check(d, NULL), 0);

        /* Both detectors report it, then the host's SYNC arrives, then samples, then
         * the clock-was-set timerfd fires because of our own step. */
        tsync_resume_detected(r.t);
        tsync_resume_detected(r.t);
        struct tsync_status st;
        tsync_get_status(r.t, &st);
        ck_assert(st.resume_pending);
        ck_assert_int_eq(tick(&r, &seed, 0, HOST_TIME_SYNC), TSYNC_ACTION_STEP);
        tsync_resume_detected(r.t);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(tick(&r, &seed, NSEC_PER_MSEC / 10, HOST_TIME_SAMPLE), TSYNC_ACTION_SLEW);
        /* A late SYNC for the same resume is not a second correction either. */
        ck_assert_int_eq(tick(&r, &seed, NSEC_PER_MSEC / 10, HOST_TIME_SYNC), TSYNC_ACTION_SLEW);

        ck_assert_uint_eq(clock_sim_steps(r.clk), 1);
        unsigned steps = 0;
        for (size_t i = hist0; i < tsync_history_size(r.t); i++) {
                const struct tsync_event *e = tsync_history_get(r.t, i);
                if (e->action == TSYNC_ACTION_STEP) {
                        steps++;
                        ck_assert_int_eq(e->source, TSYNC_SOURCE_RESUME);
                        ck_assert_int_gt(e->offset_before_ns, 89 * NSEC_PER_SEC);
                }
        }
        ck_assert_uint_eq(steps, 1);
        ck_assert_int_lt(llabs(clock_sim_offset_ns(r.clk)), NSEC_PER_MSEC);
        tsync_get_status(r.t, &st);
        ck_assert(!st.resume_pending);

        /* A later, separate resume is corrected again: the debounce does expire. */
        clock_sim_advance(r.clk, 30 * NSEC_PER_SEC);
        ck_assert_int_eq(resume_detector_dispatch(d, r.t), 0);
        clock_sim_suspend(r.clk, 10 * NSEC_PER_SEC, 0);
        ck_assert_int_eq(resume_detector_dispatch(d, r.t), 1);
        ck_assert_int_eq(resume_detector_dispatch(d, r.t), 0);
        ck_assert_int_eq(tick(&r, &seed, 0, HOST_TIME_SAMPLE), TSYNC_ACTION_STEP);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 2);
        resume_detector_free(d);
        rig_done(&r);
}
END_TEST

START_TEST(test_backward_policies) {
        struct tsync_config cfg;
        struct rig r;

        /* refuse: a 5 s backward step is refused, a 0.5 s... is slewed; forward still steps. */
        tsync_config_init(&cfg);
        cfg.backward = TSYNC_BACKWARD_REFUSE;
        cfg.backward_max_ns = 2 * NSEC_PER_SEC;
        rig_init(&r, 5 * NSEC_PER_SEC, 0.0, &cfg);
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        struct host_time_sample s = host_sample(clock_sim_true_ns(r.clk), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_REJECTED);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 0);
        ck_assert_ptr_nonnull(strstr(tsync_history_get(r.t, 0)->reason, "refused backward step"));
        rig_done(&r);

        rig_init(&r, 1500 * NSEC_PER_MSEC, 0.0, &cfg);   /* within the 2 s limit: stepped */
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(r.clk), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_STEP);
        rig_done(&r);

        /* slew-only: never a backward step, but forward ones still happen. */
        cfg.backward = TSYNC_BACKWARD_SLEW;
        rig_init(&r, 5 * NSEC_PER_SEC, 0.0, &cfg);
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(r.clk), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_SLEW);
        ck_assert_uint_eq(clock_sim_steps(r.clk), 0);
        rig_done(&r);
        rig_init(&r, -5 * NSEC_PER_SEC, 0.0, &cfg);
        clock_sim_advance(r.clk, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(r.clk), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(r.t, &s, NULL), TSYNC_ACTION_STEP);
        rig_done(&r);

        enum tsync_backward b;
        ck_assert_int_eq(tsync_backward_from_string("slew-only", &b), 0);
        ck_assert_int_eq(b, TSYNC_BACKWARD_SLEW);
        ck_assert_int_eq(tsync_backward_from_string("sideways", &b), -EINVAL);
}
END_TEST

START_TEST(test_history_bounded) {
        struct rig r;
        uint64_t seed = 3;
        rig_init(&r, 0, 0.0, NULL);
        for (int i = 0; i < TSYNC_HISTORY_MAX + 10; i++)
                tick(&r, &seed, NSEC_PER_MSEC / 10, HOST_TIME_SAMPLE);
        ck_assert_uint_eq(tsync_history_size(r.t), TSYNC_HISTORY_MAX);
        ck_assert_ptr_null(tsync_history_get(r.t, TSYNC_HISTORY_MAX));
        /* Oldest first, times increasing. */
        for (size_t i = 1; i < tsync_history_size(r.t); i++)
                ck_assert_int_gt(tsync_history_get(r.t, i)->time_ns, tsync_history_get(r.t, i - 1)->time_ns);
        struct tsync_status st;
        tsync_get_status(r.t, &st);
        ck_assert_uint_eq(st.samples, TSYNC_HISTORY_MAX + 10);
        ck_assert_str_eq(tsync_action_to_string(TSYNC_ACTION_SLEW), "slew");
        ck_assert_str_eq(tsync_source_to_string(TSYNC_SOURCE_RESUME), "resume");
        ck_assert_str_eq(tsync_mode_to_string(TSYNC_MODE_FEED_CHRONY), "feeding-chrony");
        rig_done(&r);
}
END_TEST

START_TEST(test_relay_mode_records_only) {
        struct clock_driver *c = clock_sim_new(&(struct clock_sim_params) { .true_ns = T0, .offset_ns = NSEC_PER_SEC });
        struct tsync_config cfg;
        struct tsync *t;
        tsync_config_init(&cfg);
        ck_assert_int_eq(tsync_new(&cfg, c, TSYNC_MODE_RELAY_KERNEL, &t), 0);
        clock_sim_advance(c, NSEC_PER_SEC);
        struct host_time_sample s = host_sample(clock_sim_true_ns(c), HOST_TIME_SYNC);
        ck_assert_int_eq(tsync_handle_sample(t, &s, NULL), TSYNC_ACTION_NONE);
        ck_assert_uint_eq(clock_sim_adjtime_calls(c), 0);
        struct tsync_status st;
        tsync_get_status(t, &st);
        ck_assert(st.have_offset);
        ck_assert_int_eq(st.last_offset_ns, -NSEC_PER_SEC);
        tsync_free(t);
        clock_driver_free(c);
}
END_TEST

/* The clock helpers build the timex the kernel expects (checked through the sim). */
START_TEST(test_clock_sim_kernel_rules) {
        struct clock_driver *c = clock_sim_new(&(struct clock_sim_params) { .true_ns = T0 });
        /* ADJ_OFFSET is clamped to 0.5 s; tc 0 slews a quarter of the rest each second. */
        ck_assert_int_eq(clock_slew(c, 2 * NSEC_PER_SEC, 0), 0);
        clock_sim_advance(c, NSEC_PER_SEC);        /* first tick schedules 125 ms */
        clock_sim_advance(c, NSEC_PER_SEC);        /* ... applied during this second */
        ck_assert_int_eq(clock_sim_offset_ns(c), 125 * NSEC_PER_MSEC);
        for (int i = 0; i < 60; i++)
                clock_sim_advance(c, NSEC_PER_SEC);
        ck_assert_int_gt(clock_sim_offset_ns(c), 499 * NSEC_PER_MSEC);
        ck_assert_int_le(clock_sim_offset_ns(c), 500 * NSEC_PER_MSEC);
        /* Frequency in 2^-16 ppm, clamped at 500 ppm. */
        ck_assert_int_eq(clock_set_frequency(c, 12.5), 0);
        double f;
        ck_assert_int_eq(clock_get_frequency(c, &f), 0);
        ck_assert(f == 12.5);
        ck_assert_int_eq(clock_set_frequency(c, 9000), 0);
        ck_assert(clock_sim_frequency_ppm(c) == 500.0);
        /* Negative steps are normalised for ADJ_SETOFFSET (the sim refuses otherwise). */
        int64_t before = clock_sim_offset_ns(c);
        ck_assert_int_eq(clock_step(c, -1500 * NSEC_PER_MSEC - 7), 0);
        ck_assert_int_eq(clock_sim_offset_ns(c), before - 1500 * NSEC_PER_MSEC - 7);
        ck_assert(!clock_sim_synced(c));
        ck_assert_int_eq(clock_set_sync_status(c, true, NSEC_PER_MSEC, 0), 0);
        ck_assert(clock_sim_synced(c));
        int64_t mono, boot, raw;
        ck_assert_int_eq(clock_read(c, CLOCK_MONOTONIC, &mono), 0);
        ck_assert_int_eq(clock_read(c, CLOCK_BOOTTIME, &boot), 0);
        ck_assert_int_eq(clock_read(c, CLOCK_MONOTONIC_RAW, &raw), 0);
        ck_assert_int_eq(mono, boot);
        ck_assert_int_eq(clock_read(c, CLOCK_TAI, &raw), -EINVAL);
        clock_driver_free(c);
}
END_TEST

START_TEST(test_clock_set_fd) {
        /* Only the plumbing: nobody sets the clock in a test, so it must stay quiet. */
        int fd = resume_clock_set_fd_open();
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(resume_clock_set_fd_dispatch(fd), 0);
        close(fd);
}
END_TEST


static char tmpdir[64];

static void mktmp(void) {
        strcpy(tmpdir, "/tmp/pvic-test-timesync.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rmtmp(void) {
        ck_assert_int_eq(nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static void put(const char *rel, const char *text) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        for (char *q = p + strlen(tmpdir) + 1; *q; q++)
                if (*q == '/') {
                        *q = '\0';
                        (void) mkdir(p, 0755);
                        *q = '/';
                }
        FILE *f = fopen(p, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
}

START_TEST(test_ntp_detect) {
        const char *name = NULL;
        mktmp();
        put("proc/1/comm", "systemd\n");
        put("proc/77/comm", "sshd\n");
        put("proc/self/comm", "chronyd\n");              /* not a pid directory */
        ck_assert_int_eq(ntp_detect(tmpdir, &name), 0);
        ck_assert_int_eq(tsync_pick_mode(tmpdir, false), TSYNC_MODE_DISCIPLINE);
        ck_assert_int_eq(tsync_pick_mode(tmpdir, true), TSYNC_MODE_RELAY_KERNEL);
        /* A stale pid file is not a running daemon. */
        put("run/chrony/chronyd.pid", "4242\n");
        ck_assert_int_eq(ntp_detect(tmpdir, &name), 0);
        /* comm is truncated to 15 characters by the kernel. */
        put("proc/300/comm", "systemd-timesyn\n");
        ck_assert_int_eq(ntp_detect(tmpdir, &name), 1);
        ck_assert_str_eq(name, "systemd-timesyncd");
        ck_assert_int_eq(tsync_pick_mode(tmpdir, true), TSYNC_MODE_OBSERVE);
        /* chronyd (via its pid file, pid alive) wins: it can be fed. */
        put("proc/4242/comm", "chronyd\n");
        ck_assert_int_eq(ntp_detect(tmpdir, &name), 1);
        ck_assert_str_eq(name, "chronyd");
        ck_assert_int_eq(tsync_pick_mode(tmpdir, false), TSYNC_MODE_FEED_CHRONY);
        rmtmp();
        ck_assert_int_lt(ntp_detect("/nonexistent-root", &name), 0);
}
END_TEST

/* FEED_CHRONY: accepted samples become chrony's 40-byte SOCK datagrams, the clock is
 * never touched, absurd samples are not fed, a resume asks for one makestep. */
START_TEST(test_feed_chrony) {
        mktmp();
        char path[128];
        snprintf(path, sizeof path, "%s/refclock.sock", tmpdir);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fd, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);

        struct clock_driver *c = clock_sim_new(&(struct clock_sim_params) {
                .true_ns = T0, .offset_ns = -25 * NSEC_PER_MSEC });
        struct tsync_config cfg;
        struct tsync *t;
        tsync_config_init(&cfg);
        cfg.chrony_refclock_path = path;
        /* chronyc must never reach a real chronyd from a test: point it nowhere. */
        char cmdsock[128];
        snprintf(cmdsock, sizeof cmdsock, "%s/no-chronyd.sock", tmpdir);
        cfg.chronyc_socket = cmdsock;
        ck_assert_int_eq(tsync_new(&cfg, c, TSYNC_MODE_FEED_CHRONY, &t), 0);

        clock_sim_advance(c, NSEC_PER_SEC);
        struct host_time_sample s = host_sample(clock_sim_true_ns(c), HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(t, &s, NULL), TSYNC_ACTION_FED);
        struct chrony_sock_sample m;
        ck_assert_int_eq(recv(fd, &m, sizeof m + 8, 0), 40);
        ck_assert_int_eq(m.magic, 0x534f434b);
        ck_assert_int_eq(m.pulse, 0);
        ck_assert_int_eq(m.leap, 0);
        ck_assert_msg(fabs(m.offset - 0.025) < 1e-6, "offset %f", m.offset);
        int64_t real;
        clock_read(c, CLOCK_REALTIME, &real);
        ck_assert_int_eq(m.tv.tv_sec, real / NSEC_PER_SEC);

        /* Years off: rejected, nothing sent. */
        s = host_sample(clock_sim_true_ns(c) + INT64_C(5) * 365 * 86400 * NSEC_PER_SEC, HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(t, &s, NULL), TSYNC_ACTION_REJECTED);
        ck_assert_int_lt(recv(fd, &m, sizeof m, 0), 0);
        ck_assert_int_eq(errno, EAGAIN);
        ck_assert_uint_eq(clock_sim_adjtime_calls(c), 0);

        /* Resume: the next sample is fed, then one makestep is requested. */
        tsync_resume_detected(t);
        tsync_resume_detected(t);
        clock_sim_advance(c, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(c), HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(t, &s, NULL), TSYNC_ACTION_FED);
        ck_assert_int_eq(recv(fd, &m, sizeof m, 0), 40);
        ck_assert_uint_eq(count_actions(t, TSYNC_ACTION_MAKESTEP), 1);
        ck_assert_uint_eq(count_actions(t, TSYNC_ACTION_FED), 2);
        tsync_resume_detected(t);                          /* debounced */
        clock_sim_advance(c, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(c), HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(t, &s, NULL), TSYNC_ACTION_FED);
        ck_assert_uint_eq(count_actions(t, TSYNC_ACTION_MAKESTEP), 1);
        ck_assert_uint_eq(clock_sim_adjtime_calls(c), 0);

        /* chronyd gone: not an error that stops the service. */
        close(fd);
        unlink(path);
        clock_sim_advance(c, NSEC_PER_SEC);
        s = host_sample(clock_sim_true_ns(c), HOST_TIME_SAMPLE);
        ck_assert_int_eq(tsync_handle_sample(t, &s, NULL), TSYNC_ACTION_FED);
        ck_assert_str_eq(tsync_history_get(t, tsync_history_size(t) - 1)->reason, "chronyd not listening");
        tsync_free(t);                                     /* also reaps chronyc */
        clock_driver_free(c);
        rmtmp();
}
END_TEST

static Suite *timesync_suite(void) {
        Suite *s = suite_create("timesync");
        TCase *tc = tcase_create("core");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_loop_test(tc, test_converges, 0, NSEEDS);
        tcase_add_loop_test(tc, test_converges_noisy, 0, NSEEDS);
        tcase_add_test(tc, test_uncontrolled_drifts);
        tcase_add_test(tc, test_sync_steps);
        tcase_add_test(tc, test_makestep_threshold);
        tcase_add_test(tc, test_absurd_rejected);
        tcase_add_test(tc, test_sync_may_be_far);
        tcase_add_test(tc, test_resume_one_correction);
        tcase_add_test(tc, test_backward_policies);
        tcase_add_test(tc, test_history_bounded);
        tcase_add_test(tc, test_relay_mode_records_only);
        tcase_add_test(tc, test_clock_sim_kernel_rules);
        tcase_add_test(tc, test_clock_set_fd);
        tcase_add_test(tc, test_ntp_detect);
        tcase_add_test(tc, test_feed_chrony);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(timesync_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
