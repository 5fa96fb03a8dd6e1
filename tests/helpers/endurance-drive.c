/* endurance-drive: many host requests to one pvicd, cheaply (issue 8, item 3).
 *
 *   endurance-drive xen SOCKET DOMID COUNT       (pvic-hostsim xen's host.sock)
 *   endurance-drive hyperv SOCKET GUEST COUNT    (pvic-hostsim hyperv's control.sock)
 *
 * xen: per 100 requests, pipelined on one connection: 60 KVP writes to
 * vm-data/pvic/kvp/k<0..63> (a bounded set, so the store does not legitimately grow),
 * 10 KVP removes, 20 rewrites of unique-domain-id with its own value (watch events pvicd
 * must read and find unchanged), 10 heartbeat requests; then a barrier: the last
 * heartbeat's answer in data/pvic/heartbeat, so pvicd has handled everything sent.
 * hyperv: per 100 requests, pipelined on the control socket: 50 KVP SETs, 20 GETs, 10
 * DELETEs, 10 ENUMERATEs over the KVP channel, one heartbeat op of 10 heartbeats.
 * Prints one line of counts; exits 1 on any failed or unanswered request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pvic/xs_wire.h"

static int connect_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int read_all(int fd, void *buf, size_t len) {
        char *p = buf;

        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* ---- xen ---- */

static char out[1 << 20];
static size_t out_len;
static uint32_t next_req = 1;

static int xs_queue(uint32_t type, const char *path, const char *value) {
        struct iovec parts[2] = {
                { .iov_base = (void *) path, .iov_len = strlen(path) + 1 },
                { .iov_base = (void *) value, .iov_len = value ? strlen(value) : 0 },
        };
        ssize_t n = xs_msg_encode((uint8_t *) out + out_len, sizeof(out) - out_len, XS_PAYLOAD_MAX,
                                  type, next_req++, 0, parts, value ? 2 : 1);
        if (n < 0)
                return (int) n;
        out_len += (size_t) n;
        return 0;
}

/* Reads one reply; returns its type, the payload in buf (NUL-terminated). Watch events
 * never come: this connection sets no watch. */
static int xs_reply(int fd, char *buf, size_t size, size_t *len) {
        uint8_t hb[XS_HEADER_SIZE];
        struct xs_header h;
        int r;

        r = read_all(fd, hb, sizeof(hb));
        if (r < 0)
                return r;
        xs_header_decode(hb, &h);
        if (h.len >= size)
                return -E2BIG;
        r = read_all(fd, buf, h.len);
        if (r < 0)
                return r;
        buf[h.len] = 0;
        *len = h.len;
        return (int) h.type;
}

static int flush_and_collect(int fd, unsigned expected, unsigned long *errors) {
        char buf[XS_PAYLOAD_MAX + 1];
        size_t len;
        int r;

        r = write_all(fd, out, out_len);
        out_len = 0;
        if (r < 0)
                return r;
        for (unsigned i = 0; i < expected; i++) {
                r = xs_reply(fd, buf, sizeof(buf), &len);
                if (r < 0)
                        return r;
                /* ENOENT for a remove of a key already gone is fine. */
                if (r == XS_ERROR && strcmp(buf, "ENOENT") != 0)
                        (*errors)++;
        }
        return 0;
}

static int xs_read_sync(int fd, const char *path, char *buf, size_t size) {
        size_t len;
        int r;

        r = xs_queue(XS_READ, path, NULL);
        if (r < 0)
                return r;
        r = write_all(fd, out, out_len);
        out_len = 0;
        if (r < 0)
                return r;
        r = xs_reply(fd, buf, size, &len);
        if (r < 0)
                return r;
        return r == XS_ERROR ? -ENOENT : 0;
}

