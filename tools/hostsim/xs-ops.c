/* One handler per request type (spec §1.3, §10.4). Errors follow C xenstored, which
 * real clients were written against: e.g. a missing node answers EACCES instead of
 * ENOENT when the caller may not see its nearest existing ancestor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "xs-server.h"

#define PATH_BUF (XS_ABS_PATH_MAX + 32)

static int reply_str(struct xsd_reply *r, const char *s) {
        size_t l = strlen(s) + 1;
        if (l > sizeof r->buf)
                return -E2BIG;
        memcpy(r->buf, s, l);
        r->len = l;
        return 0;
}

static int reply_ok(struct xsd_reply *r) { return reply_str(r, "OK"); }

/* Most requests are exactly one string: one NUL, at the very end. */
static int one_arg(const uint8_t *p, size_t len, const char **ret) {
        if (len == 0 || p[len - 1] != 0 || memchr(p, 0, len) != p + len - 1)
                return -EINVAL;
        *ret = (const char *)p;
        return 0;
}

static int parse_domid(const char *s, uint32_t *ret) {
        size_t l = strlen(s);
        if (l == 0 || l > 5 || strspn(s, "0123456789") != l)
                return -EINVAL;
        unsigned long v = strtoul(s, NULL, 10);
        if (v > 65535)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int home_of(uint32_t domid, char *buf, size_t size) {
        return snprintf(buf, size, "/local/domain/%u", domid);
}

/* Makes path absolute: relative paths resolve against the caller's home (for the
 * privileged socket that is /local/domain/0, as C xenstored does). */
static int resolve(const struct xsd_ctx *x, const char *in, bool allow_special, char out[PATH_BUF],
                   bool *ret_relative) {
        bool relative = in[0] != '/' && in[0] != '@';
        if (ret_relative)
                *ret_relative = relative;
        if (in[0] == '@') {
                if (!allow_special || !xs_path_valid(in, true))
                        return -EINVAL;
                strcpy(out, in);
                return 0;
        }
        if (!xs_path_valid(in, false))
                return -EINVAL;
        if (!relative) {
                strcpy(out, in);
        } else {
                if (strlen(in) > XS_REL_PATH_MAX)
                        return -EINVAL;
                int hl = home_of(x->domid, out, PATH_BUF);
                if ((size_t)hl + 1 + strlen(in) > XS_ABS_PATH_MAX)
                        return -EINVAL;
                out[hl] = '/';
                strcpy(out + hl + 1, in);
        }
        return 0;
}

/* Looks a node up in the request's tree; inside a transaction it becomes a dependency. */
static int get(const struct xsd_ctx *x, const char *path, struct xsd_node **ret) {
        struct xsd_node *n = xsd_store_lookup(x->store, path);
        if (x->txn) {
                int r = xsd_txn_record(x->txn, path, n);
                if (r < 0)
                        return r;
        }
        *ret = n;
        return 0;
}

static bool parent_path(char *path) {
        char *slash = strrchr(path, '/');
        if (!slash || (slash == path && path[1] == 0))
                return false;
        if (slash == path)
                slash[1] = 0;
        else
                *slash = 0;
        return true;
}

/* 0 with *ret set when the caller has `want` on the node; -ENOENT when it is missing
 * and the nearest existing ancestor grants `want` (so it may be created); -EACCES when
 * the caller may not act on it or may not even learn whether it exists. */
static int access_node(const struct xsd_ctx *x, const char *path, unsigned want, struct xsd_node **ret) {
        struct xsd_node *n;
        int r = get(x, path, &n);
        if (r < 0)
                return r;
        if (n) {
                if ((xsd_perm_for(n, x->domid, x->priv) & want) != want)
                        return -EACCES;
                *ret = n;
                return 0;
        }
        char up[PATH_BUF];
        strcpy(up, path);
        while (parent_path(up)) {
                r = get(x, up, &n);
                if (r < 0)
                        return r;
                if (n)
                        return (xsd_perm_for(n, x->domid, x->priv) & want) == want ? -ENOENT : -EACCES;
        }
        return -ENOENT;
}

static int log_op(const struct xsd_ctx *x, uint32_t type, const char *path, const void *rest, size_t rest_len) {
        size_t pl = strlen(path) + 1;
        _cleanup_free_ uint8_t *buf = malloc(pl + rest_len + 1);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, path, pl);
        if (rest_len)
                memcpy(buf + pl, rest, rest_len);
        return xsd_txn_log(x->txn, type, buf, pl + rest_len);
}

