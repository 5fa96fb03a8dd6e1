/* The VSS relay: the daemon end of /dev/vmbus/hv_vss. Registers with REGISTER1, reads the
 * kernel's version, then answers one 12-byte request at a time: FREEZE and THAW go to the
 * freeze service (with a lease, so a checkpoint the host abandons still thaws) and are
 * answered when the service reports, as hv_vss_daemon answers when its freeze is done;
 * HOT_BACKUP says "no auto-recovery", anything else is answered "ok" as hv_vss_daemon
 * does. An I/O error closes the device (the kernel fails the transaction in flight) and
 * reopens it a second later; a device that stays missing or busy is looked for less and
 * less often (up to once a minute), not polled every second forever. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "pvic/freeze.h"
#include "pvic/log.h"
#include "pvic/vmbus_relay.h"

#define VSS_RETRY_MIN_USEC (1000u * 1000u)
#define VSS_RETRY_MAX_USEC (60u * 1000u * 1000u)

struct vss_relay {
        sd_event *event;
        char *path;
        struct vss_ops ops;
        int fd;
        bool in_handshake;
        bool logged_missing;
        sd_event_source *io, *retry;
        uint64_t retry_usec;   /* the next reopen's delay; 0 after a registration */
        /* The request the kernel waits on: one at a time (the kernel sends no other). */
        struct vss_request pending;
        bool has_pending;
        bool lease_expired; /* the last freeze ended without the host's THAW */
        /* Distinct callback cookies: a freeze's later reports (its lease) must never answer
         * a THAW, nor a thaw's an unrelated FREEZE. */
        char freeze_tag, thaw_tag;
};

static void relay_schedule_open(struct vss_relay *r);

static void relay_close(struct vss_relay *r) {
        r->io = sd_event_source_disable_unref(r->io);
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
        r->has_pending = false;
}

static void relay_fail(struct vss_relay *r, int error, const char *what) {
        log_warning_errno(error, "vss: %s: %m; reopening %s", what, r->path);
        relay_close(r);
        relay_schedule_open(r);
}

static void send_reply(struct vss_relay *r, uint32_t error) {
        uint8_t out[VSS_MSG_SIZE];
        if (!r->has_pending || r->fd < 0)
                return;
        vss_encode_reply(&r->pending, error, out);
        r->has_pending = false;
        ssize_t n = write(r->fd, out, sizeof out);
        if (n != (ssize_t)sizeof out)
                relay_fail(r, n < 0 ? errno : EIO, "writing the reply");
}

static void on_report(struct vss_relay *r, enum vss_action for_action, const char *state, const char *mounts) {
        const char *what = for_action == VSS_ACTION_FREEZE ? "freeze" : "thaw";
        if (!r->has_pending || r->pending.action != for_action) {
                /* No request waits for this: a freeze ended by its lease or guard, or the
                 * late outcome of a request the kernel gave up on with the device. */
                if (for_action == VSS_ACTION_FREEZE && strncmp(state, "frozen", 6) != 0) {
                        r->lease_expired = true;
                        log_warning("vss: the freeze ended before the host's thaw (%s)", state);
                } else
                        log_info("vss: %s: %s, with no request waiting", what, state);
                return;
        }
        log_info("vss: %s: %s %s", what, state, mounts);
        send_reply(r, vss_status_for(for_action, state, r->lease_expired));
}

static void on_freeze_report(const char *state, const char *mounts, void *userdata) {
        on_report(container_of(userdata, struct vss_relay, freeze_tag), VSS_ACTION_FREEZE, state, mounts);
}

static void on_thaw_report(const char *state, const char *mounts, void *userdata) {
        on_report(container_of(userdata, struct vss_relay, thaw_tag), VSS_ACTION_THAW, state, mounts);
}

