/* Asynchronous xenstore client on sd-event (spec/xen-guest.md §2.5): one connection
 * over /dev/xen/xenbus, /proc/xen/xenbus or a unix socket; pipelined requests matched by
 * req_id; watch events interleaved with replies; reconnect with backoff and watch
 * re-registration; bounded queues. Never sends RESET_WATCHES. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct xs_client;

struct xs_reply {
        int error;               /* 0, a wire error (EACCES...) or a local one (ECONNRESET, ETIMEDOUT) */
        uint32_t type;
        const uint8_t *payload;  /* valid during the callback only */
        size_t len;
};

typedef void (*xs_reply_fn)(struct xs_client *c, const struct xs_reply *r, void *userdata);
typedef void (*xs_watch_fn)(struct xs_client *c, const char *path, const char *token, void *userdata);
/* Called after the connection is up and watches are re-registered (connected=true), and
 * when it is lost (connected=false; pending requests have already failed). */
typedef void (*xs_state_fn)(struct xs_client *c, bool connected, void *userdata);
typedef void (*xs_done_fn)(struct xs_client *c, int error, void *userdata);

/* Bounds: requests in flight or queued, bytes waiting to be written. */
#define XS_CLIENT_MAX_PENDING 128u
#define XS_CLIENT_MAX_OUTPUT (64u * 1024u)
#define XS_CLIENT_MAX_WATCHES 16u
#define XS_CLIENT_REQUEST_TIMEOUT_USEC (10u * 1000000u)

/* Picks the transport path: configured (flag/config) > $XENSTORED_PATH > ROOT/dev/xen/xenbus
 * > ROOT/proc/xen/xenbus. Returns a new string, or NULL when nothing exists. */
char *xs_client_find_path(const char *root, const char *configured);

int xs_client_new(struct xs_client **ret, sd_event *e, const char *path, xs_state_fn state_cb,
                  void *userdata);
/* Adopts an open connection (a socketpair in tests and fuzzers); it is not reopened
 * when lost. */
int xs_client_new_fd(struct xs_client **ret, sd_event *e, int fd, bool is_device, xs_state_fn state_cb,
                     void *userdata);
struct xs_client *xs_client_free(struct xs_client *c);
bool xs_client_is_connected(const struct xs_client *c);
/* True when talking to the kernel device (payloads are capped at 4080 there). */
bool xs_client_is_device(const struct xs_client *c);

/* Requests. `path` may be relative (resolved against the domain's home by xenstored);
 * cb may be NULL for a request whose answer nobody needs.
 * Each returns 0 when queued (the callback will run exactly once), or a negative errno
 * (-ENOTCONN, -ENOBUFS, -E2BIG) with no callback. */
int xs_request(struct xs_client *c, uint32_t type, uint32_t tx_id, const void *payload, size_t len,
               xs_reply_fn cb, void *userdata);
int xs_read(struct xs_client *c, const char *path, xs_reply_fn cb, void *userdata);
int xs_write(struct xs_client *c, uint32_t tx_id, const char *path, const char *value,
             xs_reply_fn cb, void *userdata);

/* Watches live across reconnects; the callback sees every event, including the initial
 * fire after (re)registration. Returns 0 or -ENOSPC / -ENOMEM. */
int xs_watch_add(struct xs_client *c, const char *path, xs_watch_fn cb, void *userdata);

/* A batch of writes and removals applied in one transaction; retried from the start on
 * EAGAIN (up to 16 times), aborted with 'F' if any operation fails. */
enum xs_op_type { XS_OP_WRITE, XS_OP_RM };
struct xs_op {
        enum xs_op_type type;
        const char *path;
        const char *value; /* XS_OP_WRITE only */
};
int xs_batch(struct xs_client *c, const struct xs_op *ops, size_t n, xs_done_fn cb, void *userdata);
