#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "pvic/config.h"
#include "pvic/log.h"
#include "pvic/xs_client.h"
#include "pvic/xs_wire.h"
#include "xs_batch.h"

struct xs_pending {
        uint32_t req_id;
        uint32_t type;
        uint32_t tx_id;
        uint64_t deadline;
        xs_reply_fn cb;
        void *userdata;
        struct xs_pending *next;
};

struct xs_watch {
        char *path;
        char token[24];
        xs_watch_fn cb;
        void *userdata;
};

struct xs_client {
        sd_event *event;
        char *path;
        int fd;
        bool is_device;
        bool connected;
        bool closing;
        sd_event_source *io;
        sd_event_source *flush; /* device only: writes from a defer source (no EPOLLOUT) */
        /* Device only: the request written and not yet answered (0: none). The kernel sends
         * a request's payload from its per-file buffer later, from its xenbus thread, and
         * the next write() reuses that buffer: a second request written before the first
         * is answered can overwrite the first one's payload (xenstored then answers EINVAL
         * to mangled paths; seen on a real Xen host, docs/e2e.md). libxenstore never has two
         * requests out on one handle; neither do we, on the device. */
        uint32_t device_inflight;
        sd_event_source *reconnect_timer;
        sd_event_source *timeout_timer;
        unsigned reconnect_attempt;
        xs_state_fn state_cb;
        void *userdata;

        uint32_t next_req_id;
        struct xs_pending *pending_head, *pending_tail;
        unsigned n_pending;

        /* Whole messages waiting to be written; out_off is how much of them is sent. */
        uint8_t out[XS_CLIENT_MAX_OUTPUT];
        size_t out_len, out_off;

        uint8_t in[XS_HEADER_SIZE + XS_PAYLOAD_MAX];
        size_t in_len;

        struct xs_watch watches[XS_CLIENT_MAX_WATCHES];
        unsigned n_watches;

        struct xs_batch *batches;
};

static int connect_now(struct xs_client *c);
static int adopt_fd(struct xs_client *c, int fd, bool is_device);
static void schedule_reconnect(struct xs_client *c);

bool xs_client_is_connected(const struct xs_client *c) { return c->connected; }
bool xs_client_is_device(const struct xs_client *c) { return c->is_device; }

