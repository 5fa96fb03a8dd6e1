/* The thaw that does not need pvicd: a small process started before anything is frozen,
 * holding a pidfd of pvicd. It thaws what the journal lists when pvicd ends (crash,
 * kill -9), when it is told to stop (SIGTERM: systemd stopping the unit), or when the
 * lease has passed and pvicd did not thaw (a loop stuck on I/O). pvicd SIGKILLs it after
 * its own thaw. It is pvicd itself re-executed with a fixed argv: no shell, no PATH. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "pvic/freeze.h"
#include "pvic/log.h"
#include "pvic/spawn.h"

int freeze_guard_spawn(const char *self_exe, const char *root, unsigned lease_ms, int *ret_pid, int *ret_pidfd) {
        char pid_s[32], lease_s[32];
        snprintf(pid_s, sizeof pid_s, "%d", (int)getpid());
        snprintf(lease_s, sizeof lease_s, "%u", lease_ms);
        char *argv[] = { (char *)self_exe, (char *)"--thaw-guard", (char *)(root && *root ? root : "/"),
                         pid_s, lease_s, NULL };
        char *envp[] = { NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        pid_t pid;

        /* Own session: a signal to pvicd's process group or terminal does not reach it. */
        int r = spawn_clean_init(&attr, &fa, POSIX_SPAWN_SETSID, -1);
        if (r < 0)
                return log_error_errno(r, "freeze: cannot start the thaw guard %s: %m", self_exe);
        r = posix_spawn(&pid, self_exe, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_error_errno(r, "freeze: cannot start the thaw guard %s: %m", self_exe);
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                r = -errno;
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                return log_error_errno(r, "freeze: cannot watch the thaw guard: %m");
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

void freeze_guard_stop(int *pid, int *pidfd) {
        if (*pid <= 0)
                return;
        if (*pidfd >= 0)
                (void)syscall(SYS_pidfd_send_signal, *pidfd, SIGKILL, NULL, 0);
        else
                (void)kill(*pid, SIGKILL);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (*pidfd >= 0)
                close(*pidfd);
        *pid = 0;
        *pidfd = -1;
}

static int64_t now_msec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* argv: pvicd --thaw-guard ROOT PID LEASE_MS */
int freeze_guard_main(int argc, char **argv) {
        char *end;
        log_set_ident("pvicd-thaw-guard");
        if (argc != 5)
                return log_error_errno(EINVAL, "usage: pvicd --thaw-guard ROOT PID LEASE_MS");
        const char *root = argv[2];
        long pid = strtol(argv[3], &end, 10);
        if (*end || pid <= 1)
                return log_error_errno(EINVAL, "invalid pid '%s'", argv[3]);
        unsigned long lease_ms = strtoul(argv[4], &end, 10);
        if (*end || lease_ms > FREEZE_LEASE_MAX_SEC * 1000UL)
                return log_error_errno(EINVAL, "invalid lease '%s'", argv[4]);
        int64_t deadline = now_msec() + (int64_t)lease_ms + FREEZE_GUARD_GRACE_MSEC;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        const char *why = NULL;
        /* Reparented already: pvicd is gone (or the pid is someone else's now). */
        if (pidfd < 0 || getppid() != (pid_t)pid)
                why = "pvicd is gone";
        while (!why) {
                struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
                int64_t left = deadline - now_msec();
                if (left <= 0) {
                        why = "the lease passed";
                        break;
                }
                int r = poll(p, sfd >= 0 ? 2 : 1, (int)MIN(left, 1000));
                if (r < 0 && errno != EINTR)
                        why = "poll failed";
                else if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        why = "pvicd exited";
                else if (r > 0 && p[1].revents)
                        why = "told to stop";
        }
        /* Thaw first, talk after: the log may live on a frozen filesystem. */
        int n = freeze_recover(root);
        log_notice("thaw guard: %s; %d filesystem(s) thawed.", why, MAX(n, 0));
        return n < 0 ? 1 : 0;
}
