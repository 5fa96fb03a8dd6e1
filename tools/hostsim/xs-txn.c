/* Transactions (spec §1.8, §10.6). A transaction works on a private copy of the tree,
 * remembers the generation of every node it touched, and logs its successful changes.
 * Commit re-checks those generations against the live tree (EAGAIN on any difference)
 * and replays the log there, so the live tree and watch events see the changes only
 * at commit, through the same code paths as direct requests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "xs-server.h"

static struct xsd_txn *txn_free(struct xsd_txn *t) {
        if (!t)
                return NULL;
        xsd_store_free(t->snap);
        for (size_t i = 0; i < t->n_recs; i++)
                free(t->recs[i].path);
        free(t->recs);
        for (size_t i = 0; i < t->n_ops; i++)
                free(t->ops[i].payload);
        free(t->ops);
        free(t);
        return NULL;
}

size_t xsd_txn_count_domain(const struct xsd_server *srv, uint32_t domid) {
        size_t n = 0;
        for (const struct xsd_conn *c = srv->conns; c; c = c->next)
                if (!c->priv && c->domid == domid)
                        n += c->n_txns;
        return n;
}

struct xsd_txn *xsd_txn_find(struct xsd_conn *c, uint32_t id) {
        for (struct xsd_txn *t = c->txns; t; t = t->next)
                if (t->id == id)
                        return t;
        return NULL;
}

int xsd_txn_start(struct xsd_conn *c, uint32_t *ret_id) {
        if (c->priv ? c->n_txns >= XSD_PRIV_TXN_MAX
                    : xsd_txn_count_domain(c->srv, c->domid) >= c->srv->cfg.quota_transactions)
                return -ENOSPC;
        struct xsd_txn *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->touch_max = c->priv ? XSD_PRIV_TXN_TOUCH_MAX : XSD_TXN_TOUCH_MAX;
        t->snap = xsd_store_dup(c->srv->store);
        if (!t->snap) {
                txn_free(t);
                return -ENOMEM;
        }
        /* Never 0 (means "no transaction") and never an id still open on this connection. */
        do
                t->id = ++c->next_txid;
        while (t->id == 0 || xsd_txn_find(c, t->id));
        t->next = c->txns;
        c->txns = t;
        c->n_txns++;
        *ret_id = t->id;
        return 0;
}

int xsd_txn_record(struct xsd_txn *t, const char *path, const struct xsd_node *n) {
        for (size_t i = 0; i < t->n_recs; i++)
                if (strcmp(t->recs[i].path, path) == 0)
                        return 0;
        if (t->n_recs >= t->touch_max)
                return -ENOSPC;
        if (t->n_recs == t->cap_recs) {
                size_t cap = MAX(t->cap_recs * 2, (size_t)16);
                struct xsd_txn_rec *r = realloc(t->recs, cap * sizeof *r);
                if (!r)
                        return -ENOMEM;
                t->recs = r;
                t->cap_recs = cap;
        }
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        t->recs[t->n_recs++] = (struct xsd_txn_rec){ p, n ? n->gen : 0, n != NULL };
        return 0;
}

int xsd_txn_log(struct xsd_txn *t, uint32_t type, const uint8_t *payload, size_t len) {
        if (t->n_ops >= t->touch_max)
                return -ENOSPC;
        if (t->n_ops == t->cap_ops) {
                size_t cap = MAX(t->cap_ops * 2, (size_t)8);
                struct xsd_txn_op *o = realloc(t->ops, cap * sizeof *o);
                if (!o)
                        return -ENOMEM;
                t->ops = o;
                t->cap_ops = cap;
        }
        uint8_t *copy = malloc(MAX(len, (size_t)1));
        if (!copy)
                return -ENOMEM;
        memcpy(copy, payload, len);
        t->ops[t->n_ops++] = (struct xsd_txn_op){ type, copy, len };
        return 0;
}

static bool txn_conflicts(const struct xsd_txn *t, const struct xsd_store *live) {
        for (size_t i = 0; i < t->n_recs; i++) {
                const struct xsd_node *n = xsd_store_lookup(live, t->recs[i].path);
                if ((n != NULL) != t->recs[i].exists || (n && n->gen != t->recs[i].gen))
                        return true;
        }
        return false;
}

static void txn_unlink(struct xsd_conn *c, struct xsd_txn *t) {
        for (struct xsd_txn **p = &c->txns; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        c->n_txns--;
                        return;
                }
}

int xsd_txn_end(struct xsd_conn *c, struct xsd_txn *t, bool commit) {
        struct xsd_server *srv = c->srv;
        txn_unlink(c, t);
        if (!commit) {
                txn_free(t);
                return 0;
        }
        if (srv->cfg.force_eagain > 0) {
                srv->cfg.force_eagain--;
                txn_free(t);
                return -EAGAIN;
        }
        if (txn_conflicts(t, srv->store)) {
                txn_free(t);
                return -EAGAIN;
        }
        struct xsd_ctx x = {
                .srv = srv, .conn = c, .domid = c->domid, .priv = c->priv,
                .store = srv->store, .replay = true,
        };
        _cleanup_free_ struct xsd_reply *r = malloc(sizeof *r);
        if (!r) {
                txn_free(t);
                return -ENOMEM;
        }
        /* Every node the log touches was checked unchanged, so each step succeeds as it
         * did on the snapshot; a failure would be a simulator bug, not the client's. */
        for (size_t i = 0; i < t->n_ops; i++)
                (void)xsd_op(&x, t->ops[i].type, t->ops[i].payload, t->ops[i].len, r);
        txn_free(t);
        return 0;
}

void xsd_txn_free_all(struct xsd_conn *c) {
        while (c->txns) {
                struct xsd_txn *t = c->txns;
                c->txns = t->next;
                txn_free(t);
        }
        c->n_txns = 0;
}
