/* Feeds chronyd's SOCK refclock (chrony.conf: `refclock SOCK /path refid PVIC`). When an
 * NTP daemon owns the clock pvicd only reports what the host said, and chronyd weighs
 * it against its other sources. Sends never block: a sample that cannot be queued now
 * is worthless a poll later anyway. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "pvic/clock.h"
#include "pvic/log.h"
#include "pvic/macro.h"
#include "chrony.h"

#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(struct chrony_sock_sample) == 40, "chrony SOCK sample layout");
_Static_assert(offsetof(struct chrony_sock_sample, offset) == 16, "chrony SOCK sample layout");
_Static_assert(offsetof(struct chrony_sock_sample, magic) == 36, "chrony SOCK sample layout");
#endif

struct chrony_sock {
        int fd;
        struct sockaddr_un addr;
        socklen_t addr_len;
};

int chrony_sock_new(const char *path, struct chrony_sock **ret) {
        if (!path || path[0] != '/')
                return -EINVAL;
        size_t len = strlen(path);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        if (len >= sizeof addr.sun_path)
                return -ENAMETOOLONG;
        memcpy(addr.sun_path, path, len + 1);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct chrony_sock *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->addr = addr;
        s->addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);
        s->fd = TAKE_FD(fd);
        *ret = s;
        return 0;
}

struct chrony_sock *chrony_sock_free(struct chrony_sock *s) {
        if (!s)
                return NULL;
        closep(&s->fd);
        free(s);
        return NULL;
}

int chrony_sock_send(struct chrony_sock *s, int64_t local_realtime_ns, int64_t offset_ns, int leap) {
        int64_t sec = local_realtime_ns / NSEC_PER_SEC, nsec = local_realtime_ns % NSEC_PER_SEC;
        if (nsec < 0) {
                sec--;
                nsec += NSEC_PER_SEC;
        }
        struct chrony_sock_sample m = {
                .tv.tv_sec = (time_t) sec,
                .tv.tv_usec = (suseconds_t) (nsec / NSEC_PER_USEC),
                /* The measurement belongs to tv (µs-truncated); fold the lost ns in. */
                .offset = ((double) offset_ns - (double) (nsec % NSEC_PER_USEC)) / 1e9,
                .leap = (leap == 1 || leap == 2) ? leap : 0,
                .magic = CHRONY_SOCK_MAGIC,
        };
        ssize_t n = sendto(s->fd, &m, sizeof m, MSG_DONTWAIT | MSG_NOSIGNAL,
                           (const struct sockaddr *) &s->addr, s->addr_len);
        if (n < 0)
                return -errno;
        return n == (ssize_t) sizeof m ? 0 : -EIO;
}
