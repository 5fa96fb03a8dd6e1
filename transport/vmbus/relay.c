/* /dev/vmbus/hv_kvp: open, register, answer; reopen on any error (spec §5.1, §5.3). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pvic/kvp_msg.h"
#include "pvic/log.h"
#include "pvic/vmbus_relay.h"

struct vmbus_relay {
        sd_event *event;
        char *path;
        vmbus_relay_fn fn;
        void *userdata;

        int fd;
        sd_event_source *io;
        sd_event_source *retry;
        uint64_t backoff_usec;
        bool registered;
        bool logged_missing;
        char version[KVP_MSG_VERSION_MAX];

        unsigned long long n_requests;
        unsigned n_opens;
        /* One transaction at a time (§5.4), so one set of buffers; kept off the stack. */
        uint8_t buf[KVP_MSG_SIZE];
        struct host_kvp_request req;
        struct host_kvp_reply reply;
};

static void relay_schedule_open(struct vmbus_relay *r);

/* The real device is a misc char device; pvic-hostsim puts a SEQPACKET socket at the
 * same path, which keeps message boundaries exactly as the device does. */
int vmbus_relay_open_path(const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode)) {
                int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
                return fd < 0 ? -errno : fd;
        }
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void relay_close(struct vmbus_relay *r) {
        r->io = sd_event_source_disable_unref(r->io);
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
        r->registered = false;
}

static void relay_fail(struct vmbus_relay *r, int error, const char *what) {
        /* Closing makes the kernel fail the transaction in flight with HV_E_FAIL and wait
         * for a new registration; the host retries its request later. */
        log_warning_errno(error, "kvp relay: %s: %m; reopening %s", what, r->path);
        relay_close(r);
        relay_schedule_open(r);
}

static int relay_write(struct vmbus_relay *r) {
        ssize_t n = write(r->fd, r->buf, KVP_MSG_SIZE);
        if (n < 0)
                return -errno;
        /* The device never writes partially; a short write is something else at the path. */
        return n == KVP_MSG_SIZE ? 0 : -EIO;
}

/* Returns 1 when a reply is in r->buf, 0 when nothing is to be sent. */
static int relay_handle(struct vmbus_relay *r, size_t len) {
        char version[KVP_MSG_VERSION_MAX];
        int k = kvp_msg_decode(r->buf, len, &r->req, version, sizeof version);

        if (k == KVP_MSG_REGISTERED) {
                /* The registration answer is not replied to (§5.3). */
                snprintf(r->version, sizeof r->version, "%s", version);
                if (!r->registered)
                        log_info("kvp relay: registered with the kernel (driver version %s)", r->version);
                r->registered = true;
                r->backoff_usec = 0;
                return 0;
        }
        if (k != KVP_MSG_REQUEST) {
                /* Whole but undecodable: the kernel still waits for this transaction's
                 * answer, and failure is the honest one. */
                log_warning_errno(k, "kvp relay: undecodable message (op %u): %m; answering failure", r->buf[0]);
                r->reply.status = HOST_STATUS_FAILED;
                kvp_msg_encode_reply(r->buf, HOST_KVP_SET, &r->reply);
                return 1;
        }
        log_debug("kvp relay: op %d pool %u", (int)r->req.op, r->req.pool);
        r->fn(r->userdata, &r->req, &r->reply);
        k = kvp_msg_encode_reply(r->buf, r->req.op, &r->reply);
        if (k < 0)
                log_warning_errno(k, "kvp relay: reply to op %d cannot be encoded: %m; answering failure",
                                  (int)r->req.op);
        else if (k > 0)
                log_debug("kvp relay: reply to op %d cut to what the kernel passes on", (int)r->req.op);
        return 1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct vmbus_relay *r = userdata;

        if (!(revents & EPOLLIN)) {
                /* POLLERR|POLLHUP: the transport is going away (rescind, unload) or the
                 * simulator closed its end. */
                relay_fail(r, ECONNRESET, "device hung up");
                return 0;
        }
        /* Exactly one message per read; a read of another size means we are out of step. */
        ssize_t n = read(fd, r->buf, sizeof r->buf);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                relay_fail(r, errno, "read failed");
                return 0;
        }
        if (n != KVP_MSG_SIZE) {
                relay_fail(r, n == 0 ? ECONNRESET : EBADMSG, n == 0 ? "device closed" : "short read");
                return 0;
        }
        if (relay_handle(r, (size_t)n) <= 0)
                return 0;
        int k = relay_write(r);
        if (k < 0) {
                relay_fail(r, k, "cannot write the reply");
                return 0;
        }
        r->n_requests++;
        return 0;
}

