/* One administrator hook as a child of the loop. Its output comes through a pipe and is
 * logged line by line; its exit through an sd-event child source (a pidfd where the
 * kernel has them, SIGCHLD where it does not: kernels before 5.3, valgrind); its deadline
 * through a timer that kills the whole process group, so a hook's background children
 * cannot outlive a timeout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvic/hook_proc.h"
#include "pvic/log.h"
#include "pvic/spawn.h"
#include "pvic/text.h"

struct hook_proc {
        char *name;
        const char *what;   /* static string of the caller's */
        pid_t pid;          /* 0 once it has exited */
        int out_fd;
        sd_event_source *exit_source, *out_source, *timer;
        bool killed;
        unsigned timeout_sec; /* for the log: what the deadline came to */
        size_t logged;      /* output bytes seen; logging stops at HOOK_OUTPUT_MAX */
        size_t line_len;
        char line[HOOK_LINE_MAX + 1];
        hook_done_fn done;
        void *userdata;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

const char *hook_proc_name(const struct hook_proc *h) {
        return h->name;
}

static void log_line(struct hook_proc *h) {
        char clean[HOOK_LINE_MAX + 1];
        h->line[h->line_len] = '\0';
        log_info("%s %s: %s", h->what, h->name, text_sanitize(clean, sizeof clean, h->line));
        h->line_len = 0;
}

