/* Local shutdown hooks: the executables in the hooks directory, run one at a time in
 * name order, each in its own process group with a fixed argv and environment, its
 * output logged line by line, killed (the whole group) at its timeout. Nothing here
 * waits: the child's exit arrives through a pidfd and its output through a pipe, both
 * on the loop. Host text reaches a hook only as an environment value. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvic/log.h"
#include "shutdown-internal.h"

extern char **environ;

static void hooks_free_list(struct shutdown_service *s) {
        for (size_t i = 0; i < s->n_hooks; i++)
                free(s->hooks[i]);
        free(s->hooks);
        s->hooks = NULL;
        s->n_hooks = s->next_hook = 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names only; whether each is a runnable hook is decided just before running it. */
static int hooks_list(struct shutdown_service *s) {
        DIR *d = opendir(s->hooks_dir);
        struct dirent *de;

        if (!d) {
                if (errno == ENOENT)
                        log_debug("Shutdown: no hooks directory %s.", s->hooks_dir);
                else
                        log_warning_errno(errno, "Shutdown: cannot open %s: %m; no hooks run.", s->hooks_dir);
                return 0;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (s->n_hooks >= HOOKS_MAX) {
                        log_warning("Shutdown: more than %d entries in %s; the rest are ignored.",
                                    HOOKS_MAX, s->hooks_dir);
                        break;
                }
                char **n = realloc(s->hooks, (s->n_hooks + 1) * sizeof *n);
                if (!n)
                        break;
                s->hooks = n;
                if (!(s->hooks[s->n_hooks] = strdup(de->d_name)))
                        break;
                s->n_hooks++;
        }
        closedir(d);
        /* strcmp order: the C locale's, independent of the daemon's environment */
        if (s->n_hooks > 1)
                qsort(s->hooks, s->n_hooks, sizeof *s->hooks, cmp_str);
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void run_free(struct hook_run *h) {
        if (!h)
                return;
        sd_event_source_disable_unref(h->exit_source);
        sd_event_source_disable_unref(h->out_source);
        sd_event_source_disable_unref(h->timer);
        if (h->pidfd >= 0)
                close(h->pidfd);
        if (h->out_fd >= 0)
                close(h->out_fd);
        free(h->name);
        free(h);
}

static void run_next(struct shutdown_service *s);

static void log_line(struct hook_run *h) {
        char clean[HOOK_LINE_MAX + 1];
        h->line[h->line_len] = '\0';
        log_info("Shutdown hook %s: %s", h->name, shutdown_sanitize(clean, sizeof clean, h->line));
        h->line_len = 0;
}

static void consume(struct hook_run *h, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (h->logged >= HOOK_OUTPUT_MAX) {
                        if (h->logged++ == HOOK_OUTPUT_MAX)
                                log_notice("Shutdown hook %s: more than %u bytes of output; "
                                           "the rest is dropped.", h->name, HOOK_OUTPUT_MAX);
                        continue;
                }
                h->logged++;
                if (buf[i] == '\n') {
                        log_line(h);
                        continue;
                }
                h->line[h->line_len++] = buf[i];
                if (h->line_len == HOOK_LINE_MAX)
                        log_line(h);
        }
}

