/* The sample filter alone: sample-to-offset math, minimum-delay selection, outlier and
 * delay rejection, recovery from a real change, frequency estimation, bounds. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "pvic/log.h"
#include "../../timesync/filter.h"

#define T0 (INT64_C(1795392000) * NSEC_PER_SEC)
#define RAW0 (INT64_C(5000) * NSEC_PER_SEC)

static const struct filter_config cfg8 = {
        .window = 8,
        .outlier_k = 5.0,
        .outlier_floor_ns = NSEC_PER_MSEC,
        .delay_floor_ns = 500 * NSEC_PER_USEC,
};

/* A sample i seconds in: the host is `offset` ahead of the local wall clock and
 * runs `ppm` faster than the raw oscillator. */
static struct filter_sample mk(int i, int64_t offset, double ppm, int64_t delay) {
        int64_t dt = (int64_t) i * NSEC_PER_SEC;
        return (struct filter_sample) {
                .raw_ns = RAW0 + dt,
                .real_ns = T0 + dt,
                .host_ns = T0 + dt + offset + (int64_t) llround((double) dt * ppm * 1e-6),
                .delay_ns = delay,
        };
}

START_TEST(test_round_trip_math) {
        struct host_time_sample h = { .host_time_ns = T0 + 10 * NSEC_PER_MSEC };
        struct tsync_rx rx = {
                .send_realtime_ns = T0 - 2 * NSEC_PER_MSEC,
                .realtime_ns = T0 + 2 * NSEC_PER_MSEC,
                .raw_ns = RAW0,
        };
        struct filter_sample s;
        ck_assert_int_eq(filter_sample_from_host(&h, &rx, NSEC_PER_MSEC, &s), 0);
        /* offset = T_host - (t_send + t_recv) / 2 = 10 ms; delay = 4 ms. */
        ck_assert_int_eq(s.host_ns - s.real_ns, 10 * NSEC_PER_MSEC);
        ck_assert_int_eq(s.delay_ns, 4 * NSEC_PER_MSEC);
        ck_assert_int_eq(s.raw_ns, RAW0);

        /* Received before it was sent: nonsense. */
        rx.send_realtime_ns = rx.realtime_ns + 1;
        ck_assert_int_eq(filter_sample_from_host(&h, &rx, NSEC_PER_MSEC, &s), -EINVAL);
}
END_TEST

START_TEST(test_ref_time_math) {
        /* Host read its clock when the reference counter showed 100 s; we received at
         * 100.003 s: the host's time at receive is 3 ms later than its stamp. */
        struct host_time_sample h = { .host_time_ns = T0, .has_ref_time = true,
                                      .ref_time_ns = 100 * (uint64_t) NSEC_PER_SEC };
        struct tsync_rx rx = { .realtime_ns = T0, .raw_ns = RAW0, .has_ref_now = true,
                               .ref_now_ns = h.ref_time_ns + 3 * NSEC_PER_MSEC };
        struct filter_sample s;
        ck_assert_int_eq(filter_sample_from_host(&h, &rx, NSEC_PER_MSEC, &s), 0);
        ck_assert_int_eq(s.host_ns - s.real_ns, 3 * NSEC_PER_MSEC);
        ck_assert_int_eq(s.delay_ns, 0);

        /* Older than Linux's 600 s, or from the future: stale. */
        rx.ref_now_ns = h.ref_time_ns + 601 * NSEC_PER_SEC;
        ck_assert_int_eq(filter_sample_from_host(&h, &rx, NSEC_PER_MSEC, &s), -ESTALE);
        rx.ref_now_ns = h.ref_time_ns - 1;
        ck_assert_int_eq(filter_sample_from_host(&h, &rx, NSEC_PER_MSEC, &s), -ESTALE);

        /* No local reading of the counter: transit counts as 0, with the assumed delay. */
        rx.has_ref_now = false;
        ck_assert_int_eq(filter_sample_from_host(&h, &rx, 1234, &s), 0);
        ck_assert_int_eq(s.host_ns, T0);
        ck_assert_int_eq(s.delay_ns, 1234);
}
END_TEST

START_TEST(test_min_delay_selection) {
        /* True offset 5 ms; each sample's error is half its delay (asymmetric path), so
         * only the lowest-delay samples are right. */
        struct filter f;
        filter_init(&f, &cfg8);
        static const int64_t delays_us[] = { 400, 450, 60, 350, 500, 420, 480, 380 };
        for (int i = 0; i < 8; i++) {
                int64_t d = delays_us[i] * NSEC_PER_USEC;
                struct filter_sample s = mk(i, 5 * NSEC_PER_MSEC + d / 2, 0, d);
                enum filter_verdict v = filter_add(&f, &s, NULL);
                ck_assert_msg(v == FILTER_ACCEPTED, "sample %d: %s", i, filter_verdict_to_string(v));
        }
        struct filter_estimate e;
        ck_assert(filter_estimate(&f, RAW0 + 8 * NSEC_PER_SEC, T0 + 8 * NSEC_PER_SEC, &e));
        ck_assert_uint_eq(e.used, 1);
        ck_assert_int_lt(llabs(e.offset_ns - 5 * NSEC_PER_MSEC), 40 * NSEC_PER_USEC);
}
END_TEST

