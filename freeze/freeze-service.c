/* The freeze service: one freeze at a time, always with a lease, never blocking the loop
 * on a hook. Phases: idle → pre-hooks → frozen → post-hooks → idle. Order of a freeze:
 * pre-freeze hooks, mounts, journal, guard, lease timer, FIFREEZE; of a thaw: FITHAW,
 * guard stopped, journal removed, post-thaw hooks, then the report (the host hears
 * "thawed" once applications run again). Between FIFREEZE and FITHAW nothing here writes
 * a file (the journal's rewrite goes to /run, a tmpfs) and no hook runs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvic/freeze.h"
#include "pvic/log.h"

enum phase { PHASE_IDLE, PHASE_PRE_HOOKS, PHASE_FROZEN, PHASE_POST_HOOKS };

struct report_to {
        freeze_report_fn fn;
        void *userdata;
};

struct freeze_service {
        sd_event *event;
        char *root;
        char self_exe[PATH_MAX];
        struct freeze_mounts mounts;
        enum phase phase;
        unsigned lease_sec;
        struct freeze_hooks *hooks;
        sd_event_source *lease_timer;
        sd_event_source *guard_watch;
        int guard_pid, guard_pidfd;
        struct report_to freezer;   /* the freeze in progress: its outcome, then its end */
        struct report_to thawer;    /* a thaw waiting for the hooks (cancel or post-hooks) */
        bool cancelled;             /* a thaw came during the pre-freeze hooks */
        char end_state[320];        /* reported when the post-thaw hooks are done */
        struct report_to end_to;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

int freeze_service_new(struct freeze_service **ret, sd_event *e, const char *root) {
        struct freeze_service *s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->guard_pidfd = -1;
        s->event = sd_event_ref(e);
        if (root && !(s->root = strdup(root))) {
                freeze_service_free(s);
                return log_oom();
        }
        /* Resolved now: the guard must be this binary even if the path is replaced later. */
        ssize_t n = readlink("/proc/self/exe", s->self_exe, sizeof s->self_exe - 1);
        if (n <= 0) {
                int r = log_error_errno(errno ?: EIO, "freeze: cannot find our own executable: %m");
                freeze_service_free(s);
                return r;
        }
        s->self_exe[n] = 0;
        *ret = s;
        return 0;
}

bool freeze_service_frozen(const struct freeze_service *s) {
        return s && s->phase == PHASE_FROZEN;
}

static void report(struct report_to to, const char *state, const char *mounts) {
        if (to.fn)
                to.fn(state, mounts ?: "", to.userdata);
}

static struct report_to take(struct report_to *to) {
        struct report_to t = *to;
        *to = (struct report_to){ 0 };
        return t;
}

/* FITHAW, guard and lease gone, journal removed (kept for a mount that would not thaw). */
static size_t thaw_all(struct freeze_service *s) {
        size_t failed = freeze_mounts_thaw(&s->mounts);
        s->lease_timer = sd_event_source_disable_unref(s->lease_timer);
        s->guard_watch = sd_event_source_disable_unref(s->guard_watch);
        freeze_guard_stop(&s->guard_pid, &s->guard_pidfd);
        if (failed == 0)
                (void)freeze_journal_remove(s->root);
        else
                (void)freeze_journal_write(s->root, &s->mounts);
        return failed;
}

static void on_post_hooks(int result, const char *failed, void *userdata) {
        struct freeze_service *s = userdata;
        char text[FREEZE_MOUNTS_TEXT_MAX];
        s->hooks = freeze_hooks_free(s->hooks);
        s->phase = PHASE_IDLE;
        freeze_mounts_text(&s->mounts, text, sizeof text);
        struct report_to end = take(&s->end_to), waiting = take(&s->thawer);
        if (end.fn)
                log_notice("freeze: done after the thaw hooks: %s.", s->end_state);
        report(end, s->end_state, text);
        /* A thaw that came during these hooks: nothing is frozen now. */
        report(waiting, "thawed:not-frozen", NULL);
}