static int relay_open(struct vmbus_relay *r) {
        int fd = vmbus_relay_open_path(r->path);
        if (fd < 0)
                return fd;
        r->fd = fd;
        kvp_msg_register(r->buf);
        int k = relay_write(r);
        if (k < 0) {
                relay_close(r);
                return k;
        }
        k = sd_event_add_io(r->event, &r->io, r->fd, EPOLLIN, on_io, r);
        if (k < 0) {
                relay_close(r);
                return k;
        }
        r->n_opens++;
        r->logged_missing = false;
        log_debug("kvp relay: opened %s, registration sent", r->path);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct vmbus_relay *r = userdata;
        int k = relay_open(r);
        if (k < 0) {
                /* A missing device (hv_utils not loaded yet, resume in progress) is
                 * normal for a while: say so once, then keep trying quietly. */
                if (!r->logged_missing)
                        log_full_errno(k == -ENOENT ? LOG_NOTICE : LOG_WARNING, k,
                                       "kvp relay: cannot open %s: %m; retrying", r->path);
                else
                        log_debug_errno(k, "kvp relay: cannot open %s: %m", r->path);
                r->logged_missing = true;
                relay_schedule_open(r);
        }
        return 0;
}

static void relay_schedule_open(struct vmbus_relay *r) {
        uint64_t now, delay = r->backoff_usec;

        /* Reopen at once the first time (as hv_kvp_daemon does, the kernel holds the host's
         * request), then back off so a broken device cannot make us spin. */
        r->backoff_usec = delay == 0 ? VMBUS_RELAY_BACKOFF_MIN_USEC : MIN(delay * 2, VMBUS_RELAY_BACKOFF_MAX_USEC);
        r->retry = sd_event_source_disable_unref(r->retry);
        sd_event_now(r->event, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(r->event, &r->retry, CLOCK_MONOTONIC, now + delay, 0, on_retry, r) < 0)
                log_error("kvp relay: cannot arm the reopen timer; KVP stays down");
}

int vmbus_relay_new(struct vmbus_relay **ret, sd_event *e, const char *path, vmbus_relay_fn fn,
                    void *userdata) {
        struct vmbus_relay *r = calloc(1, sizeof *r);
        if (!r)
                return log_oom();
        r->fd = -1;
        r->event = sd_event_ref(e);
        r->fn = fn;
        r->userdata = userdata;
        r->path = strdup(path);
        if (!r->path) {
                vmbus_relay_free(r);
                return log_oom();
        }
        relay_schedule_open(r);
        *ret = r;
        return 0;
}

struct vmbus_relay *vmbus_relay_free(struct vmbus_relay *r) {
        if (!r)
                return NULL;
        relay_close(r);
        r->retry = sd_event_source_disable_unref(r->retry);
        sd_event_unref(r->event);
        free(r->path);
        free(r);
        return NULL;
}

const char *vmbus_relay_version(const struct vmbus_relay *r) {
        return r->version[0] ? r->version : NULL;
}

bool vmbus_relay_is_registered(const struct vmbus_relay *r) {
        return r->registered;
}

unsigned long long vmbus_relay_n_requests(const struct vmbus_relay *r) {
        return r->n_requests;
}

unsigned vmbus_relay_n_opens(const struct vmbus_relay *r) {
        return r->n_opens;
}