static void handle(struct vss_relay *r, const struct vss_request *req) {
        int k;
        if (r->has_pending) {
                /* The kernel holds one transaction at a time; a second is a confused peer. */
                struct vss_request second = *req;
                log_warning("vss: operation %u while %u is still being answered; refused", req->operation,
                            r->pending.operation);
                uint8_t out[VSS_MSG_SIZE];
                vss_encode_reply(&second, VSS_HV_E_FAIL, out);
                if (write(r->fd, out, sizeof out) != (ssize_t)sizeof out)
                        relay_fail(r, errno ?: EIO, "writing the reply");
                return;
        }
        r->pending = *req;
        r->has_pending = true;
        switch (req->action) {
        case VSS_ACTION_FREEZE:
                r->lease_expired = false;
                k = r->ops.freeze(r->ops.userdata, VSS_LEASE_SEC, on_freeze_report, &r->freeze_tag);
                break;
        case VSS_ACTION_THAW:
                k = r->ops.thaw(r->ops.userdata, on_thaw_report, &r->thaw_tag);
                break;
        default:
                log_debug("vss: operation %u answered ok", req->operation);
                send_reply(r, VSS_HV_S_OK);
                return;
        }
        if (k < 0)
                send_reply(r, VSS_HV_E_FAIL);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct vss_relay *r = userdata;
        uint8_t buf[64];
        struct vss_request req;

        if (revents & (EPOLLERR | EPOLLHUP) && !(revents & EPOLLIN)) {
                relay_fail(r, ECONNRESET, "device closed");
                return 0;
        }
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                relay_fail(r, n < 0 ? errno : ECONNRESET, "reading");
                return 0;
        }
        bool handshake = r->in_handshake;
        if (vss_decode(buf, (size_t)n, handshake, &req) == VSS_ACTION_INVALID) {
                relay_fail(r, EBADMSG, handshake ? "unexpected registration answer" : "malformed message");
                return 0;
        }
        if (handshake) {
                r->in_handshake = false;
                r->retry_usec = 0;
                log_info("vss: registered with %s (kernel VSS version %u)", r->path, req.version);
                return 0;
        }
        handle(r, &req);
        return 0;
}

static int relay_open(struct vss_relay *r) {
        uint8_t reg[VSS_MSG_SIZE];
        int fd = vmbus_relay_open_path(r->path);
        if (fd < 0) {
                /* Missing: hv_utils without VSS (or not loaded yet); busy: another daemon
                 * (hv_vss_daemon) has it. Said once; the retries are quiet. */
                if (r->logged_missing)
                        log_debug_errno(fd, "vss: cannot open %s: %m", r->path);
                else if (fd == -ENOENT)
                        log_info("vss: no %s (hv_utils without VSS?); backups are crash-consistent until it "
                                 "appears", r->path);
                else
                        log_warning_errno(fd, "vss: cannot open %s: %m%s; retrying", r->path,
                                          fd == -EBUSY ? " (is hv_vss_daemon running?)" : "");
                r->logged_missing = true;
                return fd;
        }
        r->logged_missing = false;
        r->fd = fd;
        vss_encode_register(reg);
        if (write(fd, reg, sizeof reg) != (ssize_t)sizeof reg) {
                int e = errno ?: EIO;
                relay_close(r);
                return log_warning_errno(e, "vss: cannot register on %s: %m", r->path);
        }
        r->in_handshake = true;
        int k = sd_event_add_io(r->event, &r->io, fd, EPOLLIN, on_io, r);
        if (k < 0) {
                relay_close(r);
                return k;
        }
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct vss_relay *r = userdata;
        r->retry = sd_event_source_disable_unref(r->retry);
        if (relay_open(r) < 0)
                relay_schedule_open(r);
        return 0;
}

static void relay_schedule_open(struct vss_relay *r) {
        uint64_t now, delay = r->retry_usec ?: VSS_RETRY_MIN_USEC;
        if (r->retry || sd_event_now(r->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        r->retry_usec = MIN(delay * 2, (uint64_t)VSS_RETRY_MAX_USEC);
        (void)sd_event_add_time(r->event, &r->retry, CLOCK_MONOTONIC, now + delay, 0, on_retry, r);
}

int vss_relay_new(struct vss_relay **ret, sd_event *e, const char *path, const struct vss_ops *ops) {
        struct vss_relay *r = calloc(1, sizeof *r);
        if (!r)
                return log_oom();
        r->fd = -1;
        r->event = sd_event_ref(e);
        r->ops = *ops;
        if (!(r->path = strdup(path))) {
                vss_relay_free(r);
                return log_oom();
        }
        if (relay_open(r) < 0)
                relay_schedule_open(r);
        *ret = r;
        return 0;
}

struct vss_relay *vss_relay_free(struct vss_relay *r) {
        if (!r)
                return NULL;
        relay_close(r);
        r->retry = sd_event_source_disable_unref(r->retry);
        sd_event_unref(r->event);
        free(r->path);
        free(r);
        return NULL;
}