static size_t payload_max(const struct xs_client *c) {
        return c->is_device ? XS_DEVICE_PAYLOAD_MAX : XS_PAYLOAD_MAX;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

char *xs_client_find_path(const char *root, const char *configured) {
        if (configured && *configured)
                return strdup(configured);
        /* Like libxenstore: XENSTORED_PATH may name a socket or a device. */
        const char *env = getenv("XENSTORED_PATH");
        if (env && *env)
                return strdup(env);
        static const char *const devices[] = { "/dev/xen/xenbus", "/proc/xen/xenbus" };
        for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
                char *p = root_path(root, devices[i]);
                if (!p)
                        return NULL;
                if (access(p, F_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

static void update_timeout_timer(struct xs_client *c) {
        if (!c->timeout_timer)
                return;
        if (!c->pending_head) {
                sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
                return;
        }
        sd_event_source_set_time(c->timeout_timer, c->pending_head->deadline);
        sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_ONESHOT);
}

static void update_io_events(struct xs_client *c) {
        if (!c->io)
                return;
        uint32_t ev = EPOLLIN;
        /* /dev/xen/xenbus's poll() reports EPOLLIN only, never EPOLLOUT (its write() never
         * blocks), so output for the device is flushed from a defer source instead. */
        if (c->out_off < c->out_len && !c->device_inflight) {
                if (c->is_device && c->flush)
                        sd_event_source_set_enabled(c->flush, SD_EVENT_ONESHOT);
                else
                        ev |= EPOLLOUT;
        }
        sd_event_source_set_io_events(c->io, ev);
}

static struct xs_pending *pending_take(struct xs_client *c, uint32_t req_id) {
        struct xs_pending **pp = &c->pending_head, *prev = NULL;
        for (; *pp; prev = *pp, pp = &(*pp)->next) {
                if ((*pp)->req_id != req_id)
                        continue;
                struct xs_pending *p = *pp;
                *pp = p->next;
                if (c->pending_tail == p)
                        c->pending_tail = prev;
                c->n_pending--;
                return p;
        }
        return NULL;
}

static void fail_all_pending(struct xs_client *c, int error) {
        /* Detach the whole list first: callbacks may queue new requests (they fail with
         * -ENOTCONN while we are down, which is what they should see). */
        struct xs_pending *p = c->pending_head;
        c->pending_head = c->pending_tail = NULL;
        c->n_pending = 0;
        while (p) {
                struct xs_pending *next = p->next;
                struct xs_reply r = { .error = error, .type = p->type };
                if (p->cb)
                        p->cb(c, &r, p->userdata);
                free(p);
                p = next;
        }
}

static void disconnect(struct xs_client *c, bool reconnect) {
        bool was_connected = c->connected;
        c->io = sd_event_source_disable_unref(c->io);
        c->flush = sd_event_source_disable_unref(c->flush);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->connected = false;
        c->device_inflight = 0;
        c->out_len = c->out_off = 0;
        c->in_len = 0;
        fail_all_pending(c, c->closing ? ECANCELED : ECONNRESET);
        update_timeout_timer(c);
        if (was_connected && !c->closing && c->state_cb)
                c->state_cb(c, false, c->userdata);
        if (reconnect && !c->closing && c->path)
                schedule_reconnect(c);
}

static const char *peer_name(const struct xs_client *c) { return c->path ?: "xenstored"; }

static void protocol_error(struct xs_client *c, const char *what) {
        log_error("xenstore: protocol error from %s: %s; reconnecting", peer_name(c), what);
        disconnect(c, true);
}

static int queue_message(struct xs_client *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
                         const void *payload, size_t len) {
        if (c->out_off == c->out_len)
                c->out_off = c->out_len = 0;
        if (c->out_off > 0 && c->out_len + XS_HEADER_SIZE + len > sizeof c->out) {
                memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
                c->out_len -= c->out_off;
                c->out_off = 0;
        }
        struct iovec iov = { (void *)payload, len };
        ssize_t n = xs_msg_encode(c->out + c->out_len, sizeof c->out - c->out_len, payload_max(c), type,
                                  req_id, tx_id, &iov, 1);
        if (n == -ENOBUFS)
                return -ENOBUFS;
        if (n < 0)
                return (int)n;
        c->out_len += (size_t)n;
        update_io_events(c);
        return 0;
}

int xs_request(struct xs_client *c, uint32_t type, uint32_t tx_id, const void *payload, size_t len,
               xs_reply_fn cb, void *userdata) {
        if (!c->connected)
                return -ENOTCONN;
        if (len > payload_max(c))
                return -E2BIG;
        if (c->n_pending >= XS_CLIENT_MAX_PENDING)
                return -ENOBUFS;
        struct xs_pending *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        /* Never 0: that is what a watch event carries. */
        if (++c->next_req_id == 0)
                c->next_req_id = 1;
        *p = (struct xs_pending){ .req_id = c->next_req_id, .type = type, .tx_id = tx_id,
                                  .deadline = now_usec() + XS_CLIENT_REQUEST_TIMEOUT_USEC,
                                  .cb = cb, .userdata = userdata };
        int r = queue_message(c, type, p->req_id, tx_id, payload, len);
        if (r < 0) {
                free(p);
                return r;
        }
        if (c->pending_tail)
                c->pending_tail->next = p;
        else
                c->pending_head = p;
        c->pending_tail = p;
        c->n_pending++;
        if (c->n_pending == 1)
                update_timeout_timer(c);
        return 0;
}

int xs_read(struct xs_client *c, const char *path, xs_reply_fn cb, void *userdata) {
        return xs_request(c, XS_READ, 0, path, strlen(path) + 1, cb, userdata);
}

int xs_write(struct xs_client *c, uint32_t tx_id, const char *path, const char *value,
             xs_reply_fn cb, void *userdata) {
        size_t pl = strlen(path) + 1, vl = strlen(value);
        if (pl + vl > payload_max(c))
                return -E2BIG;
        uint8_t buf[XS_PAYLOAD_MAX];
        memcpy(buf, path, pl);
        memcpy(buf + pl, value, vl); /* values go without a trailing NUL, as every client sends */
        return xs_request(c, XS_WRITE, tx_id, buf, pl + vl, cb, userdata);
}

static void watch_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xs_watch *w = userdata;
        if (r->error && r->error != ECONNRESET && r->error != ECANCELED)
                log_error_errno(r->error, "xenstore: cannot watch %s: %m", w->path);
}

static int send_watch(struct xs_client *c, struct xs_watch *w) {
        uint8_t buf[XS_PAYLOAD_MAX];
        size_t pl = strlen(w->path) + 1, tl = strlen(w->token) + 1;
        if (pl + tl > sizeof buf)
                return -E2BIG;
        memcpy(buf, w->path, pl);
        memcpy(buf + pl, w->token, tl);
        return xs_request(c, XS_WATCH, 0, buf, pl + tl, watch_reply, w);
}

int xs_watch_add(struct xs_client *c, const char *path, xs_watch_fn cb, void *userdata) {
        if (c->n_watches >= XS_CLIENT_MAX_WATCHES)
                return -ENOSPC;
        struct xs_watch *w = &c->watches[c->n_watches];
        w->path = strdup(path);
        if (!w->path)
                return -ENOMEM;
        snprintf(w->token, sizeof w->token, "pvic-%u", c->n_watches);
        w->cb = cb;
        w->userdata = userdata;
        c->n_watches++;
        if (c->connected) {
                int r = send_watch(c, w);
                if (r < 0)
                        log_warning_errno(r, "xenstore: cannot queue watch on %s now: %m", path);
        }
        return 0;
}

static void dispatch_event(struct xs_client *c, const uint8_t *payload, size_t len) {
        const char *path, *token;
        if (xs_event_parse(payload, len, &path, &token) < 0) {
                protocol_error(c, "malformed WATCH_EVENT");
                return;
        }
        for (unsigned i = 0; i < c->n_watches; i++)
                if (strcmp(c->watches[i].token, token) == 0) {
                        c->watches[i].cb(c, path, token, c->watches[i].userdata);
                        return;
                }
        log_debug("xenstore: event for unknown token %s (%s) ignored", token, path);
}

/* Returns false when the connection was dropped and the input buffer is gone. */
static bool dispatch_message(struct xs_client *c, const struct xs_header *h, const uint8_t *payload) {
        if (h->type == XS_WATCH_EVENT) {
                dispatch_event(c, payload, h->len);
                return c->connected;
        }
        struct xs_pending *p = pending_take(c, h->req_id);
        if (!p) {
                char what[96];
                snprintf(what, sizeof what, "reply (type %" PRIu32 ") to unknown req_id %" PRIu32, h->type,
                         h->req_id);
                protocol_error(c, what);
                return false;
        }
        if (h->type != p->type && h->type != XS_ERROR) {
                char what[96];
                snprintf(what, sizeof what, "reply of type %s to a %s request", xs_type_name(h->type),
                         xs_type_name(p->type));
                free(p);
                protocol_error(c, what);
                return false;
        }
        struct xs_reply r = { .type = h->type, .payload = payload, .len = h->len };
        if (h->type == XS_ERROR)
                r.error = xs_error_parse(payload, h->len);
        update_timeout_timer(c);
        if (c->device_inflight == h->req_id) {
                c->device_inflight = 0;
                update_io_events(c); /* the next request may go now */
        }
        if (p->cb)
                p->cb(c, &r, p->userdata);
        free(p);
        return c->connected;
}

static void handle_input(struct xs_client *c) {
        for (;;) {
                size_t space = sizeof c->in - c->in_len;
                ssize_t n = read(c->fd, c->in + c->in_len, space);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        log_error_errno(errno, "xenstore: read from %s failed: %m; reconnecting", peer_name(c));
                        disconnect(c, true);
                        return;
                }
                if (n == 0) {
                        log_warning("xenstore: %s closed the connection; reconnecting", peer_name(c));
                        disconnect(c, true);
                        return;
                }
                c->in_len += (size_t)n;
                size_t off = 0;
                for (;;) {
                        struct xs_header h;
                        /* Replies from a socket may be a full 4096; accept that from the device too. */
                        ssize_t m = xs_frame_next(c->in + off, c->in_len - off, XS_PAYLOAD_MAX, &h);
                        if (m == 0)
                                break;
                        if (m < 0) {
                                char what[64];
                                snprintf(what, sizeof what, "message length %" PRIu32 " exceeds %u", h.len,
                                         XS_PAYLOAD_MAX);
                                protocol_error(c, what);
                                return;
                        }
                        if (!dispatch_message(c, &h, c->in + off + XS_HEADER_SIZE))
                                return;
                        off += (size_t)m;
                }
                memmove(c->in, c->in + off, c->in_len - off);
                c->in_len -= off;
                if ((size_t)n < space)
                        return; /* short read: nothing more queued right now */
        }
}

static void handle_output(struct xs_client *c) {
        while (c->out_off < c->out_len && !c->device_inflight) {
                size_t chunk = c->out_len - c->out_off;
                struct xs_header h;
                xs_header_decode(c->out + c->out_off, &h);
                /* The kernel device takes exactly one request per write(). */
                if (c->is_device)
                        chunk = XS_HEADER_SIZE + h.len;
                ssize_t n = write(c->fd, c->out + c->out_off, chunk);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        if (c->is_device && errno != EPIPE && errno != EIO) {
                                /* The device refuses one request (a WATCH over quota, say) with
                                 * a failing write(); fail that request alone. */
                                int err = errno;
                                c->out_off += XS_HEADER_SIZE + h.len;
                                struct xs_pending *p = pending_take(c, h.req_id);
                                if (p) {
                                        struct xs_reply r = { .error = err, .type = p->type };
                                        if (p->cb)
                                                p->cb(c, &r, p->userdata);
                                        free(p);
                                }
                                if (!c->connected)
                                        return;
                                continue;
                        }
                        log_error_errno(errno, "xenstore: write to %s failed: %m; reconnecting", peer_name(c));
                        disconnect(c, true);
                        return;
                }
                c->out_off += (size_t)n;
                if (c->is_device)
                        c->device_inflight = h.req_id;
        }
        update_io_events(c);
}