/* The thaw hooks (all, or those up to limit), then end_state to `to`. */
static void post_hooks(struct freeze_service *s, struct report_to to, const char *limit, bool inclusive,
                       const char *state) {
        snprintf(s->end_state, sizeof s->end_state, "%s", state);
        s->end_to = to;
        s->phase = PHASE_POST_HOOKS;
        if (freeze_hooks_start(&s->hooks, s->event, s->root, "thaw", FREEZE_HOOK_TIMEOUT_SEC, limit, inclusive,
                               on_post_hooks, s) < 0)
                on_post_hooks(-ENOMEM, NULL, s);
}

/* The lease, the guard, or the host: filesystems thawed now, hooks after. */
static void thaw_now(struct freeze_service *s, const char *why, struct report_to to) {
        size_t failed = thaw_all(s);
        log_notice("freeze: thawed (%s)%s.", why, failed ? "; some filesystems would not thaw" : "");
        s->freezer = (struct report_to){ 0 };
        char state[64];
        if (failed)
                snprintf(state, sizeof state, "failed:thaw");
        else if (strcmp(why, "request") == 0)
                snprintf(state, sizeof state, "thawed");
        else
                snprintf(state, sizeof state, "thawed:%s", why);
        post_hooks(s, to, NULL, false, state);
}

static int on_lease(sd_event_source *src, uint64_t usec, void *userdata) {
        struct freeze_service *s = userdata;
        log_warning("freeze: the lease passed without a thaw from the host; thawing.");
        thaw_now(s, "lease-expired", s->freezer);
        return 0;
}

static int on_guard_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct freeze_service *s = userdata;
        /* Without its guard a freeze has no thaw that survives us: end it now. */
        log_warning("freeze: the thaw guard ended; thawing.");
        thaw_now(s, "guard-exited", s->freezer);
        return 0;
}

/* A freeze that cannot go on after its pre-freeze hooks ran: undo, hooks, report. */
static void fail_freeze(struct freeze_service *s, const char *state) {
        (void)thaw_all(s);
        log_warning("freeze: %s", state);
        post_hooks(s, take(&s->freezer), NULL, false, state);
}

static int arm_thaw_paths(struct freeze_service *s) {
        /* The lease counts from here for both thaw paths; the guard's grace puts pvicd's
         * own timer first. */
        uint64_t start = now_usec();
        int r = freeze_guard_spawn(s->self_exe, s->root, s->lease_sec * 1000u, &s->guard_pid, &s->guard_pidfd);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->guard_watch, s->guard_pidfd, EPOLLIN, on_guard_exit, s);
        if (r >= 0)
                r = sd_event_add_time(s->event, &s->lease_timer, CLOCK_MONOTONIC,
                                      start + s->lease_sec * 1000000ULL, 0, on_lease, s);
        if (r < 0)
                return r;
        /* The lease must win over everything else the loop has to do. */
        (void)sd_event_source_set_priority(s->lease_timer, SD_EVENT_PRIORITY_IMPORTANT);
        (void)sd_event_source_set_priority(s->guard_watch, SD_EVENT_PRIORITY_IMPORTANT);
        return 0;
}

static void do_freeze(struct freeze_service *s) {
        char state[320], text[FREEZE_MOUNTS_TEXT_MAX];
        int r;

        if (freeze_mounts_load(s->root, &s->mounts) < 0)
                return fail_freeze(s, "failed:mountinfo");
        if (freeze_mounts_open(s->root, &s->mounts) == 0)
                return fail_freeze(s, "failed:nothing-to-freeze");
        if (freeze_journal_write(s->root, &s->mounts) < 0)
                return fail_freeze(s, "failed:journal");
        if (arm_thaw_paths(s) < 0)
                return fail_freeze(s, "failed:guard");
        s->phase = PHASE_FROZEN;
        r = freeze_mounts_freeze(&s->mounts);
        if (r < 0) {
                snprintf(state, sizeof state, "failed:freeze:%s", strerrorname_np(-r) ?: "unknown");
                return fail_freeze(s, state);
        }
        /* Only what we froze is ours to thaw after a crash. */
        (void)freeze_journal_write(s->root, &s->mounts);
        freeze_mounts_text(&s->mounts, text, sizeof text);
        log_notice("freeze: frozen (lease %u s).", s->lease_sec);
        report(s->freezer, "frozen", text);
}

