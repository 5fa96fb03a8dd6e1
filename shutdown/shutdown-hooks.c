/* Local shutdown hooks: the executables in the hooks directory, run one at a time in
 * name order through the loop's hook runner (daemon/hook-proc.c), each with its own
 * timeout and all of them within the hooks' deadline (the host's timeout if smaller).
 * Host text reaches a hook only as an environment value. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvic/log.h"
#include "shutdown-internal.h"

#define WHAT "Shutdown hook"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void hooks_free_list(struct shutdown_service *s) {
        hook_list_free(s->hooks, s->n_hooks);
        s->hooks = NULL;
        s->n_hooks = s->next_hook = 0;
}

static void run_next(struct shutdown_service *s);

static void on_hook_done(struct hook_proc *h, enum hook_result result, void *userdata) {
        struct shutdown_service *s = userdata;
        char name[SHUTDOWN_DETAIL_MAX];
        /* A kill at the hooks' deadline ends the hooks, not just this one. */
        bool deadline = result == HOOK_TIMED_OUT && now_usec() >= s->deadline_usec;

        snprintf(name, sizeof name, "%s", hook_proc_name(h));
        s->run = hook_proc_free(s->run);
        if (result == HOOK_TIMED_OUT)
                shutdown_report_state(s, SHUTDOWN_HOOK_TIMEOUT, "%s", name);
        else if (result == HOOK_FAILED) {
                shutdown_report_state(s, SHUTDOWN_HOOK_FAILED, "%s", name);
                if (s->config.abort_on_hook_failure && !s->force) {
                        shutdown_finish(s, SHUTDOWN_FAILED, "hook-failed:%s", name);
                        return;
                }
        }
        if (deadline) {
                log_warning("Shutdown: the hooks' deadline passed; %zu remaining hook(s) skipped.",
                            s->n_hooks - s->next_hook);
                s->next_hook = s->n_hooks;
        }
        run_next(s);
}

static int build_env(struct shutdown_service *s, unsigned hook_timeout, char env[][SHUTDOWN_REASON_MAX + 32],
                     char **envp) {
        size_t n = 0;
        snprintf(env[n++], sizeof env[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        snprintf(env[n++], sizeof env[0], "PVIC_SHUTDOWN_ACTION=%s", shutdown_action_to_string(s->action));
        snprintf(env[n++], sizeof env[0], "PVIC_SHUTDOWN_FORCE=%d", s->force ? 1 : 0);
        snprintf(env[n++], sizeof env[0], "PVIC_SHUTDOWN_REASON=%s", s->reason);
        snprintf(env[n++], sizeof env[0], "PVIC_SHUTDOWN_REASON_CODE=0x%08x", s->reason_code);
        snprintf(env[n++], sizeof env[0], "PVIC_SHUTDOWN_TIMEOUT=%u", s->host_timeout_sec);
        snprintf(env[n++], sizeof env[0], "PVIC_SHUTDOWN_HOOK_TIMEOUT=%u", hook_timeout);
        for (size_t i = 0; i < n; i++)
                envp[i] = env[i];
        envp[n] = NULL;
        return (int)n;
}

static int start_one(struct shutdown_service *s, const char *name) {
        char env[8][SHUTDOWN_REASON_MAX + 32];
        char *envp[9];
        uint64_t now = now_usec();
        uint64_t until = MIN(now + s->config.hook_timeout_sec * 1000000ULL, s->deadline_usec);

        build_env(s, (unsigned)((until - now + 999999) / 1000000), env, envp);
        struct hook_spec spec = {
                .dir = s->hooks_dir,
                .name = name,
                .arg = shutdown_action_to_string(s->action),
                .envp = envp,
                .deadline_usec = until,
                .what = WHAT,
        };
        return hook_proc_start(&s->run, s->event, &spec, on_hook_done, s);
}

static void run_next(struct shutdown_service *s) {
        while (s->next_hook < s->n_hooks) {
                const char *name = s->hooks[s->next_hook++];

                if (now_usec() >= s->deadline_usec) {
                        log_warning("Shutdown: the hooks' deadline passed; %zu hook(s) skipped.",
                                    s->n_hooks - s->next_hook + 1);
                        break;
                }
                if (!hook_runnable(s->hooks_dir, name, "Shutdown"))
                        continue;
                if (start_one(s, name) == 0)
                        return;
                shutdown_report_state(s, SHUTDOWN_HOOK_FAILED, "%s", name);
                if (s->config.abort_on_hook_failure && !s->force) {
                        char n[SHUTDOWN_DETAIL_MAX];
                        snprintf(n, sizeof n, "%s", name);
                        shutdown_finish(s, SHUTDOWN_FAILED, "hook-failed:%s", n);
                        return;
                }
        }
        hooks_free_list(s);
        shutdown_power_start(s);
}

void shutdown_hooks_start(struct shutdown_service *s) {
        uint32_t budget = s->config.deadline_sec;

        /* The host stops the VM after its timeout whatever we do: hooks get no more. */
        if (s->host_timeout_sec > 0)
                budget = MIN(budget, s->host_timeout_sec);
        s->deadline_usec = now_usec() + budget * 1000000ULL;
        s->phase = PHASE_HOOKS;
        shutdown_report_state(s, SHUTDOWN_RUNNING_HOOKS, NULL);
        (void)hook_list(s->hooks_dir, HOOKS_MAX, "Shutdown", &s->hooks, &s->n_hooks);
        run_next(s);
}

void shutdown_hooks_cancel(struct shutdown_service *s) {
        /* Only at teardown: the hook's outcome no longer matters. */
        s->run = hook_proc_free(s->run);
        hooks_free_list(s);
}
