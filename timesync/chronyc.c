/* Runs `chronyc makestep` after a resume, so a chronyd that owns the clock jumps to the
 * host's time at once instead of slewing hours of suspend away. Fixed argv, binary from
 * a compiled-in list, empty environment, no shell: nothing the host sent reaches it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pvic/clock.h"
#include "pvic/macro.h"
#include "chrony.h"

static const char *const chronyc_paths[] = {
        "/usr/bin/chronyc",
        "/usr/sbin/chronyc",
        "/bin/chronyc",
        "/usr/local/bin/chronyc",
};

int chronyc_makestep_spawn(const char *cmd_socket, pid_t *ret_pid) {
        const char *bin = NULL;
        for (size_t i = 0; i < ELEMENTSOF(chronyc_paths) && !bin; i++)
                if (access(chronyc_paths[i], X_OK) == 0)
                        bin = chronyc_paths[i];
        if (!bin)
                return -ENOENT;

        char *const argv_default[] = { (char *) "chronyc", (char *) "makestep", NULL };
        char *const argv_socket[] = { (char *) "chronyc", (char *) "-h", (char *) cmd_socket,
                                      (char *) "makestep", NULL };
        char *const envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        /* The daemon blocks signals for sd-event; the child must start clean. */
        sigemptyset(&none);
        sigfillset(&all);
        r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &all);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        for (int fd = 0; fd <= 2 && r == 0; fd++)
                r = posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
        pid_t pid = 0;
        if (r == 0)
                r = posix_spawn(&pid, bin, &fa, &attr, cmd_socket ? argv_socket : argv_default, envp);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}

int chronyc_reap(pid_t pid, int *ret_status) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r < 0)
                return -errno;
        if (r == 0)
                return 0;
        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        return 1;
}

int chronyc_wait(pid_t pid, int64_t timeout_ns) {
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                int st, r = chronyc_reap(pid, &st);
                if (r < 0)
                        return r;
                if (r > 0)
                        return st;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t el = (int64_t) (now.tv_sec - start.tv_sec) * NSEC_PER_SEC + (now.tv_nsec - start.tv_nsec);
                if (el > timeout_ns) {
                        kill(pid, SIGKILL);
                        (void) waitpid(pid, &st, 0);
                        return -ETIMEDOUT;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
}
