/* Administrator hooks (shutdown.d, freeze.d) as children of the event loop: one
 * executable at a time per caller, fixed argv and environment, its own process group,
 * stdout and stderr logged line by line (sanitised, bounded), SIGKILLed with its group at
 * a deadline. Nothing waits: the exit arrives through a pidfd and the caller hears the
 * outcome once, from the loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define HOOK_LINE_MAX 1024            /* longer output lines are split */
#define HOOK_OUTPUT_MAX (64u * 1024u) /* logged per hook; the rest is read and dropped */

enum hook_result {
        HOOK_OK,        /* exit status 0 */
        HOOK_FAILED,    /* another status, a signal, or it could not be started */
        HOOK_TIMED_OUT, /* killed at its deadline, or by hook_proc_kill() */
};

struct hook_spec {
        const char *dir;        /* the hooks directory, root prefix applied */
        const char *name;       /* file name in dir */
        const char *arg;        /* argv[1] */
        char *const *envp;      /* the whole environment */
        uint64_t deadline_usec; /* CLOCK_MONOTONIC */
        const char *what;       /* log prefix: "Shutdown hook", "Freeze hook" */
};

struct hook_proc;
/* Called once per started hook. It may free the hook_proc. */
typedef void (*hook_done_fn)(struct hook_proc *h, enum hook_result result, void *userdata);

/* Spawns and watches it. A negative return means nothing runs and done is not called. */
int hook_proc_start(struct hook_proc **ret, sd_event *e, const struct hook_spec *spec, hook_done_fn done,
                    void *userdata);
/* Kills its group now; done(HOOK_TIMED_OUT) follows from the loop. */
void hook_proc_kill(struct hook_proc *h);
/* Kills and reaps a hook still running, without calling done. */
struct hook_proc *hook_proc_free(struct hook_proc *h);
const char *hook_proc_name(const struct hook_proc *h);

/* The entries of dir not starting with '.', in strcmp order (the C locale's, whatever
 * the daemon's environment), at most max of them (a warning names the rest ignored). A
 * missing directory is an empty list. */
int hook_list(const char *dir, size_t max, const char *what, char ***ret_names, size_t *ret_n);
void hook_list_free(char **names, size_t n);
/* Admin executables run as us (root): only regular, executable files owned by root or
 * us and not writable by group or others; the reason for a refusal is logged. */
bool hook_runnable(const char *dir, const char *name, const char *what);
