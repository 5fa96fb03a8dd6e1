/* What every child of pvicd starts with: no blocked signals and default dispositions
 * (the daemon blocks signals for sd-event; a child must not inherit that), stdin on
 * /dev/null, stdout joined to stderr or given, nothing else open, cwd "/". */
#pragma once
#include <spawn.h>

/* flags: extra POSIX_SPAWN_* (SETPGROUP, SETSID); out_fd: stdout and stderr, or -1 for
 * stdout onto our stderr. Both are initialised here; destroy them after posix_spawn. */
int spawn_clean_init(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa, short flags, int out_fd);
