/* pvic-hostsim's xenstored (spec/xen-guest.md §10). Server-side names use the xsd_
 * prefix so they never collide with the guest client's xs_ symbols: fuzzers link both.
 *
 * Layers: xs-store.c (tree, permissions), xs-txn.c (snapshots, conflict check, replay),
 * xs-watch.c (registration, firing), xs-ops.c (one handler per request type),
 * xs-conn.c (framing, output queue, dispatch), xs-listen.c (sockets on sd-event),
 * xs-seed.c (toolstack layouts), xen-sim.c (options, main). Everything except
 * xs-listen.c and xen-sim.c is pure in-memory so the fuzzer can drive it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pvic/xs_wire.h"

#define XSD_PERM_READ  1u
#define XSD_PERM_WRITE 2u
#define XSD_PERM_OWNER 4u

/* A client that stops reading is dropped once this much output is queued for it. */
#define XSD_OUT_MAX (1024u * 1024u)
/* Hard caps for the privileged identity, which has no spec quotas but must not be able
 * to exhaust the simulator's memory (each open transaction holds a tree snapshot). */
#define XSD_PRIV_TXN_MAX 64u
#define XSD_PRIV_WATCH_MAX 4096u
/* C xenstored's per-transaction "nodes touched" quota for domains; dom0 gets a larger
 * cap (xenstore-rm of a big subtree runs in a transaction) that still bounds memory. */
#define XSD_TXN_TOUCH_MAX 1024u
#define XSD_PRIV_TXN_TOUCH_MAX 65536u
/* C xenstored's node-size and node-permissions quotas for unprivileged domains. */
#define XSD_NODE_SIZE_MAX 2048u
#define XSD_PERMS_MAX 5u

struct xsd_perm {
        char letter; /* 'n', 'r', 'w', 'b' */
        uint32_t domid;
};

struct xsd_node {
        char *name; /* last component; "" for the root */
        struct xsd_node *parent;
        struct xsd_node **children; /* insertion order: xenstore-ls prints in this order */
        size_t n_children, cap_children;
        uint8_t *value;
        size_t value_len;
        struct xsd_perm *perms; /* ≥ 1 entry; entry 0 is the owner */
        size_t n_perms;
        uint64_t gen;
};

struct xsd_store {
        struct xsd_node *root;
        uint64_t gen; /* bumped on every modification, copied into the node */
};

struct xsd_config {
        bool event_before_ok;
        unsigned force_eagain; /* the next N commits fail with EAGAIN */
        unsigned quota_nodes;
        unsigned quota_watches;
        unsigned quota_transactions;
};

struct xsd_watch {
        struct xsd_watch *next;
        char *path; /* absolute (or an @special) */
        char *token;
        bool relative; /* events strip the home prefix again */
};

struct xsd_txn_rec {
        char *path;
        uint64_t gen;
        bool exists;
};

struct xsd_txn_op {
        uint32_t type;
        uint8_t *payload; /* the request with its path made absolute */
        size_t len;
};

struct xsd_txn {
        struct xsd_txn *next;
        uint32_t id;
        struct xsd_store *snap;
        struct xsd_txn_rec *recs;
        size_t n_recs, cap_recs;
        struct xsd_txn_op *ops;
        size_t n_ops, cap_ops;
        size_t touch_max;
};

struct xsd_server;

struct xsd_conn {
        struct xsd_server *srv;
        struct xsd_conn *prev, *next;
        uint32_t domid;
        bool priv;
        bool dead; /* protocol violation or output overflow: the owner must close it */
        uint8_t *in;
        size_t in_len, in_cap;
        uint8_t *out;
        size_t out_off, out_len, out_cap; /* pending bytes are out[out_off..out_len) */
        struct xsd_watch *watches;
        size_t n_watches;
        struct xsd_txn *txns;
        size_t n_txns;
        uint32_t next_txid;
        void *userdata; /* the socket layer's state */
};

/* What each simulated guest asked of xenstored: the fleet benchmark's figures. */
struct xsd_stats {
        uint64_t requests;
        uint64_t writes; /* WRITE, MKDIR, RM, SET_PERMS: what wakes dom0's watchers */
};

struct xsd_server {
        struct xsd_store *store;
        struct xsd_conn *conns;
        struct xsd_config cfg;
        uint32_t *domids;
        size_t n_domids;
        struct xsd_stats *stats; /* one per domid, same order; NULL until counted */
};

/* Writes "domid requests writes" lines and the process's CPU time to path. */
int xsd_stats_write(const struct xsd_server *srv, const char *path);

/* Per request: who asks, against which tree, inside which transaction. */
struct xsd_ctx {
        struct xsd_server *srv;
        struct xsd_conn *conn;
        uint32_t domid;
        bool priv;
        struct xsd_store *store;
        struct xsd_txn *txn; /* set: record accesses, log changes, fire nothing */
        bool replay;         /* applying a committed transaction: skip quotas */
};