static void on_pre_hooks(int result, const char *failed, void *userdata) {
        struct freeze_service *s = userdata;
        char last[256], failed_hook[256];
        /* Both point into the sequence, which goes now. */
        snprintf(last, sizeof last, "%s", freeze_hooks_last_started(s->hooks) ?: "");
        snprintf(failed_hook, sizeof failed_hook, "%s", failed ?: "");
        s->hooks = freeze_hooks_free(s->hooks);

        if (s->cancelled) {
                /* Every hook that started may have quiesced something, the killed one too. */
                struct report_to freezer = take(&s->freezer);
                log_notice("freeze: cancelled by a thaw during the pre-freeze hooks.");
                report(freezer, "failed:cancelled", NULL);
                post_hooks(s, take(&s->thawer), last[0] ? last : NULL, true, "thawed:cancelled");
                return;
        }
        if (result < 0) {
                char state[320];
                snprintf(state, sizeof state, "failed:hook-%s:%s", result == -ETIMEDOUT ? "timeout" : "failed",
                         failed_hook);
                /* Undo only the hooks before the failed one: it quiesced nothing. */
                log_warning("freeze: %s", state);
                post_hooks(s, take(&s->freezer), failed_hook[0] ? failed_hook : NULL, false, state);
                return;
        }
        do_freeze(s);
}

int freeze_request(struct freeze_service *s, unsigned lease_sec, freeze_report_fn fn, void *userdata) {
        struct report_to to = { fn, userdata };
        if (s->phase == PHASE_FROZEN) {
                report(to, "refused:already-frozen", NULL);
                return 0;
        }
        if (s->phase != PHASE_IDLE) {
                report(to, "refused:busy", NULL);
                return 0;
        }
        if (lease_sec == 0)
                lease_sec = FREEZE_LEASE_DEFAULT_SEC;
        s->lease_sec = MIN(lease_sec, FREEZE_LEASE_MAX_SEC);
        freeze_mounts_clear(&s->mounts);
        int r = freeze_hooks_start(&s->hooks, s->event, s->root, "freeze", FREEZE_HOOK_TIMEOUT_SEC, NULL, false,
                                   on_pre_hooks, s);
        if (r < 0)
                return r;
        s->phase = PHASE_PRE_HOOKS;
        s->cancelled = false;
        s->freezer = to;
        return 0;
}

int freeze_thaw(struct freeze_service *s, freeze_report_fn fn, void *userdata) {
        struct report_to to = { fn, userdata };
        switch (s->phase) {
        case PHASE_IDLE:
                report(to, "thawed:not-frozen", NULL);
                return 0;
        case PHASE_FROZEN:
                thaw_now(s, "request", to);
                return 0;
        case PHASE_PRE_HOOKS:
        case PHASE_POST_HOOKS:
                /* One waiting thaw: the wire has one request in flight at a time. */
                if (s->thawer.fn || s->cancelled) {
                        report(to, "refused:busy", NULL);
                        return 0;
                }
                s->thawer = to;
                if (s->phase == PHASE_PRE_HOOKS) {
                        s->cancelled = true;
                        freeze_hooks_cancel(s->hooks);
                }
                return 0;
        }
        return 0;
}

struct freeze_service *freeze_service_free(struct freeze_service *s) {
        if (!s)
                return NULL;
        if (s->phase == PHASE_FROZEN)
                (void)thaw_all(s);
        s->hooks = freeze_hooks_free(s->hooks);
        s->lease_timer = sd_event_source_disable_unref(s->lease_timer);
        s->guard_watch = sd_event_source_disable_unref(s->guard_watch);
        freeze_guard_stop(&s->guard_pid, &s->guard_pidfd);
        freeze_mounts_clear(&s->mounts);
        sd_event_unref(s->event);
        free(s->root);
        free(s);
        return NULL;
}