/* Creates path and its missing parents, each inheriting its parent's permissions with
 * the owner replaced by an unprivileged creator (guests own what they create). */
static int create(const struct xsd_ctx *x, const char *path, struct xsd_node **ret) {
        struct xsd_node *n = x->store->root;
        size_t missing = 0;
        for (const char *c = path + 1; *c;) {
                const char *slash = strchr(c, '/');
                size_t len = slash ? (size_t)(slash - c) : strlen(c);
                if (missing || !(n = xsd_node_child(n, c, len)))
                        missing++;
                c += len + (slash != NULL);
        }
        if (!x->priv && !x->replay &&
            xsd_store_count_owned(x->store, x->domid) + missing > x->srv->cfg.quota_nodes)
                return -ENOSPC;
        n = x->store->root;
        for (const char *c = path + 1; *c;) {
                const char *slash = strchr(c, '/');
                size_t len = slash ? (size_t)(slash - c) : strlen(c);
                struct xsd_node *child = xsd_node_child(n, c, len);
                if (!child) {
                        struct xsd_perm p[XS_PAYLOAD_MAX / 2];
                        size_t np = MIN(n->n_perms, ELEMENTSOF(p));
                        memcpy(p, n->perms, np * sizeof *p);
                        if (!x->priv)
                                p[0].domid = x->domid;
                        child = xsd_node_add(x->store, n, c, len, p, np);
                        if (!child)
                                return -ENOMEM;
                }
                n = child;
                c += len + (slash != NULL);
        }
        *ret = n;
        return 0;
}

static int op_read(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        char path[PATH_BUF];
        struct xsd_node *n;
        int e;
        if ((e = one_arg(p, len, &arg)) < 0 || (e = resolve(x, arg, false, path, NULL)) < 0 ||
            (e = access_node(x, path, XSD_PERM_READ, &n)) < 0)
                return e;
        if (n->value_len > sizeof r->buf)
                return -E2BIG;
        if (n->value_len)
                memcpy(r->buf, n->value, n->value_len);
        r->len = n->value_len;
        return 0;
}

static int op_write(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const uint8_t *nul = memchr(p, 0, len);
        char path[PATH_BUF];
        struct xsd_node *n;
        int e;
        if (!nul)
                return -EINVAL;
        const uint8_t *value = nul + 1;
        size_t vlen = len - (size_t)(value - p);
        if ((e = resolve(x, (const char *)p, false, path, NULL)) < 0)
                return e;
        if (!x->priv && vlen > XSD_NODE_SIZE_MAX)
                return -ENOSPC;
        e = access_node(x, path, XSD_PERM_WRITE, &n);
        if (e == -ENOENT)
                e = create(x, path, &n);
        if (e < 0)
                return e;
        if ((e = xsd_node_set_value(x->store, n, value, vlen)) < 0)
                return e;
        if (x->txn)
                e = log_op(x, XS_WRITE, path, value, vlen);
        else
                xsd_watch_fire(x->srv, path, false);
        return e < 0 ? e : reply_ok(r);
}

static int op_mkdir(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        char path[PATH_BUF];
        struct xsd_node *n;
        int e;
        if ((e = one_arg(p, len, &arg)) < 0 || (e = resolve(x, arg, false, path, NULL)) < 0)
                return e;
        e = access_node(x, path, XSD_PERM_WRITE, &n);
        if (e == 0)
                return reply_ok(r); /* exists: no change, no event */
        if (e != -ENOENT || (e = create(x, path, &n)) < 0)
                return e;
        if (x->txn)
                e = log_op(x, XS_MKDIR, path, NULL, 0);
        else
                xsd_watch_fire(x->srv, path, false);
        return e < 0 ? e : reply_ok(r);
}

