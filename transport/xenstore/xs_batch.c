/* Writes and removals applied in one xenstore transaction, with the canonical EAGAIN
 * retry loop of spec §1.8. Replies to the operations are awaited before END so that a
 * refused write aborts the whole batch (xenstored would otherwise commit the rest). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pvic/log.h"
#include "pvic/xs_wire.h"
#include "xs_batch.h"

#define XS_BATCH_MAX_TRIES 16u
#define XS_BATCH_MAX_OPS 512u

struct xs_batch {
        struct xs_client *client;
        struct xs_op *ops; /* strings point into the same allocation */
        size_t n_ops;
        xs_done_fn cb;
        void *userdata;
        unsigned tries;
        uint32_t tx_id;
        unsigned outstanding;
        size_t replied; /* xenstored answers one connection in order: the reply's op index */
        int first_error;
        sd_event_source *retry_timer;
        struct xs_batch *next;
};

static void batch_unlink(struct xs_client *c, struct xs_batch *b) {
        for (struct xs_batch **pp = xs_client_batches(c); *pp; pp = &(*pp)->next)
                if (*pp == b) {
                        *pp = b->next;
                        return;
                }
}

static void batch_finish(struct xs_batch *b, int error) {
        struct xs_client *c = b->client;
        batch_unlink(c, b);
        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        xs_done_fn cb = b->cb;
        void *ud = b->userdata;
        free(b->ops);
        free(b);
        cb(c, error, ud);
}

void xs_batch_cancel(struct xs_client *c, struct xs_batch *b) { batch_finish(b, ECANCELED); }

static int batch_start(struct xs_batch *b);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct xs_batch *b = userdata;
        int r = batch_start(b);
        if (r < 0)
                batch_finish(b, -r);
        return 0;
}

static void end_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xs_batch *b = userdata;
        if (b->first_error) {
                batch_finish(b, b->first_error);
                return;
        }
        if (r->error != EAGAIN) {
                batch_finish(b, r->error);
                return;
        }
        if (++b->tries >= XS_BATCH_MAX_TRIES) {
                log_warning("xenstore: transaction still conflicting after %u tries; giving up", b->tries);
                batch_finish(b, EAGAIN);
                return;
        }
        log_debug("xenstore: transaction conflicted (EAGAIN); retry %u", b->tries);
        /* A growing pause, as libxenstore's users do, so two writers stop colliding. */
        uint64_t now;
        sd_event *e = xs_client_event(c);
        sd_event_now(e, CLOCK_MONOTONIC, &now);
        uint64_t delay = 1000ull << MIN(b->tries, 6u);
        int q = sd_event_add_time(e, &b->retry_timer, CLOCK_MONOTONIC, now + delay, 0, on_retry, b);
        if (q < 0)
                batch_finish(b, -q);
}

static void send_end(struct xs_batch *b) {
        const char *arg = b->first_error ? "F" : "T";
        int r = xs_request(b->client, XS_TRANSACTION_END, b->tx_id, arg, 2, end_reply, b);
        if (r < 0)
                batch_finish(b, b->first_error ? b->first_error : -r);
}

static void op_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xs_batch *b = userdata;
        size_t i = b->replied++;
        if (r->error && !b->first_error) {
                b->first_error = r->error;
                /* Name the refused node: "the batch failed" alone cannot be acted on. */
                if (r->error != EAGAIN && r->error != ECONNRESET && r->error != ECANCELED && i < b->n_ops)
                        log_warning_errno(r->error, "xenstore: %s %s refused: %m",
                                          b->ops[i].type == XS_OP_WRITE ? "write of" : "removal of", b->ops[i].path);
        }
        if (--b->outstanding == 0)
                send_end(b);
}

/* Removing what is already gone (even its parent) is success for a batch. */
static void rm_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xs_reply ok = *r;
        if (ok.error == ENOENT)
                ok.error = 0;
        op_reply(c, &ok, userdata);
}

static int queue_op(struct xs_batch *b, const struct xs_op *op) {
        if (op->type == XS_OP_WRITE)
                return xs_write(b->client, b->tx_id, op->path, op->value, op_reply, b);
        return xs_request(b->client, XS_RM, b->tx_id, op->path, strlen(op->path) + 1, rm_reply, b);
}

static void start_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xs_batch *b = userdata;
        if (r->error) {
                batch_finish(b, r->error);
                return;
        }
        char id[16];
        size_t n = MIN(r->len, sizeof id - 1);
        memcpy(id, r->payload, n);
        id[n] = 0;
        char *end;
        unsigned long v = strtoul(id, &end, 10);
        if (end == id || v == 0 || v > UINT32_MAX) {
                batch_finish(b, EPROTO);
                return;
        }
        b->tx_id = (uint32_t)v;
        b->first_error = 0;
        b->replied = 0;
        b->outstanding = 1; /* held until every op is queued, so END cannot go early */
        for (size_t i = 0; i < b->n_ops; i++) {
                int q = queue_op(b, &b->ops[i]);
                if (q < 0) {
                        if (!b->first_error)
                                b->first_error = -q;
                        break;
                }
                b->outstanding++;
        }
        if (--b->outstanding == 0)
                send_end(b);
}

static int batch_start(struct xs_batch *b) {
        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        return xs_request(b->client, XS_TRANSACTION_START, 0, "", 1, start_reply, b);
}

int xs_batch(struct xs_client *c, const struct xs_op *ops, size_t n, xs_done_fn cb, void *userdata) {
        if (n == 0 || n > XS_BATCH_MAX_OPS)
                return -EINVAL;
        size_t strings = 0;
        for (size_t i = 0; i < n; i++)
                strings += strlen(ops[i].path) + 1 + (ops[i].type == XS_OP_WRITE ? strlen(ops[i].value) + 1 : 0);
        struct xs_batch *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->ops = malloc(n * sizeof *ops + strings);
        if (!b->ops) {
                free(b);
                return -ENOMEM;
        }
        char *p = (char *)(b->ops + n);
        for (size_t i = 0; i < n; i++) {
                b->ops[i].type = ops[i].type;
                b->ops[i].path = p;
                p = stpcpy(p, ops[i].path) + 1;
                b->ops[i].value = NULL;
                if (ops[i].type == XS_OP_WRITE) {
                        b->ops[i].value = p;
                        p = stpcpy(p, ops[i].value) + 1;
                }
        }
        b->n_ops = n;
        b->client = c;
        b->cb = cb;
        b->userdata = userdata;
        int r = batch_start(b);
        if (r < 0) {
                free(b->ops);
                free(b);
                return r;
        }
        struct xs_batch **head = xs_client_batches(c);
        b->next = *head;
        *head = b;
        return 0;
}
