/* Pre-freeze and post-thaw hooks: the administrator's executables in freeze.d, the same
 * rules as shutdown hooks (docs/shutdown.md: owned by root, not writable by others, fixed
 * argv, own process group, killed at the timeout), run one after another through the
 * loop's hook runner. They run before the freeze and after the thaw, never while anything
 * is frozen, and the loop goes on meanwhile: heartbeats and other requests are answered
 * while a slow hook runs. The sequence's end always reaches the caller from the loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvic/config.h"
#include "pvic/freeze.h"
#include "pvic/hook_proc.h"
#include "pvic/log.h"

#define FREEZE_HOOKS_MAX 64
#define WHAT "Freeze hook"

struct freeze_hooks {
        sd_event *event;
        char *dir;
        bool thaw;
        unsigned timeout_sec;
        char **names;
        size_t n, next;          /* next: how many of names have been taken */
        struct hook_proc *run;
        sd_event_source *defer;  /* the first step, or the end when nothing is left */
        bool cancelled;
        int result;
        char failed[256];
        char last_started[256];
        freeze_hooks_done_fn done;
        void *userdata;
        char env_action[64], env_timeout[64];
        char *envp[4];
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void finish(struct freeze_hooks *h) {
        /* Last: the callback may free h. */
        h->done(h->result, h->failed, h->userdata);
}

static void step(struct freeze_hooks *h);

static void on_hook_done(struct hook_proc *p, enum hook_result result, void *userdata) {
        struct freeze_hooks *h = userdata;
        const char *name = hook_proc_name(p);
        if (result != HOOK_OK && h->result == 0) {
                h->result = h->cancelled ? -ECANCELED : result == HOOK_TIMED_OUT ? -ETIMEDOUT : -EIO;
                snprintf(h->failed, sizeof h->failed, "%s", name);
        }
        h->run = hook_proc_free(h->run);
        /* A failed pre-freeze hook ends the sequence; thaw hooks all run. */
        if (h->cancelled || (h->result < 0 && !h->thaw)) {
                finish(h);
                return;
        }
        step(h);
}

static void step(struct freeze_hooks *h) {
        while (h->next < h->n && !h->cancelled) {
                const char *name = h->names[h->next++];
                if (!hook_runnable(h->dir, name, "Freeze"))
                        continue;
                struct hook_spec spec = {
                        .dir = h->dir,
                        .name = name,
                        .arg = h->thaw ? "thaw" : "freeze",
                        .envp = h->envp,
                        .deadline_usec = now_usec() + h->timeout_sec * 1000000ULL,
                        .what = WHAT,
                };
                snprintf(h->last_started, sizeof h->last_started, "%s", name);
                if (hook_proc_start(&h->run, h->event, &spec, on_hook_done, h) == 0)
                        return;
                if (h->result == 0) {
                        h->result = -EIO;
                        snprintf(h->failed, sizeof h->failed, "%s", name);
                }
                if (!h->thaw)
                        break;
        }
        finish(h);
}

static int on_defer(sd_event_source *src, void *userdata) {
        struct freeze_hooks *h = userdata;
        h->defer = sd_event_source_disable_unref(h->defer);
        step(h);
        return 0;
}

/* Thaw hooks in reverse: the last application quiesced is the first resumed. Undoing a
 * freeze that did not finish: only the hooks up to limit (or before it). */
static void select_names(struct freeze_hooks *h, const char *limit, bool inclusive) {
        size_t kept = 0;
        for (size_t k = 0; k < h->n; k++) {
                int c = limit ? strcmp(h->names[k], limit) : -1;
                if (c < 0 || (c == 0 && inclusive))
                        h->names[kept++] = h->names[k];
                else
                        free(h->names[k]);
        }
        h->n = kept;
        if (h->thaw)
                for (size_t i = 0; i < h->n / 2; i++) {
                        char *t = h->names[i];
                        h->names[i] = h->names[h->n - 1 - i];
                        h->names[h->n - 1 - i] = t;
                }
}

int freeze_hooks_start(struct freeze_hooks **ret, sd_event *e, const char *root, const char *action,
                       unsigned timeout_sec, const char *limit, bool inclusive, freeze_hooks_done_fn done,
                       void *userdata) {
        struct freeze_hooks *h = calloc(1, sizeof *h);
        int r;
        if (!h)
                return log_oom();
        h->event = sd_event_ref(e);
        h->thaw = strcmp(action, "thaw") == 0;
        h->timeout_sec = timeout_sec;
        h->done = done;
        h->userdata = userdata;
        snprintf(h->env_action, sizeof h->env_action, "PVIC_FREEZE_ACTION=%s", h->thaw ? "thaw" : "freeze");
        snprintf(h->env_timeout, sizeof h->env_timeout, "PVIC_FREEZE_HOOK_TIMEOUT=%u", timeout_sec);
        h->envp[0] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        h->envp[1] = h->env_action;
        h->envp[2] = h->env_timeout;
        h->envp[3] = NULL;
        if (!(h->dir = root_path(root, FREEZE_HOOKS_DIR)) ||
            (r = hook_list(h->dir, FREEZE_HOOKS_MAX, "Freeze", &h->names, &h->n)) < 0 ||
            (r = sd_event_add_defer(e, &h->defer, on_defer, h)) < 0) {
                freeze_hooks_free(h);
                return log_oom();
        }
        select_names(h, limit, inclusive);
        *ret = h;
        return 0;
}

void freeze_hooks_cancel(struct freeze_hooks *h) {
        if (!h || h->cancelled)
                return;
        h->cancelled = true;
        /* Killed, its done follows from the loop; not started yet, the deferred first
         * step ends the sequence at once. */
        if (h->run) {
                log_notice("Freeze hook %s: killed (the freeze is cancelled).", hook_proc_name(h->run));
                hook_proc_kill(h->run);
        }
}

const char *freeze_hooks_last_started(const struct freeze_hooks *h) {
        return h->last_started[0] ? h->last_started : NULL;
}

struct freeze_hooks *freeze_hooks_free(struct freeze_hooks *h) {
        if (!h)
                return NULL;
        hook_proc_free(h->run);
        sd_event_source_disable_unref(h->defer);
        hook_list_free(h->names, h->n);
        sd_event_unref(h->event);
        free(h->dir);
        free(h);
        return NULL;
}
