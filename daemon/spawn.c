/* The one recipe for a child with a clean start (include/pvic/spawn.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "pvic/spawn.h"

int spawn_clean_init(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa, short flags, int out_fd) {
        sigset_t none, all;
        int r = posix_spawnattr_init(attr);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_init(fa);
        if (r != 0) {
                posix_spawnattr_destroy(attr);
                return -r;
        }
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawnattr_setflags(attr, flags | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (flags & POSIX_SPAWN_SETPGROUP)
                posix_spawnattr_setpgroup(attr, 0);
        posix_spawnattr_setsigmask(attr, &none);
        posix_spawnattr_setsigdefault(attr, &all);
        posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (out_fd >= 0) {
                posix_spawn_file_actions_adddup2(fa, out_fd, STDOUT_FILENO);
                posix_spawn_file_actions_adddup2(fa, out_fd, STDERR_FILENO);
        } else
                posix_spawn_file_actions_adddup2(fa, STDERR_FILENO, STDOUT_FILENO);
        posix_spawn_file_actions_addclosefrom_np(fa, STDERR_FILENO + 1);
        posix_spawn_file_actions_addchdir_np(fa, "/");
        return 0;
}
