/* The freeze service: one freeze at a time, always with a lease. Order of a freeze:
 * pre-freeze hooks, mounts, journal, guard, lease timer, FIFREEZE; of a thaw: FITHAW,
 * guard stopped, journal removed, post-thaw hooks. Between FIFREEZE and FITHAW nothing
 * here writes a file (the journal's rewrite goes to /run, a tmpfs). */
#include <errno.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "pvic/freeze.h"
#include "pvic/log.h"

struct freeze_service {
        sd_event *event;
        char *root;
        char self_exe[PATH_MAX];
        struct freeze_mounts mounts;
        bool frozen;
        sd_event_source *lease_timer;
        sd_event_source *guard_watch;
        int guard_pid, guard_pidfd;
        freeze_report_fn fn;
        void *userdata;
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
        return s && s->frozen;
}

static void report(freeze_report_fn fn, void *userdata, const char *state, const char *mounts) {
        if (fn)
                fn(state, mounts ?: "", userdata);
}

/* Reverse of the freeze order: "/" first, so what follows can write again. */
static int thaw_all(struct freeze_service *s) {
        int failed = 0;
        for (size_t i = s->mounts.n; i-- > 0;) {
                struct freeze_mount *m = &s->mounts.m[i];
                if (m->state != FREEZE_MOUNT_FROZEN)
                        continue;
                /* EINVAL: not frozen any more (the guard was faster); that is thawed too. */
                if (ioctl(m->fd, FITHAW, 0) == 0 || errno == EINVAL)
                        m->state = FREEZE_MOUNT_THAWED;
                else {
                        m->error = errno;
                        m->state = FREEZE_MOUNT_FAILED;
                        failed++;
                }
        }
        s->lease_timer = sd_event_source_disable_unref(s->lease_timer);
        s->guard_watch = sd_event_source_disable_unref(s->guard_watch);
        freeze_guard_stop(&s->guard_pid, &s->guard_pidfd);
        s->frozen = false;
        /* A mount that would not thaw stays in the journal for the next start. */
        if (failed == 0)
                (void)freeze_journal_remove(s->root);
        else
                (void)freeze_journal_write(s->root, &s->mounts);
        for (size_t i = 0; i < s->mounts.n; i++)
                if (s->mounts.m[i].fd >= 0 && s->mounts.m[i].state != FREEZE_MOUNT_FAILED) {
                        close(s->mounts.m[i].fd);
                        s->mounts.m[i].fd = -1;
                }
        return failed;
}

/* Thaw, then hooks, then the report: the host learns "thawed" once applications run. */
static void thaw_and_report(struct freeze_service *s, const char *why, freeze_report_fn fn, void *userdata) {
        char text[FREEZE_MOUNTS_TEXT_MAX], state[64];
        int failed = thaw_all(s);
        log_notice("freeze: thawed (%s)%s.", why, failed ? "; some filesystems would not thaw" : "");
        (void)freeze_hooks_run(s->root, "thaw", FREEZE_HOOK_TIMEOUT_SEC, NULL, NULL, 0);
        freeze_mounts_text(&s->mounts, text, sizeof text);
        if (failed)
                snprintf(state, sizeof state, "failed:thaw");
        else if (strcmp(why, "request") == 0)
                snprintf(state, sizeof state, "thawed");
        else
                snprintf(state, sizeof state, "thawed:%s", why);
        s->fn = NULL;
        report(fn, userdata, state, text);
}

static int on_lease(sd_event_source *src, uint64_t usec, void *userdata) {
        struct freeze_service *s = userdata;
        log_warning("freeze: the lease passed without a thaw from the host; thawing.");
        thaw_and_report(s, "lease-expired", s->fn, s->userdata);
        return 0;
}

static int on_guard_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct freeze_service *s = userdata;
        /* Without its guard a freeze has no thaw that survives us: end it now. */
        log_warning("freeze: the thaw guard ended; thawing.");
        thaw_and_report(s, "guard-exited", s->fn, s->userdata);
        return 0;
}

static void fail_freeze(struct freeze_service *s, const char *state, const char *failed_hook, freeze_report_fn fn,
                        void *userdata) {
        char text[FREEZE_MOUNTS_TEXT_MAX];
        (void)thaw_all(s);
        (void)freeze_hooks_run(s->root, "thaw", FREEZE_HOOK_TIMEOUT_SEC, failed_hook, NULL, 0);
        freeze_mounts_text(&s->mounts, text, sizeof text);
        log_warning("freeze: %s", state);
        report(fn, userdata, state, text);
}

static void open_candidates(struct freeze_service *s, size_t *n_candidates) {
        *n_candidates = 0;
        for (size_t i = 0; i < s->mounts.n; i++) {
                struct freeze_mount *m = &s->mounts.m[i];
                if (m->state != FREEZE_MOUNT_CANDIDATE)
                        continue;
                m->fd = freeze_open_mount(s->root, m->path, m->major, m->minor);
                if (m->fd >= 0) {
                        (*n_candidates)++;
                        continue;
                }
                m->state = FREEZE_MOUNT_SKIPPED;
                m->skip = m->fd == -EXDEV || m->fd == -ENOENT ? "not-mounted" : "cannot-open";
                log_info_errno(m->fd, "freeze: skipping %s: %m", m->path);
                m->fd = -1;
        }
}