struct xsd_reply {
        uint8_t buf[XS_PAYLOAD_MAX];
        size_t len;
        struct xsd_watch *initial; /* WATCH: fire this once around the OK */
};

/* xs-store.c */
struct xsd_store *xsd_store_new(void);
struct xsd_store *xsd_store_free(struct xsd_store *s);
struct xsd_store *xsd_store_dup(const struct xsd_store *s);
struct xsd_node *xsd_store_lookup(const struct xsd_store *s, const char *path);
struct xsd_node *xsd_node_child(const struct xsd_node *n, const char *name, size_t len);
int xsd_node_set_value(struct xsd_store *s, struct xsd_node *n, const void *v, size_t len);
int xsd_node_set_perms(struct xsd_store *s, struct xsd_node *n, const struct xsd_perm *p, size_t np);
struct xsd_node *xsd_node_add(struct xsd_store *s, struct xsd_node *parent, const char *name,
                              size_t len, const struct xsd_perm *p, size_t np);
void xsd_node_remove(struct xsd_store *s, struct xsd_node *n);
unsigned xsd_perm_for(const struct xsd_node *n, uint32_t domid, bool priv);
size_t xsd_store_count_owned(const struct xsd_store *s, uint32_t domid);
int xsd_perm_parse(const char *str, struct xsd_perm *ret);
/* Writes path + value, creating parents with the given perms; for seeding. */
int xsd_store_put(struct xsd_store *s, const char *path, const char *value,
                  const struct xsd_perm *p, size_t np);

/* xs-watch.c */
int xsd_watch_add(struct xsd_conn *c, const char *path, const char *token, bool relative);
int xsd_watch_remove(struct xsd_conn *c, const char *path, const char *token);
void xsd_watch_free_all(struct xsd_conn *c);
size_t xsd_watch_count_domain(const struct xsd_server *srv, uint32_t domid);
/* A committed change of path (absolute). exact: only watches set exactly on path fire
 * (descendants removed by RM). The node must still exist in srv->store for guests'
 * read-permission filter. */
void xsd_watch_fire(struct xsd_server *srv, const char *path, bool exact);
void xsd_watch_queue_event(struct xsd_conn *c, const struct xsd_watch *w, const char *path);

/* xs-txn.c */
int xsd_txn_start(struct xsd_conn *c, uint32_t *ret_id);
struct xsd_txn *xsd_txn_find(struct xsd_conn *c, uint32_t id);
int xsd_txn_end(struct xsd_conn *c, struct xsd_txn *t, bool commit);
void xsd_txn_free_all(struct xsd_conn *c);
size_t xsd_txn_count_domain(const struct xsd_server *srv, uint32_t domid);
/* Remembers what a transaction depended on (first access wins). */
int xsd_txn_record(struct xsd_txn *t, const char *path, const struct xsd_node *n);
int xsd_txn_log(struct xsd_txn *t, uint32_t type, const uint8_t *payload, size_t len);

/* xs-ops.c: handles one request; returns 0 with r filled, or a negative errno. */
int xsd_op(struct xsd_ctx *x, uint32_t type, const uint8_t *payload, size_t len,
           struct xsd_reply *r);

/* xs-conn.c */
struct xsd_server *xsd_server_new(const struct xsd_config *cfg);
struct xsd_server *xsd_server_free(struct xsd_server *srv);
bool xsd_server_has_domid(const struct xsd_server *srv, uint32_t domid);
struct xsd_conn *xsd_conn_new(struct xsd_server *srv, uint32_t domid, bool priv);
void xsd_conn_free(struct xsd_conn *c);
/* Consumes stream bytes, answering every complete request into the output queue.
 * Returns < 0 when the connection must be dropped (then c->dead is set). */
int xsd_conn_feed(struct xsd_conn *c, const void *data, size_t len);
int xsd_conn_queue(struct xsd_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
                   const void *payload, size_t len);
void xsd_conn_consume(struct xsd_conn *c, size_t n);
static inline size_t xsd_conn_pending(const struct xsd_conn *c) { return c->out_len - c->out_off; }

/* xs-seed.c */
int xsd_seed_domain(struct xsd_store *s, uint32_t domid, bool libxl);
int xsd_seed_base(struct xsd_store *s);

/* xs-listen.c: unix sockets on an sd-event loop, one identity per socket. */
struct sd_event;
struct xsd_listen;
int xsd_listen_new(struct sd_event *e, struct xsd_server *srv, struct xsd_listen **ret);
int xsd_listen_add(struct xsd_listen *l, const char *path, uint32_t domid, bool priv);
/* Closes every connection and listener and removes the socket files. */
struct xsd_listen *xsd_listen_free(struct xsd_listen *l);