static int on_flush(sd_event_source *s, void *userdata) {
        struct xs_client *c = userdata;
        if (c->connected)
                handle_output(c);
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct xs_client *c = userdata;
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                handle_input(c);
                if (!c->connected)
                        return 0;
        }
        if (revents & EPOLLOUT)
                handle_output(c);
        return 0;
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct xs_client *c = userdata;
        if (!c->pending_head || c->pending_head->deadline > usec) {
                update_timeout_timer(c);
                return 0;
        }
        log_error("xenstore: no reply from %s to %s within %u s; reconnecting", peer_name(c),
                  xs_type_name(c->pending_head->type), XS_CLIENT_REQUEST_TIMEOUT_USEC / 1000000u);
        disconnect(c, true);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        struct xs_client *c = userdata;
        int r = connect_now(c);
        if (r < 0)
                schedule_reconnect(c);
        return 0;
}

static void schedule_reconnect(struct xs_client *c) {
        /* 50 ms doubling to 1 s: a restarted xenstored is found quickly; past 10 tries
         * slow to 30 s so a guest without xenstore does not keep waking up. */
        uint64_t delay = 50000ull << MIN(c->reconnect_attempt, 5u);
        if (delay > 1000000u)
                delay = 1000000u;
        if (c->reconnect_attempt > 10)
                delay = 30000000u;
        c->reconnect_attempt++;
        uint64_t now;
        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (!c->reconnect_timer) {
                if (sd_event_add_time(c->event, &c->reconnect_timer, CLOCK_MONOTONIC, now + delay, 0,
                                      on_reconnect, c) < 0)
                        log_error("xenstore: cannot arm the reconnect timer");
                return;
        }
        sd_event_source_set_time(c->reconnect_timer, now + delay);
        sd_event_source_set_enabled(c->reconnect_timer, SD_EVENT_ONESHOT);
}