static int run_xen(const char *sock, unsigned domid, unsigned long count) {
        char home[64], path[256], value[64], udid[128], hb[256], want[64];
        unsigned long sent = 0, errors = 0, heartbeats = 0, seq = 0;
        int fd, r;

        fd = connect_unix(sock);
        if (fd < 0) {
                fprintf(stderr, "connect %s: %s\n", sock, strerror(-fd));
                return 1;
        }
        snprintf(home, sizeof(home), "/local/domain/%u", domid);
        snprintf(path, sizeof(path), "%s/unique-domain-id", home);
        if (xs_read_sync(fd, path, udid, sizeof(udid)) < 0)
                snprintf(udid, sizeof(udid), "00000000-0000-0000-0000-000000000000");

        while (sent < count) {
                unsigned batch = 0;

                for (unsigned j = 0; j < 100 && sent < count; j++, sent++, batch++) {
                        unsigned k = (unsigned) (sent / 100 + j) % 64;

                        if (j < 60) {
                                snprintf(path, sizeof(path), "%s/vm-data/pvic/kvp/k%u", home, k);
                                snprintf(value, sizeof(value), "v%lu", sent);
                                r = xs_queue(XS_WRITE, path, value);
                        } else if (j < 70) {
                                snprintf(path, sizeof(path), "%s/vm-data/pvic/kvp/k%u", home, k);
                                r = xs_queue(XS_RM, path, NULL);
                        } else if (j < 90) {
                                snprintf(path, sizeof(path), "%s/unique-domain-id", home);
                                r = xs_queue(XS_WRITE, path, udid);
                        } else {
                                snprintf(path, sizeof(path), "%s/control/pvic/heartbeat", home);
                                snprintf(value, sizeof(value), "%lu", ++seq);
                                r = xs_queue(XS_WRITE, path, value);
                                heartbeats++;
                        }
                        if (r < 0)
                                goto fail;
                }
                r = flush_and_collect(fd, batch, &errors);
                if (r < 0)
                        goto fail;
                /* Barrier: the answer to the last heartbeat of the batch (if any). */
                snprintf(path, sizeof(path), "%s/data/pvic/heartbeat", home);
                snprintf(want, sizeof(want), "%lu ", seq);
                for (unsigned tries = 0;; tries++) {
                        if (seq == 0)
                                break;
                        r = xs_read_sync(fd, path, hb, sizeof(hb));
                        if (r == 0 && strncmp(hb, want, strlen(want)) == 0)
                                break;
                        if (tries > 100000) { /* ~10 s at 100 us */
                                fprintf(stderr, "heartbeat %lu not answered (last: %s)\n", seq, hb);
                                close(fd);
                                return 1;
                        }
                        nanosleep(&(struct timespec) { .tv_nsec = 100000 }, NULL);
                }
        }
        close(fd);
        printf("xen: %lu requests, %lu heartbeats answered, %lu errors\n", sent, heartbeats, errors);
        return errors ? 1 : 0;
fail:
        fprintf(stderr, "xenstore: %s after %lu requests\n", strerror(-r), sent);
        close(fd);
        return 1;
}

/* ---- hyperv ---- */

static int run_hyperv(const char *sock, const char *guest, unsigned long count) {
        unsigned long sent = 0, lines = 0, bad = 0, heartbeats = 0;
        static char in[1 << 16];
        size_t in_len = 0;
        int fd, r;

        fd = connect_unix(sock);
        if (fd < 0) {
                fprintf(stderr, "connect %s: %s\n", sock, strerror(-fd));
                return 1;
        }
        while (sent < count) {
                unsigned nlines = 0;

                out_len = 0;
                for (unsigned j = 0; j < 91 && sent < count; j++) {
                        unsigned k = (unsigned) (sent / 100 + j) % 64;
                        const char *op;
                        int n;

                        if (j < 50)
                                op = "set";
                        else if (j < 70)
                                op = "get";
                        else if (j < 80)
                                op = "delete";
                        else if (j < 90)
                                op = "enumerate";
                        else
                                op = NULL;
                        if (op)
                                n = snprintf(out + out_len, sizeof(out) - out_len,
                                             "{\"op\":\"kvp\",\"guest\":\"%s\",\"kvp_op\":\"%s\",\"pool\":0,"
                                             "\"key\":\"k%u\",\"value\":\"v%lu\",\"index\":%u}\n",
                                             guest, op, k, sent, j - 80);
                        else
                                n = snprintf(out + out_len, sizeof(out) - out_len,
                                             "{\"op\":\"heartbeat\",\"guest\":\"%s\",\"count\":10}\n", guest);
                        out_len += (size_t) n;
                        sent += op ? 1 : 10;
                        heartbeats += op ? 0 : 10;
                        nlines++;
                }
                r = write_all(fd, out, out_len);
                if (r < 0)
                        goto fail;
                /* Replies, one line each. GET of a deleted key and ENUMERATE past the
                 * end answer with a failure status: "ok" is what counts here. */
                while (nlines > 0) {
                        char *nl = memchr(in, '\n', in_len);
                        if (!nl) {
                                ssize_t n = read(fd, in + in_len, sizeof(in) - in_len);
                                if (n <= 0) {
                                        r = n < 0 ? -errno : -ECONNRESET;
                                        goto fail;
                                }
                                in_len += (size_t) n;
                                continue;
                        }
                        *nl = 0;
                        if (!strstr(in, "\"ok\":true") ||
                            (strstr(in, "\"sent\"") && !strstr(in, "\"bad\":0"))) {
                                if (bad < 5)
                                        fprintf(stderr, "bad reply: %s\n", in);
                                bad++;
                        }
                        lines++;
                        nlines--;
                        in_len -= (size_t) (nl + 1 - in);
                        memmove(in, nl + 1, in_len);
                }
        }
        close(fd);
        printf("hyperv: %lu requests (%lu heartbeats) in %lu control lines, %lu bad\n",
               sent, heartbeats, lines, bad);
        return bad ? 1 : 0;
fail:
        fprintf(stderr, "control socket: %s after %lu requests\n", strerror(-r), sent);
        close(fd);
        return 1;
}

int main(int argc, char **argv) {
        if (argc == 5 && strcmp(argv[1], "xen") == 0)
                return run_xen(argv[2], (unsigned) strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10));
        if (argc == 5 && strcmp(argv[1], "hyperv") == 0)
                return run_hyperv(argv[2], argv[3], strtoul(argv[4], NULL, 10));
        fprintf(stderr, "usage: endurance-drive xen SOCKET DOMID COUNT | hyperv SOCKET GUEST COUNT\n");
        return 2;
}
