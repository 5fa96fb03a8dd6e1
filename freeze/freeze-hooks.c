/* Pre-freeze and post-thaw hooks: the administrator's executables in freeze.d, the same
 * rules as shutdown hooks (docs/shutdown.md: owned by root, not writable by others, fixed
 * argv, own process group, killed at the timeout). They run to completion before the
 * freeze and after the thaw, never while anything is frozen, so waiting for them here
 * cannot hold a filesystem frozen; the lease starts only once they are done. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "pvic/config.h"
#include "pvic/freeze.h"
#include "pvic/log.h"

#define FREEZE_HOOKS_MAX 64

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool hook_runnable(int dfd, const char *name) {
        struct stat st;
        if (fstatat(dfd, name, &st, 0) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) ||
            faccessat(dfd, name, X_OK, AT_EACCESS) < 0) {
                log_info("freeze: skipping hook %s: not an executable file.", name);
                return false;
        }
        if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 0022)) {
                log_warning("freeze: skipping hook %s: writable by others or not owned by us.", name);
                return false;
        }
        return true;
}

static int64_t now_msec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 on exit status 0, -EIO on another end, -ETIMEDOUT when it had to be killed. */
static int run_one(const char *path, const char *action, unsigned timeout_sec) {
        char env_action[64], env_timeout[64];
        snprintf(env_action, sizeof env_action, "PVIC_FREEZE_ACTION=%s", action);
        snprintf(env_timeout, sizeof env_timeout, "PVIC_FREEZE_HOOK_TIMEOUT=%u", timeout_sec);
        char *envp[] = { (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         env_action, env_timeout, NULL };
        char *argv[] = { (char *)path, (char *)action, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        pid_t pid;
        int status = 0, r;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        /* Output joins ours (the journal): no pipe to drain while we wait. */
        posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
        posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        posix_spawn_file_actions_addchdir_np(&fa, "/");
        r = posix_spawn(&pid, path, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_warning_errno(r, "freeze: cannot run hook %s: %m", path);

        _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        int64_t deadline = now_msec() + (int64_t)timeout_sec * 1000;
        bool killed = false;
        for (;;) {
                int64_t left = deadline - now_msec();
                /* Without a pidfd it cannot be timed: it does not run unwatched. */
                if (left <= 0 || pidfd < 0) {
                        killed = true;
                        log_warning("freeze: hook %s did not finish within %u s; killing it.", path,
                                    timeout_sec);
                        if (kill(-pid, SIGKILL) < 0)
                                (void)kill(pid, SIGKILL);
                        break;
                }
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                r = poll(&p, 1, (int)MIN(left, 1000));
                if (r > 0)
                        break;
                if (r < 0 && errno != EINTR) {
                        (void)kill(-pid, SIGKILL);
                        killed = true;
                        break;
                }
        }
        /* The hook's children too, while its zombie still holds the group id. */
        if (killed)
                (void)kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (killed)
                return -ETIMEDOUT;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                log_warning("freeze: hook %s exited with status %d.", path, WEXITSTATUS(status));
        else
                log_warning("freeze: hook %s was killed by signal %d.", path, WTERMSIG(status));
        return -EIO;
}

int freeze_hooks_run(const char *root, const char *action, unsigned timeout_sec, const char *before, char *failed,
                     size_t size) {
        _cleanup_free_ char *dir = root_path(root, FREEZE_HOOKS_DIR);
        char *names[FREEZE_HOOKS_MAX];
        size_t n = 0;
        int result = 0;
        bool thaw = strcmp(action, "thaw") == 0;

        if (!dir)
                return -ENOMEM;
        DIR *d = opendir(dir);
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < FREEZE_HOOKS_MAX)
                if (de->d_name[0] != '.' && (names[n] = strdup(de->d_name)))
                        n++;
        if (n > 1)
                qsort(names, n, sizeof *names, cmp_str);
        /* Thaw hooks in reverse: the last application quiesced is the first resumed. */
        for (size_t k = 0; k < n; k++) {
                const char *name = names[thaw ? n - 1 - k : k];
                char path[PATH_MAX];
                /* Undoing a failed freeze: only the hooks that had quiesced something. */
                if (before && strcmp(name, before) >= 0)
                        continue;
                if (!hook_runnable(dirfd(d), name) ||
                    snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
                        continue;
                log_info("freeze: running %s hook %s (timeout %u s).", action, name, timeout_sec);
                int r = run_one(path, action, timeout_sec);
                if (r < 0 && result == 0) {
                        result = r;
                        if (failed)
                                snprintf(failed, size, "%s", name);
                        /* A failed pre-freeze hook cancels the freeze; thaw hooks all run. */
                        if (!thaw)
                                break;
                }
        }
        for (size_t k = 0; k < n; k++)
                free(names[k]);
        closedir(d);
        return result;
}
