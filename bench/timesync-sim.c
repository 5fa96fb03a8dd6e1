/* Convergence of pvicd's time service vs the Linux kernel's hv_utils policy (step on
 * SYNC only, ignore SAMPLEs), both on the simulated clock with the same host stream.
 * Built and run by bench/timesync.sh. Prints one line per scenario and policy:
 *   scenario policy converge_s final_us worst_last_min_us steps */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/clock.h"
#include "pvic/log.h"
#include "pvic/timesync.h"

#define T0 (INT64_C(1795392000) * NSEC_PER_SEC)
#define GOAL_NS (100 * NSEC_PER_USEC)

struct scenario {
        const char *name;
        int64_t offset_ns;         /* guest - true at start */
        double drift_ppm;
        int interval_s;            /* host SAMPLE cadence */
        int duration_s;
        bool sync_first;           /* SYNC as the first message (boot/restore) */
        bool with_ref;             /* timesync 4.0 reference times */
        int pause_at_s;            /* a migration pause at this time (0: none) */
        bool sync_after_pause;     /* hosts sometimes forget it */
        bool pause_unseen;         /* the guest's clocks show no sleep (live migration) */
};

static const struct scenario scenarios[] = {
        { "boot, SYNC then SAMPLE/5s, 100 ppm", 500 * NSEC_PER_MSEC, 100.0, 5, 1800, true, true, 0, false, false },
        { "no SYNC (host forgot), 2 s off, 30 ppm", 2 * NSEC_PER_SEC, 30.0, 5, 1800, false, true, 0, false, false },
        { "migration pause 30 s at 10 min, SYNC", 0, 50.0, 5, 1800, true, true, 600, true, false },
        { "migration pause 30 s at 10 min, no SYNC", 0, 50.0, 5, 1800, true, true, 600, false, false },
        { "pause unseen by the guest, no SYNC", 0, 50.0, 5, 1800, true, true, 600, false, true },
        { "SAMPLE/1s, no ref time, 1 ms jitter", 500 * NSEC_PER_MSEC, 100.0, 1, 600, false, false, 0, false, false },
};

static uint64_t rnd(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static int64_t jitter(uint64_t *s, int64_t width) {
        return (int64_t) ((double) (rnd(s) >> 11) / 9007199254740992.0 * (double) width) - width / 2;
}

/* hv_utils: on SYNC, settimeofday(host time extrapolated to now); SAMPLEs are ignored
 * (timesync_implicit=0, the default). */
static void kernel_policy(struct clock_driver *c, const struct host_time_sample *s, const struct tsync_rx *rx) {
        if (!(s->flags & HOST_TIME_SYNC))
                return;
        int64_t host_now = s->host_time_ns;
        if (s->has_ref_time && rx->has_ref_now)
                host_now += (int64_t) (rx->ref_now_ns - s->ref_time_ns);
        clock_step(c, host_now - rx->realtime_ns);
}

static void run(const struct scenario *sc, bool pvic) {
        struct clock_driver *c = clock_sim_new(&(struct clock_sim_params) {
                .true_ns = T0, .offset_ns = sc->offset_ns, .drift_ppm = sc->drift_ppm });
        struct tsync_config cfg;
        struct tsync *t = NULL;
        tsync_config_init(&cfg);
        if (pvic && tsync_new(&cfg, c, TSYNC_MODE_DISCIPLINE, &t) < 0)
                abort();
        struct resume_detector *d = NULL;
        if (pvic && resume_detector_new(c, NSEC_PER_SEC, &d) < 0)
                abort();

        uint64_t seed = 1;
        int64_t converged_at = -1, worst_last = 0, paused = 0;
        bool first = true, after_pause = false;
        for (int64_t now_s = sc->interval_s; now_s <= sc->duration_s; now_s += sc->interval_s) {
                int64_t send = T0 + paused + now_s * NSEC_PER_SEC + jitter(&seed, NSEC_PER_MSEC);
                clock_sim_advance(c, send - clock_sim_true_ns(c));
                if (sc->pause_at_s && !paused && now_s >= sc->pause_at_s) {
                        /* Paused without the wall clock being told: 30 s behind after. */
                        clock_sim_suspend(c, 30 * NSEC_PER_SEC, 0);
                        paused = 30 * NSEC_PER_SEC;
                        after_pause = true;
                        if (d && !sc->pause_unseen)
                                resume_detector_dispatch(d, t);
                }
                unsigned flags = HOST_TIME_SAMPLE;
                if ((first && sc->sync_first) || (after_pause && sc->sync_after_pause))
                        flags = HOST_TIME_SYNC;
                first = after_pause = false;
                struct host_time_sample s = { .host_time_ns = clock_sim_true_ns(c), .flags = flags };
                int64_t transit = jitter(&seed, NSEC_PER_MSEC) + NSEC_PER_MSEC / 2;
                if (sc->with_ref) {
                        s.has_ref_time = true;
                        s.ref_time_ns = (uint64_t) (clock_sim_true_ns(c) - T0);
                } else
                        s.host_time_ns += transit + jitter(&seed, NSEC_PER_MSEC);
                clock_sim_advance(c, transit);
                struct tsync_rx rx = { .has_ref_now = sc->with_ref,
                                       .ref_now_ns = (uint64_t) (clock_sim_true_ns(c) - T0) };
                clock_read(c, CLOCK_REALTIME, &rx.realtime_ns);
                clock_read(c, CLOCK_MONOTONIC_RAW, &rx.raw_ns);
                if (pvic)
                        tsync_handle_sample(t, &s, &rx);
                else
                        kernel_policy(c, &s, &rx);

                int64_t err = llabs(clock_sim_offset_ns(c));
                if (err >= GOAL_NS)
                        converged_at = -1;
                else if (converged_at < 0)
                        converged_at = now_s;
                if (now_s > sc->duration_s - 60)
                        worst_last = MAX(worst_last, err);
        }
        /* Converged = under 100 µs from then to the end. */
        char conv[32];
        if (converged_at >= 0)
                snprintf(conv, sizeof conv, "%lld", (long long) converged_at);
        else
                snprintf(conv, sizeof conv, "never");
        printf("%-42s %-6s %8s %12.1f %12.1f %5u\n", sc->name, pvic ? "pvicd" : "kernel", conv,
               (double) llabs(clock_sim_offset_ns(c)) / 1e3, (double) worst_last / 1e3, clock_sim_steps(c));
        resume_detector_free(d);
        tsync_free(t);
        clock_driver_free(c);
}

int main(void) {
        log_set_target_journal(0);
        log_set_max_level(LOG_WARNING);
        printf("%-42s %-6s %8s %12s %12s %5s\n", "scenario (host stream)", "policy", "conv_s",
               "final_us", "worst60s_us", "steps");
        for (size_t i = 0; i < ELEMENTSOF(scenarios); i++) {
                run(&scenarios[i], true);
                run(&scenarios[i], false);
        }
        return 0;
}