START_TEST(test_outliers_rejected) {
        struct filter f;
        filter_init(&f, &cfg8);
        for (int i = 0; i < 8; i++) {
                struct filter_sample s = mk(i, 2 * NSEC_PER_MSEC + (i % 2 ? 100 : -100) * NSEC_PER_USEC, 0, NSEC_PER_MSEC);
                ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_ACCEPTED);
        }
        int64_t dev;
        struct filter_sample s = mk(8, 60 * NSEC_PER_MSEC, 0, NSEC_PER_MSEC);
        ck_assert_int_eq(filter_add(&f, &s, &dev), FILTER_OUTLIER);
        ck_assert_int_gt(dev, 57 * NSEC_PER_MSEC);
        ck_assert_uint_eq(filter_size(&f), 8);
        /* Just inside k x max(MAD, floor) = 5 ms: accepted. */
        s = mk(9, 6 * NSEC_PER_MSEC, 0, NSEC_PER_MSEC);
        ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_ACCEPTED);
        /* Far slower than the others' delay. */
        s = mk(10, 2 * NSEC_PER_MSEC, 0, 20 * NSEC_PER_MSEC);
        ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_DELAY);
        ck_assert_uint_eq(filter_size(&f), 9);
}
END_TEST

START_TEST(test_regime_change_accepted) {
        /* The host clock really moved by 50 ms: after window/2 rejections the filter
         * starts over instead of rejecting forever. */
        struct filter f;
        filter_init(&f, &cfg8);
        for (int i = 0; i < 8; i++) {
                struct filter_sample s = mk(i, 0, 0, NSEC_PER_MSEC);
                ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_ACCEPTED);
        }
        for (int i = 8; i < 12; i++) {
                struct filter_sample s = mk(i, 50 * NSEC_PER_MSEC, 0, NSEC_PER_MSEC);
                ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_OUTLIER);
        }
        struct filter_sample s = mk(12, 50 * NSEC_PER_MSEC, 0, NSEC_PER_MSEC);
        ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_ACCEPTED_RESET);
        ck_assert_uint_eq(filter_size(&f), 1);
        struct filter_estimate e;
        ck_assert(filter_estimate(&f, s.raw_ns, s.real_ns, &e));
        ck_assert_int_eq(e.offset_ns, 50 * NSEC_PER_MSEC);
}
END_TEST

START_TEST(test_frequency_and_prediction) {
        /* Host runs 50 ppm faster than the raw oscillator; the local wall clock is
         * corrected between samples (real_ns jumps), which must not matter. */
        struct filter f;
        filter_init(&f, &cfg8);
        for (int i = 0; i < 20; i++) {
                struct filter_sample s = mk(i, 0, 50.0, NSEC_PER_MSEC);
                s.real_ns += i * 7 * NSEC_PER_MSEC;     /* our own corrections */
                ck_assert_int_eq(filter_add(&f, &s, NULL), FILTER_ACCEPTED);
        }
        struct filter_estimate e;
        int64_t raw_now = RAW0 + 30 * NSEC_PER_SEC, real_now = T0 + 30 * NSEC_PER_SEC;
        ck_assert(filter_estimate(&f, raw_now, real_now, &e));
        ck_assert(e.freq_valid);
        ck_assert_msg(fabs(e.freq_ppm - 50.0) < 0.01, "freq %f", e.freq_ppm);
        /* 30 s at +50 ppm: the host is 1.5 ms ahead of a wall clock that kept raw rate. */
        ck_assert_msg(llabs(e.offset_ns - 1500 * NSEC_PER_USEC) < 2 * NSEC_PER_USEC, "offset %lld",
                      (long long) e.offset_ns);

        /* Too short a baseline gives no frequency at all. */
        filter_reset(&f);
        for (int i = 0; i < 3; i++) {
                struct filter_sample s = mk(i, 0, 50.0, NSEC_PER_MSEC);
                filter_add(&f, &s, NULL);
        }
        ck_assert(filter_estimate(&f, raw_now, real_now, &e));
        ck_assert(!e.freq_valid);
}
END_TEST

START_TEST(test_history_bounded) {
        struct filter f;
        filter_init(&f, &(struct filter_config) { .window = 1000, .outlier_k = 5, .outlier_floor_ns = NSEC_PER_MSEC,
                                                  .delay_floor_ns = NSEC_PER_MSEC });
        ck_assert_uint_eq(f.cfg.window, FILTER_HISTORY_MAX);
        for (int i = 0; i < 200; i++) {
                struct filter_sample s = mk(i, 0, 0, NSEC_PER_MSEC);
                filter_add(&f, &s, NULL);
        }
        ck_assert_uint_eq(filter_size(&f), FILTER_HISTORY_MAX);
        filter_init(&f, &(struct filter_config) { .window = 1 });
        ck_assert_uint_eq(f.cfg.window, FILTER_WINDOW_MIN);
        struct filter_estimate e;
        ck_assert(!filter_estimate(&f, 0, 0, &e));
}
END_TEST

static Suite *filter_suite(void) {
        Suite *s = suite_create("timesync-filter");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_round_trip_math);
        tcase_add_test(tc, test_ref_time_math);
        tcase_add_test(tc, test_min_delay_selection);
        tcase_add_test(tc, test_outliers_rejected);
        tcase_add_test(tc, test_regime_change_accepted);
        tcase_add_test(tc, test_frequency_and_prediction);
        tcase_add_test(tc, test_history_bounded);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        log_set_target_journal(0);
        SRunner *sr = srunner_create(filter_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