static int record_subtree(const struct xsd_ctx *x, const struct xsd_node *n, char *path, size_t pl) {
        int e = xsd_txn_record(x->txn, path, n);
        for (size_t i = 0; e >= 0 && i < n->n_children; i++) {
                size_t cl = strlen(n->children[i]->name);
                if (pl + 1 + cl >= PATH_BUF)
                        return -E2BIG;
                path[pl] = '/';
                memcpy(path + pl + 1, n->children[i]->name, cl + 1);
                e = record_subtree(x, n->children[i], path, pl + 1 + cl);
                path[pl] = 0;
        }
        return e;
}

/* Post-order, like C xenstored: descendants fire only watches set exactly on them. */
static void fire_descendants(struct xsd_server *srv, const struct xsd_node *n, char *path, size_t pl) {
        for (size_t i = 0; i < n->n_children; i++) {
                size_t cl = strlen(n->children[i]->name);
                if (pl + 1 + cl >= PATH_BUF)
                        continue;
                path[pl] = '/';
                memcpy(path + pl + 1, n->children[i]->name, cl + 1);
                fire_descendants(srv, n->children[i], path, pl + 1 + cl);
                xsd_watch_fire(srv, path, true);
                path[pl] = 0;
        }
}

static int op_rm(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        char path[PATH_BUF];
        struct xsd_node *n;
        int e;
        if ((e = one_arg(p, len, &arg)) < 0 || (e = resolve(x, arg, false, path, NULL)) < 0)
                return e;
        if (strcmp(path, "/") == 0)
                return -EINVAL;
        e = access_node(x, path, XSD_PERM_WRITE, &n);
        if (e == -ENOENT) {
                /* Removing what is already gone is fine as long as the parent exists. */
                char up[PATH_BUF];
                struct xsd_node *pn;
                strcpy(up, path);
                parent_path(up);
                if ((e = get(x, up, &pn)) < 0)
                        return e;
                return pn ? reply_ok(r) : -ENOENT;
        }
        if (e < 0)
                return e;
        char buf[PATH_BUF];
        strcpy(buf, path);
        if (x->txn) {
                if ((e = record_subtree(x, n, buf, strlen(buf))) < 0 ||
                    (e = log_op(x, XS_RM, path, NULL, 0)) < 0)
                        return e;
        } else {
                /* Fired before the removal so the read-permission filter still sees the nodes. */
                fire_descendants(x->srv, n, buf, strlen(buf));
                xsd_watch_fire(x->srv, path, false);
        }
        xsd_node_remove(x->store, n);
        return reply_ok(r);
}

static int op_directory(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        char path[PATH_BUF];
        struct xsd_node *n;
        int e;
        if ((e = one_arg(p, len, &arg)) < 0 || (e = resolve(x, arg, false, path, NULL)) < 0 ||
            (e = access_node(x, path, XSD_PERM_READ, &n)) < 0)
                return e;
        r->len = 0;
        for (size_t i = 0; i < n->n_children; i++) {
                size_t l = strlen(n->children[i]->name) + 1;
                if (r->len + l > sizeof r->buf)
                        return -E2BIG; /* the client falls back to DIRECTORY_PART */
                memcpy(r->buf + r->len, n->children[i]->name, l);
                r->len += l;
        }
        return 0;
}

