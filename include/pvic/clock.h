/* Clock drivers, in the shape of chrony's sys drivers: one small ops struct over an
 * opaque instance. A driver only knows how to read clocks and how to apply one
 * clock_adjtime(CLOCK_REALTIME, struct timex) call; the clock_* helpers build the timex
 * the same way for every driver, so the simulated clock in tests is driven by exactly
 * the requests the real kernel would get. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/timex.h>
#include <time.h>

#include "pvic/macro.h"

#define NSEC_PER_SEC  INT64_C(1000000000)
#define NSEC_PER_MSEC INT64_C(1000000)
#define NSEC_PER_USEC INT64_C(1000)

/* The kernel's limits (include/linux/timex.h): ADJ_OFFSET is clamped to ±MAXPHASE and
 * the frequency to ±MAXFREQ; time constants above MAXTC are clamped. */
#define CLOCK_MAX_PHASE_NS (500 * NSEC_PER_MSEC)
#define CLOCK_MAX_FREQ_PPM 500.0
#define CLOCK_MAX_TC       10

struct clock_ops {
        const char *name;
        /* CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW or CLOCK_BOOTTIME, in ns. */
        int (*gettime)(void *userdata, clockid_t id, int64_t *ret_ns);
        /* clock_adjtime(CLOCK_REALTIME, tx) semantics: returns the clock state
         * (TIME_OK, TIME_ERROR, ...) or a negative errno. */
        int (*adjtime)(void *userdata, struct timex *tx);
        void (*free)(void *userdata);
};

struct clock_driver;

struct clock_driver *clock_driver_new(const struct clock_ops *ops, void *userdata);
struct clock_driver *clock_driver_free(struct clock_driver *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct clock_driver *, clock_driver_free);
const char *clock_driver_name(const struct clock_driver *c);
void *clock_driver_userdata(const struct clock_driver *c);

int clock_read(struct clock_driver *c, clockid_t id, int64_t *ret_ns);
/* Moves CLOCK_REALTIME by offset_ns at once (ADJ_SETOFFSET: atomic, no read-modify-write
 * race). Like settimeofday(), this resets the kernel's PLL state and marks it unsynced. */
int clock_step(struct clock_driver *c, int64_t offset_ns);
/* Hands offset_ns to the kernel PLL (ADJ_OFFSET|ADJ_NANO|ADJ_TIMECONST) with the
 * frequency held (STA_FREQHOLD): the kernel slews 2^-(2+tc) of what remains each second
 * and we own the frequency. The offset is clamped to ±CLOCK_MAX_PHASE_NS. */
int clock_slew(struct clock_driver *c, int64_t offset_ns, int time_constant);
/* ADJ_FREQUENCY: ppm, clamped to ±CLOCK_MAX_FREQ_PPM; the kernel unit is 2^-16 ppm. */
int clock_set_frequency(struct clock_driver *c, double ppm);
int clock_get_frequency(struct clock_driver *c, double *ret_ppm);
/* Tells the kernel whether the clock is synchronised (STA_UNSYNC) and how good it is
 * (maxerror/esterror, µs in the kernel), as chrony does: adjtimex(8), the RTC 11-minute
 * mode and other programs read it. */
int clock_set_sync_status(struct clock_driver *c, bool synced, int64_t max_error_ns,
                          int64_t est_error_ns);

/* clock_adjtime()/clock_gettime() on the machine. Never used by tests. */
struct clock_driver *clock_real_new(void);

/* timesync/clock_virtual.c (not part of the time service core): CLOCK_REALTIME plus an
 * offset that steps and slews move, for running pvicd's time path without touching the
 * machine's clock. */
struct clock_driver *clock_virtual_new(int64_t initial_offset_ns);

/* A simulated machine clock for tests and benchmarks. True time is what the host and the
 * test know; the guest clock runs off an oscillator that is drift_ppm off, plus whatever
 * frequency, PLL slew and steps it is told to apply, with the kernel's rules. */
struct clock_sim_params {
        int64_t true_ns;             /* initial true UTC time */
        int64_t offset_ns;           /* initial guest error: guest - true */
        double drift_ppm;            /* oscillator error: + runs fast */
};

struct clock_driver *clock_sim_new(const struct clock_sim_params *p);
/* The functions below take a driver made by clock_sim_new (abort otherwise). */
void clock_sim_advance(struct clock_driver *c, int64_t ns);
/* The guest is paused for ns of true time (suspend, save/restore, migration): boottime
 * and true time advance, monotonic does not; realtime moves by realtime_ns (what the
 * kernel's resume path injected, e.g. 0 for a VM restored without its persistent clock). */
void clock_sim_suspend(struct clock_driver *c, int64_t ns, int64_t realtime_ns);
int64_t clock_sim_true_ns(const struct clock_driver *c);
int64_t clock_sim_offset_ns(const struct clock_driver *c);  /* guest - true */
unsigned clock_sim_steps(const struct clock_driver *c);
unsigned clock_sim_adjtime_calls(const struct clock_driver *c);
bool clock_sim_synced(const struct clock_driver *c);         /* !STA_UNSYNC */
double clock_sim_frequency_ppm(const struct clock_driver *c);