static void consume(struct hook_proc *h, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (h->logged >= HOOK_OUTPUT_MAX) {
                        if (h->logged++ == HOOK_OUTPUT_MAX)
                                log_notice("%s %s: more than %u bytes of output; the rest is dropped.", h->what,
                                           h->name, HOOK_OUTPUT_MAX);
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
static bool drain(struct hook_proc *h) {
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

static void close_output(struct hook_proc *h) {
        if (h->line_len > 0)
                log_line(h);
        h->out_source = sd_event_source_disable_unref(h->out_source);
        if (h->out_fd >= 0)
                close(h->out_fd);
        h->out_fd = -1;
}

static int on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        struct hook_proc *h = userdata;
        if (drain(h))
                close_output(h);
        return 0;
}

static void kill_group(struct hook_proc *h) {
        /* The negative pid is the process group the hook leads; its children die too. */
        if (kill(-h->pid, SIGKILL) < 0)
                (void)kill(h->pid, SIGKILL);
}

/* sd-event reaps the child after this returns: until then its zombie holds the group id. */
static int on_exit_(sd_event_source *src, const siginfo_t *si, void *userdata) {
        struct hook_proc *h = userdata;
        enum hook_result result;

        /* The hook's children too, while the group id is still held. */
        if (h->killed)
                (void)kill(-h->pid, SIGKILL);
        h->pid = 0;
        h->exit_source = sd_event_source_disable_unref(h->exit_source);
        h->timer = sd_event_source_disable_unref(h->timer);

        /* Output written before the exit is still in the pipe; a background child that
         * keeps the pipe open must not hold anything up, so read what's there, close. */
        if (h->out_fd >= 0) {
                (void)drain(h);
                close_output(h);
        }
        if (h->killed)
                result = HOOK_TIMED_OUT;
        else if (si->si_code == CLD_EXITED && si->si_status == 0) {
                log_info("%s %s finished.", h->what, h->name);
                result = HOOK_OK;
        } else {
                if (si->si_code == CLD_EXITED)
                        log_warning("%s %s exited with status %d.", h->what, h->name, si->si_status);
                else
                        log_warning("%s %s was killed by signal %d.", h->what, h->name, si->si_status);
                result = HOOK_FAILED;
        }
        /* Last: the callback may free h. */
        h->done(h, result, h->userdata);
        return 0;
}

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        struct hook_proc *h = userdata;
        log_warning("%s %s did not finish within %u s; killing it.", h->what, h->name, h->timeout_sec);
        hook_proc_kill(h);
        return 0;
}

void hook_proc_kill(struct hook_proc *h) {
        if (!h || h->pid <= 0 || h->killed)
                return;
        h->killed = true;
        h->timer = sd_event_source_disable_unref(h->timer);
        kill_group(h);
}

static int spawn(const struct hook_spec *spec, pid_t *ret_pid, int *ret_out) {
        char path[PATH_MAX];
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        int p[2], r;

        if (snprintf(path, sizeof path, "%s/%s", spec->dir, spec->name) >= (int)sizeof path)
                return -ENAMETOOLONG;
        char *argv[] = { path, (char *)spec->arg, NULL };
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        /* Own process group: a timeout kills the hook's children with it. */
        r = spawn_clean_init(&attr, &fa, POSIX_SPAWN_SETPGROUP, p[1]);
        if (r < 0) {
                close(p[0]);
                close(p[1]);
                return r;
        }
        r = posix_spawn(ret_pid, path, &fa, &attr, argv, spec->envp);
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

int hook_proc_start(struct hook_proc **ret, sd_event *e, const struct hook_spec *spec, hook_done_fn done,
                    void *userdata) {
        uint64_t now = now_usec();
        unsigned timeout_sec = spec->deadline_usec > now ? (unsigned)((spec->deadline_usec - now + 999999) / 1000000) : 0;
        struct hook_proc *h = calloc(1, sizeof *h);
        sigset_t chld;
        int r;

        if (!h || !(h->name = strdup(spec->name))) {
                free(h);
                return log_oom();
        }
        h->out_fd = -1;
        h->what = spec->what;
        h->timeout_sec = timeout_sec;
        h->done = done;
        h->userdata = userdata;
        /* sd-event's child sources need SIGCHLD blocked; the hook's own mask is reset. */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, NULL);
        r = spawn(spec, &h->pid, &h->out_fd);
        if (r < 0) {
                log_warning_errno(r, "%s %s: cannot run it: %m", spec->what, spec->name);
                h->pid = 0;
                hook_proc_free(h);
                return r;
        }
        log_info("%s %s: running (pid %d, timeout %u s).", spec->what, spec->name, (int)h->pid, timeout_sec);

        /* From here the child exists: failures must kill it, not leave it unwatched. */
        if ((r = sd_event_add_child(e, &h->exit_source, h->pid, WEXITED, on_exit_, h)) >= 0 &&
            (r = sd_event_add_io(e, &h->out_source, h->out_fd, EPOLLIN, on_output, h)) >= 0)
                r = sd_event_add_time(e, &h->timer, CLOCK_MONOTONIC, spec->deadline_usec, 0, on_deadline, h);
        if (r < 0) {
                log_warning_errno(r, "%s %s: cannot watch it: %m; killing it.", spec->what, spec->name);
                hook_proc_free(h);
                return r;
        }
        /* Output before exit: the last lines are logged before the hook's outcome. */
        (void)sd_event_source_set_priority(h->out_source, SD_EVENT_PRIORITY_NORMAL - 1);
        *ret = h;
        return 0;
}

struct hook_proc *hook_proc_free(struct hook_proc *h) {
        if (!h)
                return NULL;
        if (h->pid > 0) {
                kill_group(h);
                while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        sd_event_source_disable_unref(h->exit_source);
        sd_event_source_disable_unref(h->out_source);
        sd_event_source_disable_unref(h->timer);
        if (h->out_fd >= 0)
                close(h->out_fd);
        free(h->name);
        free(h);
        return NULL;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void hook_list_free(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

int hook_list(const char *dir, size_t max, const char *what, char ***ret_names, size_t *ret_n) {
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d = opendir(dir);

        *ret_names = NULL;
        *ret_n = 0;
        if (!d) {
                if (errno == ENOENT)
                        log_debug("%s: no directory %s.", what, dir);
                else
                        log_warning_errno(errno, "%s: cannot open %s: %m; no hooks run.", what, dir);
                return 0;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n >= max) {
                        log_warning("%s: more than %zu entries in %s; the rest are ignored.", what, max, dir);
                        break;
                }
                char **more = realloc(names, (n + 1) * sizeof *more);
                if (!more || !(more[n] = strdup(de->d_name))) {
                        names = more ?: names;
                        closedir(d);
                        hook_list_free(names, n);
                        return log_oom();
                }
                names = more;
                n++;
        }
        closedir(d);
        if (n > 1)
                qsort(names, n, sizeof *names, cmp_str);
        *ret_names = names;
        *ret_n = n;
        return 0;
}

bool hook_runnable(const char *dir, const char *name, const char *what) {
        struct stat st;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        bool ok = false;

        if (dfd < 0 || fstatat(dfd, name, &st, 0) < 0)
                log_info_errno(errno, "%s: skipping %s/%s: %m", what, dir, name);
        else if (!S_ISREG(st.st_mode))
                log_info("%s: skipping %s/%s: not a regular file.", what, dir, name);
        else if (!(st.st_mode & 0111) || faccessat(dfd, name, X_OK, AT_EACCESS) < 0)
                log_info("%s: skipping %s/%s: not executable.", what, dir, name);
        else if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 0022))
                log_warning("%s: skipping %s/%s: writable by others or not owned by us.", what, dir, name);
        else
                ok = true;
        if (dfd >= 0)
                close(dfd);
        return ok;
}