static int op_directory_part(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *a[3];
        char path[PATH_BUF];
        struct xsd_node *n;
        int e, na = xs_split_strings(p, len, a, ELEMENTSOF(a));
        if (na != 2 || strlen(a[1]) == 0 || strlen(a[1]) > 9 || strspn(a[1], "0123456789") != strlen(a[1]))
                return -EINVAL;
        if ((e = resolve(x, a[0], false, path, NULL)) < 0 || (e = access_node(x, path, XSD_PERM_READ, &n)) < 0)
                return e;
        size_t off = strtoul(a[1], NULL, 10);
        size_t total = 0;
        for (size_t i = 0; i < n->n_children; i++)
                total += strlen(n->children[i]->name) + 1;
        int gl = snprintf((char *)r->buf, sizeof r->buf, "%llu", (unsigned long long)n->gen) + 1;
        r->len = (size_t)gl;
        if (off >= total) {
                r->buf[r->len++] = 0;
                return 0;
        }
        /* Same chunking as C xenstored: whole names from the byte offset on, always room
         * left for the terminating empty name. */
        size_t max = sizeof r->buf - (size_t)gl - 1, pos = 0;
        bool end = true;
        for (size_t i = 0; i < n->n_children; i++) {
                const char *name = n->children[i]->name;
                size_t l = strlen(name) + 1;
                if (pos + l <= off) {
                        pos += l;
                        continue;
                }
                size_t skip = pos < off ? off - pos : 0;
                if (r->len - (size_t)gl + l - skip > max) {
                        end = false;
                        break;
                }
                memcpy(r->buf + r->len, name + skip, l - skip);
                r->len += l - skip;
                pos += l;
        }
        if (end)
                r->buf[r->len++] = 0;
        return 0;
}

static int op_get_perms(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        char path[PATH_BUF];
        struct xsd_node *n;
        int e;
        if ((e = one_arg(p, len, &arg)) < 0 || (e = resolve(x, arg, true, path, NULL)) < 0)
                return e;
        if (path[0] == '@')
                return reply_str(r, "n0");
        if ((e = access_node(x, path, XSD_PERM_READ, &n)) < 0)
                return e;
        r->len = 0;
        for (size_t i = 0; i < n->n_perms; i++) {
                char s[16];
                int l = snprintf(s, sizeof s, "%c%u", n->perms[i].letter, n->perms[i].domid) + 1;
                if (r->len + (size_t)l > sizeof r->buf)
                        return -E2BIG;
                memcpy(r->buf + r->len, s, (size_t)l);
                r->len += (size_t)l;
        }
        return 0;
}

static int op_set_perms(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *a[XS_PAYLOAD_MAX / 2];
        struct xsd_perm perms[XS_PAYLOAD_MAX / 2];
        char path[PATH_BUF];
        struct xsd_node *n;
        int e, na = xs_split_strings(p, len, a, ELEMENTSOF(a));
        if (na < 2)
                return -EINVAL;
        size_t np = (size_t)na - 1;
        for (size_t i = 0; i < np; i++)
                if ((e = xsd_perm_parse(a[i + 1], &perms[i])) < 0)
                        return e;
        if ((e = resolve(x, a[0], true, path, NULL)) < 0)
                return e;
        if (path[0] == '@')
                return x->priv ? reply_ok(r) : -EACCES;
        if (!x->priv && np > XSD_PERMS_MAX)
                return -ENOSPC;
        if ((e = access_node(x, path, XSD_PERM_WRITE | XSD_PERM_OWNER, &n)) < 0)
                return e;
        if (!x->priv && perms[0].domid != n->perms[0].domid)
                return -EPERM;
        if ((e = xsd_node_set_perms(x->store, n, perms, np)) < 0)
                return e;
        if (x->txn) {
                const uint8_t *rest = (const uint8_t *)a[1];
                e = log_op(x, XS_SET_PERMS, path, rest, len - (size_t)(rest - p));
        } else {
                xsd_watch_fire(x->srv, path, false);
        }
        return e < 0 ? e : reply_ok(r);
}

static int op_watch(struct xsd_ctx *x, uint32_t type, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *a[3];
        char path[PATH_BUF];
        bool relative;
        int e, na = xs_split_strings(p, len, a, ELEMENTSOF(a));
        /* A third string would be a depth: only valid with WATCHDEPTH, which we do not offer. */
        if (na != 2)
                return -EINVAL;
        if ((e = resolve(x, a[0], true, path, &relative)) < 0)
                return e;
        if (type == XS_UNWATCH) {
                if ((e = xsd_watch_remove(x->conn, path, a[1])) < 0)
                        return e;
                return reply_ok(r);
        }
        if ((e = xsd_watch_add(x->conn, path, a[1], relative)) < 0)
                return e;
        for (r->initial = x->conn->watches; r->initial->next;)
                r->initial = r->initial->next;
        return reply_ok(r);
}

