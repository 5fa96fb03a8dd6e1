/* Connections: stream reassembly, request dispatch and the bounded output queue. No
 * I/O here: the socket layer (xs-listen.c) or a fuzzer feeds bytes in and drains
 * xsd_conn_pending() bytes out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/log.h"
#include "pvic/macro.h"
#include "xs-server.h"

struct xsd_server *xsd_server_new(const struct xsd_config *cfg) {
        struct xsd_server *srv = calloc(1, sizeof *srv);
        if (!srv)
                return NULL;
        srv->cfg = *cfg;
        srv->store = xsd_store_new();
        if (!srv->store) {
                free(srv);
                return NULL;
        }
        return srv;
}

struct xsd_server *xsd_server_free(struct xsd_server *srv) {
        if (!srv)
                return NULL;
        while (srv->conns)
                xsd_conn_free(srv->conns);
        xsd_store_free(srv->store);
        free(srv->domids);
        free(srv->stats);
        free(srv);
        return NULL;
}

bool xsd_server_has_domid(const struct xsd_server *srv, uint32_t domid) {
        for (size_t i = 0; i < srv->n_domids; i++)
                if (srv->domids[i] == domid)
                        return true;
        return false;
}

struct xsd_conn *xsd_conn_new(struct xsd_server *srv, uint32_t domid, bool priv) {
        struct xsd_conn *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->srv = srv;
        c->domid = domid;
        c->priv = priv;
        c->next = srv->conns;
        if (srv->conns)
                srv->conns->prev = c;
        srv->conns = c;
        return c;
}

void xsd_conn_free(struct xsd_conn *c) {
        if (!c)
                return;
        /* Closing aborts the connection's transactions and drops its watches. */
        xsd_watch_free_all(c);
        xsd_txn_free_all(c);
        if (c->prev)
                c->prev->next = c->next;
        else
                c->srv->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c->in);
        free(c->out);
        free(c);
}

int xsd_conn_queue(struct xsd_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
                   const void *payload, size_t len) {
        if (c->dead)
                return -EPIPE;
        size_t need = XS_HEADER_SIZE + len;
        if (xsd_conn_pending(c) + need > XSD_OUT_MAX) {
                log_warning("xenstore client (domid %u) does not read its replies, dropping it", c->domid);
                c->dead = true;
                return -ENOBUFS;
        }
        if (c->out_off > 0 && c->out_len + need > c->out_cap) {
                memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
                c->out_len -= c->out_off;
                c->out_off = 0;
        }
        if (c->out_len + need > c->out_cap) {
                size_t cap = MAX(c->out_cap * 2, c->out_len + need);
                uint8_t *o = realloc(c->out, cap);
                if (!o) {
                        c->dead = true;
                        return -ENOMEM;
                }
                c->out = o;
                c->out_cap = cap;
        }
        struct iovec iov = { (void *)payload, len };
        ssize_t n = xs_msg_encode(c->out + c->out_len, c->out_cap - c->out_len, XS_PAYLOAD_MAX, type,
                                  req_id, tx_id, &iov, 1);
        if (n < 0)
                return (int)n;
        c->out_len += (size_t)n;
        return 0;
}

void xsd_conn_consume(struct xsd_conn *c, size_t n) {
        c->out_off += MIN(n, xsd_conn_pending(c));
        if (c->out_off == c->out_len)
                c->out_off = c->out_len = 0;
}

static void queue_error(struct xsd_conn *c, const struct xs_header *h, int err) {
        const char *name = xs_error_name(err);
        if (!name)
                name = "EINVAL"; /* only wire names may be sent */
        (void)xsd_conn_queue(c, XS_ERROR, h->req_id, h->tx_id, name, strlen(name) + 1);
}

static void count(struct xsd_conn *c, uint32_t type) {
        struct xsd_server *srv = c->srv;
        if (c->priv)
                return;
        if (!srv->stats && !(srv->stats = calloc(srv->n_domids, sizeof *srv->stats)))
                return;
        for (size_t i = 0; i < srv->n_domids; i++)
                if (srv->domids[i] == c->domid) {
                        srv->stats[i].requests++;
                        if (type == XS_WRITE || type == XS_MKDIR || type == XS_RM || type == XS_SET_PERMS)
                                srv->stats[i].writes++;
                        return;
                }
}

static void process(struct xsd_conn *c, const struct xs_header *h, const uint8_t *payload) {
        count(c, h->type);
        struct xsd_ctx x = {
                .srv = c->srv, .conn = c, .domid = c->domid, .priv = c->priv, .store = c->srv->store,
        };
        int e = 0;
        /* WATCH and UNWATCH ignore tx_id; everything else runs inside the named transaction. */
        if (h->tx_id != 0 && h->type != XS_WATCH && h->type != XS_UNWATCH) {
                x.txn = xsd_txn_find(c, h->tx_id);
                if (!x.txn)
                        e = -ENOENT;
                else if (h->type == XS_TRANSACTION_START)
                        e = -EBUSY;
                else
                        x.store = x.txn->snap;
        }
        _cleanup_free_ struct xsd_reply *r = e < 0 ? NULL : malloc(sizeof *r);
        if (e == 0 && !r)
                e = -ENOMEM;
        if (e == 0)
                e = xsd_op(&x, h->type, payload, h->len, r);
        if (e < 0) {
                log_debug("%s from domid %u: %s", xs_type_name(h->type), c->domid, xs_error_name(-e) ?: "?");
                queue_error(c, h, -e);
                return;
        }
        /* xenstored queues OK before the initial event; --event-before-ok flips that so
         * clients can be tested against what /dev/xen/xenbus may deliver. */
        if (r->initial && c->srv->cfg.event_before_ok)
                xsd_watch_queue_event(c, r->initial, r->initial->path);
        (void)xsd_conn_queue(c, h->type, h->req_id, h->tx_id, r->buf, r->len);
        if (r->initial && !c->srv->cfg.event_before_ok)
                xsd_watch_queue_event(c, r->initial, r->initial->path);
}

int xsd_conn_feed(struct xsd_conn *c, const void *data, size_t len) {
        if (c->dead)
                return -EPIPE;
        if (c->in_len + len == 0)
                return 0;
        if (c->in_len + len > c->in_cap) {
                size_t cap = MAX(c->in_cap * 2, c->in_len + len);
                uint8_t *in = realloc(c->in, cap);
                if (!in) {
                        c->dead = true;
                        return -ENOMEM;
                }
                c->in = in;
                c->in_cap = cap;
        }
        if (len)
                memcpy(c->in + c->in_len, data, len);
        c->in_len += len;

        size_t off = 0;
        for (;;) {
                struct xs_header h;
                ssize_t n = xs_frame_next(c->in + off, c->in_len - off, XS_PAYLOAD_MAX, &h);
                if (n < 0) {
                        /* The stream cannot be resynchronised: like xenstored, drop this client. */
                        log_warning("xenstore client (domid %u) sent a %u-byte payload, dropping it",
                                    c->domid, h.len);
                        c->dead = true;
                        return -EPROTO;
                }
                if (n == 0)
                        break;
                process(c, &h, c->in + off + XS_HEADER_SIZE);
                off += (size_t)n;
                if (c->dead)
                        return -ENOBUFS;
        }
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
        return 0;
}