static int open_transport(const char *path, bool *is_device) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (S_ISSOCK(st.st_mode)) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                if (strlen(path) >= sizeof sa.sun_path)
                        return -ENAMETOOLONG;
                strcpy(sa.sun_path, path);
                _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                /* A local stream socket connects at once or fails; no EINPROGRESS dance. */
                if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                        return -errno;
                *is_device = false;
                return TAKE_FD(fd);
        }
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        *is_device = true;
        return fd;
}

static int connect_now(struct xs_client *c) {
        bool is_device = false;
        int fd = open_transport(c->path, &is_device);
        if (fd < 0) {
                if (c->reconnect_attempt == 0 || c->reconnect_attempt == 10)
                        log_warning_errno(fd, "xenstore: cannot open %s: %m; will retry", c->path);
                return fd;
        }
        int r = adopt_fd(c, fd, is_device);
        if (r < 0) {
                close(fd);
                return log_error_errno(r, "xenstore: cannot watch the connection: %m");
        }
        if (c->reconnect_attempt > 0)
                log_info("xenstore: reconnected to %s", c->path);
        else
                log_info("xenstore: connected to %s (%s)", c->path, is_device ? "device" : "socket");
        c->reconnect_attempt = 0;
        for (unsigned i = 0; i < c->n_watches; i++) {
                r = send_watch(c, &c->watches[i]);
                if (r < 0)
                        log_error_errno(r, "xenstore: cannot re-register watch %s: %m", c->watches[i].path);
        }
        if (c->state_cb)
                c->state_cb(c, true, c->userdata);
        return 0;
}