static int op_transaction_start(struct xsd_ctx *x, struct xsd_reply *r) {
        uint32_t id;
        int e = xsd_txn_start(x->conn, &id);
        if (e < 0)
                return e;
        char s[16];
        snprintf(s, sizeof s, "%u", id);
        return reply_str(r, s);
}

static int op_transaction_end(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        int e;
        if ((e = one_arg(p, len, &arg)) < 0)
                return e;
        if (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0)
                return -EINVAL;
        if (!x->txn)
                return -ENOENT;
        struct xsd_txn *t = TAKE_PTR(x->txn);
        if ((e = xsd_txn_end(x->conn, t, arg[0] == 'T')) < 0)
                return e;
        return reply_ok(r);
}

static int op_domid_arg(struct xsd_ctx *x, uint32_t type, const uint8_t *p, size_t len, struct xsd_reply *r) {
        const char *arg;
        uint32_t domid;
        int e;
        if (type == XS_IS_DOMAIN_INTRODUCED && !x->priv)
                return -EACCES;
        if ((e = one_arg(p, len, &arg)) < 0 || (e = parse_domid(arg, &domid)) < 0)
                return e;
        if (type == XS_IS_DOMAIN_INTRODUCED)
                return reply_str(r, domid == 0 || xsd_server_has_domid(x->srv, domid) ? "T" : "F");
        char home[32];
        home_of(domid, home, sizeof home);
        return reply_str(r, home);
}

static int op_get_feature(struct xsd_ctx *x, const uint8_t *p, size_t len, struct xsd_reply *r) {
        /* Own features: no payload (or one empty string); a domid form is privileged. */
        if (len > 1 || (len == 1 && p[0] != 0)) {
                const char *arg;
                uint32_t domid;
                int e;
                if (!x->priv)
                        return -EACCES;
                if ((e = one_arg(p, len, &arg)) < 0 || (e = parse_domid(arg, &domid)) < 0)
                        return e;
        }
        return reply_str(r, "0");
}

int xsd_op(struct xsd_ctx *x, uint32_t type, const uint8_t *p, size_t len, struct xsd_reply *r) {
        r->len = 0;
        r->initial = NULL;
        switch (type) {
        case XS_READ:
                return op_read(x, p, len, r);
        case XS_WRITE:
                return op_write(x, p, len, r);
        case XS_MKDIR:
                return op_mkdir(x, p, len, r);
        case XS_RM:
                return op_rm(x, p, len, r);
        case XS_DIRECTORY:
                return op_directory(x, p, len, r);
        case XS_DIRECTORY_PART:
                return op_directory_part(x, p, len, r);
        case XS_GET_PERMS:
                return op_get_perms(x, p, len, r);
        case XS_SET_PERMS:
                return op_set_perms(x, p, len, r);
        case XS_WATCH:
        case XS_UNWATCH:
                return op_watch(x, type, p, len, r);
        case XS_TRANSACTION_START:
                return op_transaction_start(x, r);
        case XS_TRANSACTION_END:
                return op_transaction_end(x, p, len, r);
        case XS_GET_DOMAIN_PATH:
        case XS_IS_DOMAIN_INTRODUCED:
                return op_domid_arg(x, type, p, len, r);
        case XS_RESET_WATCHES:
                xsd_watch_free_all(x->conn);
                xsd_txn_free_all(x->conn);
                x->txn = NULL;
                return reply_ok(r);
        case XS_GET_FEATURE:
                return op_get_feature(x, p, len, r);
        case XS_INTRODUCE:
        case XS_RELEASE:
        case XS_RESUME:
        case XS_SET_TARGET:
        case XS_SET_FEATURE:
                /* Toolstack calls: nothing to simulate, but dom0 tools expect them to work. */
                return x->priv ? reply_ok(r) : -EACCES;
        case XS_CONTROL:
        case XS_GET_QUOTA:
        case XS_SET_QUOTA:
                return x->priv ? -ENOSYS : -EACCES;
        default:
                return -ENOSYS;
        }
}