static int freeze_all(struct freeze_service *s) {
        for (size_t i = 0; i < s->mounts.n; i++) {
                struct freeze_mount *m = &s->mounts.m[i];
                if (m->state != FREEZE_MOUNT_CANDIDATE)
                        continue;
                if (ioctl(m->fd, FIFREEZE, 0) == 0) {
                        m->state = FREEZE_MOUNT_FROZEN;
                        continue;
                }
                int e = errno;
                close(m->fd);
                m->fd = -1;
                if (e == EOPNOTSUPP || e == ENOTTY) {
                        m->state = FREEZE_MOUNT_SKIPPED;
                        m->skip = "not-freezable";
                } else if (e == EBUSY) {
                        /* Frozen by someone else: theirs to thaw, not ours. */
                        m->state = FREEZE_MOUNT_SKIPPED;
                        m->skip = "already-frozen";
                } else {
                        m->state = FREEZE_MOUNT_FAILED;
                        m->error = e;
                        return -e;
                }
        }
        return 0;
}

int freeze_request(struct freeze_service *s, unsigned lease_sec, freeze_report_fn fn, void *userdata) {
        char failed_hook[256] = "", state[320];
        size_t n;
        int r;

        if (s->frozen) {
                report(fn, userdata, "refused:already-frozen", NULL);
                return 0;
        }
        if (lease_sec == 0)
                lease_sec = FREEZE_LEASE_DEFAULT_SEC;
        lease_sec = MIN(lease_sec, FREEZE_LEASE_MAX_SEC);
        freeze_mounts_clear(&s->mounts);

        r = freeze_hooks_run(s->root, "freeze", FREEZE_HOOK_TIMEOUT_SEC, NULL, failed_hook, sizeof failed_hook);
        if (r < 0) {
                snprintf(state, sizeof state, "failed:hook-%s:%s", r == -ETIMEDOUT ? "timeout" : "failed",
                         failed_hook);
                fail_freeze(s, state, failed_hook, fn, userdata);
                return 0;
        }
        if (freeze_mounts_load(s->root, &s->mounts) < 0) {
                fail_freeze(s, "failed:mountinfo", NULL, fn, userdata);
                return 0;
        }
        open_candidates(s, &n);
        if (n == 0) {
                fail_freeze(s, "failed:nothing-to-freeze", NULL, fn, userdata);
                return 0;
        }
        if (freeze_journal_write(s->root, &s->mounts) < 0) {
                fail_freeze(s, "failed:journal", NULL, fn, userdata);
                return 0;
        }
        /* The lease counts from here for both thaw paths; the guard's grace puts pvicd's
         * own timer first. */
        uint64_t start = now_usec();
        r = freeze_guard_spawn(s->self_exe, s->root, lease_sec * 1000u, &s->guard_pid, &s->guard_pidfd);
        if (r >= 0)
                r = sd_event_add_io(s->event, &s->guard_watch, s->guard_pidfd, EPOLLIN, on_guard_exit, s);
        if (r >= 0)
                r = sd_event_add_time(s->event, &s->lease_timer, CLOCK_MONOTONIC,
                                      start + lease_sec * 1000000ULL, 0, on_lease, s);
        if (r < 0) {
                fail_freeze(s, "failed:guard", NULL, fn, userdata);
                return 0;
        }
        /* The lease must win over everything else the loop has to do. */
        (void)sd_event_source_set_priority(s->lease_timer, SD_EVENT_PRIORITY_IMPORTANT);
        (void)sd_event_source_set_priority(s->guard_watch, SD_EVENT_PRIORITY_IMPORTANT);
        s->frozen = true;
        s->fn = fn;
        s->userdata = userdata;
        r = freeze_all(s);
        if (r < 0) {
                s->fn = NULL;
                snprintf(state, sizeof state, "failed:freeze:%s", strerrorname_np(-r) ?: "unknown");
                fail_freeze(s, state, NULL, fn, userdata);
                return 0;
        }
        /* Only what we froze is ours to thaw after a crash. */
        (void)freeze_journal_write(s->root, &s->mounts);

        char text[FREEZE_MOUNTS_TEXT_MAX];
        freeze_mounts_text(&s->mounts, text, sizeof text);
        report(fn, userdata, "frozen", text);
        return 0;
}

int freeze_thaw(struct freeze_service *s, freeze_report_fn fn, void *userdata) {
        if (!s->frozen) {
                report(fn, userdata, "thawed:not-frozen", NULL);
                return 0;
        }
        thaw_and_report(s, "request", fn, userdata);
        return 0;
}

struct freeze_service *freeze_service_free(struct freeze_service *s) {
        if (!s)
                return NULL;
        if (s->frozen)
                (void)thaw_all(s);
        s->lease_timer = sd_event_source_disable_unref(s->lease_timer);
        s->guard_watch = sd_event_source_disable_unref(s->guard_watch);
        freeze_guard_stop(&s->guard_pid, &s->guard_pidfd);
        freeze_mounts_clear(&s->mounts);
        sd_event_unref(s->event);
        free(s->root);
        free(s);
        return NULL;
}