/* What both constructors share: the object, its loop and the idle request timer. */
static int client_alloc(struct xs_client **ret, sd_event *e, xs_state_fn state_cb, void *userdata) {
        struct xs_client *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        c->event = sd_event_ref(e);
        c->state_cb = state_cb;
        c->userdata = userdata;
        int r = sd_event_add_time(e, &c->timeout_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_request_timeout, c);
        if (r < 0) {
                xs_client_free(c);
                return r;
        }
        sd_event_source_set_enabled(c->timeout_timer, SD_EVENT_OFF);
        *ret = c;
        return 0;
}

int xs_client_new(struct xs_client **ret, sd_event *e, const char *path, xs_state_fn state_cb,
                  void *userdata) {
        struct xs_client *c;
        int r = client_alloc(&c, e, state_cb, userdata);
        if (r < 0)
                return r;
        c->path = strdup(path);
        /* Connect from the loop so the caller's state callback sees a finished object. */
        r = c->path ? sd_event_add_time(e, &c->reconnect_timer, CLOCK_MONOTONIC, 0, 0, on_reconnect, c) : -ENOMEM;
        if (r < 0) {
                xs_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

static int adopt_fd(struct xs_client *c, int fd, bool is_device) {
        c->fd = fd;
        c->is_device = is_device;
        int r = sd_event_add_io(c->event, &c->io, fd, EPOLLIN, on_io, c);
        if (r >= 0 && is_device) {
                r = sd_event_add_defer(c->event, &c->flush, on_flush, c);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->flush, SD_EVENT_OFF);
                if (r < 0)
                        c->io = sd_event_source_disable_unref(c->io);
        }
        if (r < 0) {
                c->fd = -1;
                return r;
        }
        c->connected = true;
        return 0;
}

int xs_client_new_fd(struct xs_client **ret, sd_event *e, int fd, bool is_device, xs_state_fn state_cb,
                     void *userdata) {
        struct xs_client *c;
        int r = client_alloc(&c, e, state_cb, userdata);
        if (r < 0)
                return r;
        r = adopt_fd(c, fd, is_device);
        if (r < 0) {
                xs_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

struct xs_client *xs_client_free(struct xs_client *c) {
        if (!c)
                return NULL;
        c->closing = true;
        disconnect(c, false);
        while (c->batches)
                xs_batch_cancel(c, c->batches);
        c->reconnect_timer = sd_event_source_disable_unref(c->reconnect_timer);
        c->timeout_timer = sd_event_source_disable_unref(c->timeout_timer);
        for (unsigned i = 0; i < c->n_watches; i++)
                free(c->watches[i].path);
        free(c->path);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

/* The batch module keeps its live batches on the client so teardown can cancel them. */
struct xs_batch **xs_client_batches(struct xs_client *c) { return &c->batches; }
sd_event *xs_client_event(struct xs_client *c) { return c->event; }
