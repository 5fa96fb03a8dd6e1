/* LD_PRELOAD shim for tests/integration/kvp-kill9.sh: a pwrite() to a KVP pool file that
 * crosses a page boundary is done as two writes split at that boundary, with a pause in
 * between. A SIGKILL in the pause leaves exactly what the kernel leaves when it cuts a
 * write short between pages, but with a window wide enough for a test to hit.
 * KVP_SLOW_US sets the pause (default 3000). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset);
ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset);

static int is_pool_file(int fd) {
        char link[64], target[4096];
        ssize_t n;
        const char *base;

        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof target - 1);
        if (n < 0)
                return 0;
        target[n] = '\0';
        base = strrchr(target, '/');
        return base && strncmp(base + 1, ".kvp_pool_", 10) == 0;
}

static ssize_t slow_pwrite(int fd, const void *buf, size_t count, off_t offset) {
        static ssize_t (*real)(int, const void *, size_t, off_t);
        size_t first;
        ssize_t n, m;

        if (!real)
                real = (ssize_t (*)(int, const void *, size_t, off_t)) dlsym(RTLD_NEXT, "pwrite");
        first = 4096 - (size_t) (offset % 4096);
        if (first >= count || !is_pool_file(fd))
                return real(fd, buf, count, offset);

        n = real(fd, buf, first, offset);
        if (n != (ssize_t) first)
                return n;
        {
                const char *e = getenv("KVP_SLOW_US");
                long us = e ? atol(e) : 3000;
                struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
                nanosleep(&ts, NULL);
        }
        m = real(fd, (const char *) buf + first, count - first, offset + (off_t) first);
        return m < 0 ? n : n + m;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
        return slow_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
        return slow_pwrite(fd, buf, count, offset);
}