/* Reads what is there. Returns true at end of file or error. */
static bool drain(struct hook_run *h) {
        char buf[4096];
        for (;;) {
                ssize_t n = read(h->out_fd, buf, sizeof buf);
                if (n > 0) {
                        consume(h, buf, (size_t)n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                return !(n < 0 && errno == EAGAIN);
        }
}

static void close_output(struct hook_run *h) {
        if (h->line_len > 0)
                log_line(h);
        h->out_source = sd_event_source_disable_unref(h->out_source);
        if (h->out_fd >= 0)
                close(h->out_fd);
        h->out_fd = -1;
}

static int on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct shutdown_service *s = userdata;
        if (drain(s->run))
                close_output(s->run);
        return 0;
}

static int on_hook_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct shutdown_service *s = userdata;
        struct hook_run *h = s->run;
        int status = 0;
        pid_t p;

        /* The hook's children too, while its zombie still holds the group id. */
        if (h->timed_out)
                (void)kill(-h->pid, SIGKILL);
        do
                p = waitpid(h->pid, &status, WNOHANG);
        while (p < 0 && errno == EINTR);
        if (p == 0)
                return 0; /* spurious wakeup */
        if (p < 0)
                log_warning_errno(errno, "Shutdown hook %s: cannot reap pid %d: %m", h->name, (int)h->pid);
        h->pid = 0;

        /* Output written before the exit is still in the pipe; a background child that
         * keeps the pipe open must not hold up the shutdown, so read what's there, close. */
        if (h->out_fd >= 0) {
                (void)drain(h);
                close_output(h);
        }
        if (h->timed_out) {
                shutdown_report_state(s, SHUTDOWN_HOOK_TIMEOUT, "%s", h->name);
        } else if (p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                log_info("Shutdown hook %s finished.", h->name);
        } else {
                if (p > 0 && WIFEXITED(status))
                        log_warning("Shutdown hook %s exited with status %d.", h->name, WEXITSTATUS(status));
                else if (p > 0 && WIFSIGNALED(status))
                        log_warning("Shutdown hook %s was killed by signal %d.", h->name,
                                    WTERMSIG(status));
                shutdown_report_state(s, SHUTDOWN_HOOK_FAILED, "%s", h->name);
                if (s->config.abort_on_hook_failure && !s->force) {
                        char name[SHUTDOWN_DETAIL_MAX];
                        snprintf(name, sizeof name, "%s", h->name);
                        shutdown_finish(s, SHUTDOWN_FAILED, "hook-failed:%s", name);
                        return 0;
                }
        }

        bool deadline = h->deadline_hit;
        run_free(TAKE_PTR(s->run));
        if (deadline) {
                log_warning("Shutdown: the hooks' deadline passed; %zu remaining hook(s) skipped.",
                            s->n_hooks - s->next_hook);
                s->next_hook = s->n_hooks;
        }
        run_next(s);
        return 0;
}

static int on_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        struct shutdown_service *s = userdata;
        struct hook_run *h = s->run;

        h->timed_out = true;
        h->deadline_hit = usec >= s->deadline_usec;
        log_warning("Shutdown hook %s: %s passed; killing it.", h->name,
                    h->deadline_hit ? "the hooks' deadline" : "its timeout");
        /* The negative pid is the process group the hook leads; its children die too. */
        if (kill(-h->pid, SIGKILL) < 0)
                (void)kill(h->pid, SIGKILL);
        return 0;
}

/* Admin-provided executables run as us (root): refuse ones others could have changed. */
static bool hook_runnable(int dfd, const char *dir, const char *name, const struct stat *st) {
        if (!S_ISREG(st->st_mode)) {
                log_info("Shutdown: skipping %s/%s: not a regular file.", dir, name);
                return false;
        }
        if (!(st->st_mode & 0111) || faccessat(dfd, name, X_OK, AT_EACCESS) < 0) {
                log_info("Shutdown: skipping %s/%s: not executable.", dir, name);
                return false;
        }
        if ((st->st_uid != 0 && st->st_uid != geteuid()) || (st->st_mode & 0022)) {
                log_warning("Shutdown: skipping %s/%s: writable by others or not owned by us.",
                            dir, name);
                return false;
        }
        return true;
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

static int spawn(struct shutdown_service *s, const char *name, unsigned timeout_sec, pid_t *ret_pid,
                 int *ret_out) {
        char path[PATH_MAX];
        char env[8][SHUTDOWN_REASON_MAX + 32];
        char *envp[9];
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int p[2], r;

        if (snprintf(path, sizeof path, "%s/%s", s->hooks_dir, name) >= (int)sizeof path)
                return -ENAMETOOLONG;
        char *argv[] = { path, (char *)shutdown_action_to_string(s->action), NULL };
        build_env(s, timeout_sec, env, envp);

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        /* Own process group: a timeout kills the hook's children with it. Clean signal
         * state: the daemon's blocked/ignored signals are not the hook's business. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
        posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        posix_spawn_file_actions_addchdir_np(&fa, "/");

        r = posix_spawn(ret_pid, path, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return -r;
        }
        (void)fcntl(p[0], F_SETFL, O_NONBLOCK);
        *ret_out = p[0];
        return 0;
}

static int start_one(struct shutdown_service *s, const char *name) {
        struct hook_run *h;
        uint64_t now = now_usec(), until;
        unsigned timeout_sec;
        int r;

        until = MIN(now + s->config.hook_timeout_sec * 1000000ULL, s->deadline_usec);
        timeout_sec = (unsigned)((until - now + 999999) / 1000000);

        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->pidfd = h->out_fd = -1;
        s->run = h;
        if (!(h->name = strdup(name)))
                return -ENOMEM;
        r = spawn(s, name, timeout_sec, &h->pid, &h->out_fd);
        if (r < 0)
                return log_warning_errno(r, "Shutdown hook %s: cannot run it: %m", name);
        log_info("Shutdown: running hook %s (pid %d, timeout %us).", name, (int)h->pid, timeout_sec);

        /* From here the child exists: failures must kill it, not leave it unwatched. */
        h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
        if (h->pidfd < 0)
                r = -errno;
        else if ((r = sd_event_add_io(s->event, &h->exit_source, h->pidfd, EPOLLIN, on_hook_exit, s)) >= 0 &&
                 (r = sd_event_add_io(s->event, &h->out_source, h->out_fd, EPOLLIN, on_output, s)) >= 0)
                r = sd_event_add_time(s->event, &h->timer, CLOCK_MONOTONIC, until, 0, on_timeout, s);
        if (r < 0) {
                log_warning_errno(r, "Shutdown hook %s: cannot watch it: %m; killing it.", name);
                (void)kill(-h->pid, SIGKILL);
                (void)waitpid(h->pid, NULL, 0);
                return r;
        }
        /* output before exit: the last lines are logged before the hook's outcome */
        (void)sd_event_source_set_priority(h->out_source, SD_EVENT_PRIORITY_NORMAL - 1);
        return 0;
}

static void run_next(struct shutdown_service *s) {
        int dfd = open(s->hooks_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        while (s->next_hook < s->n_hooks) {
                const char *name = s->hooks[s->next_hook++];
                struct stat st;

                if (now_usec() >= s->deadline_usec) {
                        log_warning("Shutdown: the hooks' deadline passed; %zu hook(s) skipped.",
                                    s->n_hooks - s->next_hook + 1);
                        break;
                }
                if (dfd < 0 || fstatat(dfd, name, &st, 0) < 0) {
                        log_info_errno(errno, "Shutdown: skipping %s/%s: %m", s->hooks_dir, name);
                        continue;
                }
                if (!hook_runnable(dfd, s->hooks_dir, name, &st))
                        continue;
                if (start_one(s, name) == 0) {
                        close(dfd);
                        return;
                }
                run_free(TAKE_PTR(s->run));
                shutdown_report_state(s, SHUTDOWN_HOOK_FAILED, "%s", name);
                if (s->config.abort_on_hook_failure && !s->force) {
                        if (dfd >= 0)
                                close(dfd);
                        char n[SHUTDOWN_DETAIL_MAX];
                        snprintf(n, sizeof n, "%s", name);
                        shutdown_finish(s, SHUTDOWN_FAILED, "hook-failed:%s", n);
                        return;
                }
        }
        if (dfd >= 0)
                close(dfd);
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
        hooks_list(s);
        run_next(s);
}

void shutdown_hooks_cancel(struct shutdown_service *s) {
        struct hook_run *h = s->run;
        if (h) {
                /* Only at teardown: the hook's outcome no longer matters. */
                if (h->pid > 0) {
                        (void)kill(-h->pid, SIGKILL);
                        (void)waitpid(h->pid, NULL, 0);
                }
                run_free(TAKE_PTR(s->run));
        }
        hooks_free_list(s);
}
