/* KVP on Xen (docs/xenstore-keys.md): pool 0 mirrors what the host writes under
 * vm-data/pvic/kvp/, pool 1 is published under data/pvic/kvp/, keys escaped. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pvic/kvp_store.h"
#include "pvic/log.h"
#include "pvic/xs_escape.h"
#include "pvic/xs_wire.h"
#include "xen_kvp.h"

#define HOST_DIR "vm-data/pvic/kvp"
#define GUEST_DIR "data/pvic/kvp"
#define ESCAPED_MAX (3 * KVP_KEY_SIZE + 1)
/* A host listing larger than this is read only in part (and logged): bounded memory. */
#define HOST_KEYS_MAX 1024u
#define BATCH_OPS 256u

struct read_ctx {
        struct xen_kvp *k;
        char key[KVP_KEY_SIZE];
};

static void seen_add(struct xen_kvp *k, const char *key) {
        if (!k->syncing || k->n_seen >= HOST_KEYS_MAX)
                return;
        char *copy = strdup(key);
        if (copy)
                k->seen[k->n_seen++] = copy;
}

static bool seen_has(const struct xen_kvp *k, const char *key) {
        for (size_t i = 0; i < k->n_seen; i++)
                if (strcmp(k->seen[i], key) == 0)
                        return true;
        return false;
}

static void seen_clear(struct xen_kvp *k) {
        for (size_t i = 0; i < k->n_seen; i++)
                free(k->seen[i]);
        k->n_seen = 0;
}

static void sync_finish(struct xen_kvp *k) {
        /* Keys the host no longer has leave pool 0; walk backwards since deletes shift. */
        int64_t n = kvp_count(k->d->kvp, 0);
        for (int64_t i = n - 1; i >= 0; i--) {
                const char *key;
                if (kvp_enumerate(k->d->kvp, 0, (size_t)i, &key, NULL) < 0 || seen_has(k, key))
                        continue;
                char copy[KVP_KEY_SIZE];
                snprintf(copy, sizeof copy, "%s", key);
                int r = kvp_delete(k->d->kvp, 0, copy);
                if (r < 0)
                        log_warning_errno(r, "xen kvp: cannot drop %s from pool 0: %m", copy);
        }
        seen_clear(k);
        k->syncing = false;
        if (k->sync_again) {
                k->sync_again = false;
                xen_kvp_host_changed(k, HOST_DIR);
        }
}

static void apply_host_value(struct xen_kvp *k, const char *key, const struct xs_reply *r) {
        if (r->error == ENOENT) {
                int q = kvp_delete(k->d->kvp, 0, key);
                if (q < 0 && q != -ENOENT)
                        log_warning_errno(q, "xen kvp: cannot delete %s: %m", key);
                return;
        }
        if (r->error) {
                log_warning_errno(r->error, "xen kvp: cannot read host key %s: %m", key);
                return;
        }
        char value[KVP_VALUE_SIZE];
        if (r->len >= sizeof value || memchr(r->payload, 0, r->len)) {
                log_warning("xen kvp: host value of %s is too long or holds a NUL byte; ignored", key);
                return;
        }
        memcpy(value, r->payload, r->len);
        value[r->len] = 0;
        const char *old;
        if (kvp_get(k->d->kvp, 0, key, &old) == 0 && strcmp(old, value) == 0)
                return;
        int q = kvp_set(k->d->kvp, 0, key, value);
        if (q < 0)
                log_warning_errno(q, "xen kvp: cannot store host key %s: %m", key);
}

static void on_host_read(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct read_ctx *ctx = userdata;
        struct xen_kvp *k = ctx->k;
        if (r->error != ECONNRESET && r->error != ECANCELED && k->d->kvp) {
                seen_add(k, ctx->key);
                apply_host_value(k, ctx->key, r);
        }
        free(ctx);
        if (k->syncing && --k->sync_outstanding == 0) {
                if (r->error == ECONNRESET || r->error == ECANCELED) {
                        seen_clear(k);
                        k->syncing = false;
                } else
                        sync_finish(k);
        }
}

static int read_host_key(struct xen_kvp *k, const char *name) {
        struct read_ctx *ctx = calloc(1, sizeof *ctx);
        if (!ctx)
                return -ENOMEM;
        ctx->k = k;
        if (xs_key_unescape(name, ctx->key, sizeof ctx->key) < 0) {
                log_warning("xen kvp: host key '%s' is not a pvic-escaped name; ignored", name);
                free(ctx);
                return -EINVAL;
        }
        char path[sizeof HOST_DIR + ESCAPED_MAX + 1];
        snprintf(path, sizeof path, HOST_DIR "/%s", name);
        int r = xs_read(k->xs, path, on_host_read, ctx);
        if (r < 0)
                free(ctx);
        return r;
}

static void on_host_listing(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xen_kvp *k = userdata;
        if (r->error == ECONNRESET || r->error == ECANCELED) {
                k->syncing = false;
                return;
        }
        if (!k->d->kvp) {
                k->syncing = false;
                return;
        }
        const char *names[HOST_KEYS_MAX];
        int n = 0;
        if (!r->error && r->len > 0) {
                n = xs_split_strings(r->payload, r->len, names, ELEMENTSOF(names));
                if (n == -E2BIG)
                        log_warning("xen kvp: more than %u host keys; the rest are ignored", HOST_KEYS_MAX);
                if (n < 0)
                        n = 0;
        } else if (r->error && r->error != ENOENT)
                log_warning_errno(r->error, "xen kvp: cannot list " HOST_DIR ": %m");
        k->sync_outstanding = 1; /* held while reads are queued */
        for (int i = 0; i < n; i++)
                if (read_host_key(k, names[i]) == 0)
                        k->sync_outstanding++;
        if (--k->sync_outstanding == 0)
                sync_finish(k);
}

void xen_kvp_host_changed(struct xen_kvp *k, const char *path) {
        if (!k->d->kvp)
                return;
        size_t dl = strlen(HOST_DIR);
        if (strncmp(path, HOST_DIR, dl) != 0 || (path[dl] != 0 && path[dl] != '/'))
                return;
        if (path[dl] == '/' && !strchr(path + dl + 1, '/')) {
                /* One key changed. */
                if (k->syncing) {
                        char key[KVP_KEY_SIZE];
                        if (xs_key_unescape(path + dl + 1, key, sizeof key) >= 0)
                                seen_add(k, key);
                }
                read_host_key(k, path + dl + 1);
                return;
        }
        if (path[dl] != 0)
                return; /* deeper than a key: not ours */
        /* The directory itself: initial fire, resume, or removal of the whole tree. */
        if (k->syncing) {
                k->sync_again = true;
                return;
        }
        if (xs_request(k->xs, XS_DIRECTORY, 0, HOST_DIR, sizeof HOST_DIR, on_host_listing, k) == 0)
                k->syncing = true;
}

static void on_guest_write(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        if (r->error && r->error != ECONNRESET && r->error != ECANCELED)
                log_warning_errno(r->error, "xen kvp: publishing a pool 1 item failed: %m%s",
                                  r->error == ENOSPC || r->error == E2BIG ? " (xenstore quota)" : "");
}

static void on_batch_done(struct xs_client *c, int error, void *userdata) {
        if (error && error != ECONNRESET && error != ECANCELED)
                log_warning_errno(error, "xen kvp: republishing pool 1 failed: %m");
}

static void on_store_change(struct kvp_store *s, unsigned pool, const char *key, const char *value, void *userdata) {
        struct xen_kvp *k = userdata;
        if (pool != 1 || !k->xs || !xs_client_is_connected(k->xs))
                return;
        char esc[ESCAPED_MAX], path[sizeof GUEST_DIR + ESCAPED_MAX + 1];
        if (xs_key_escape(key, esc, sizeof esc) < 0)
                return;
        snprintf(path, sizeof path, GUEST_DIR "/%s", esc);
        int r = value ? xs_write(k->xs, 0, path, value, on_guest_write, k)
                      : xs_request(k->xs, XS_RM, 0, path, strlen(path) + 1, on_guest_write, k);
        if (r < 0)
                log_warning_errno(r, "xen kvp: cannot publish %s: %m", key);
}

void xen_kvp_republish(struct xen_kvp *k) {
        if (!k->d->kvp || !xs_client_is_connected(k->xs))
                return;
        kvp_refresh(k->d->kvp, 1);
        int64_t n = kvp_count(k->d->kvp, 1);
        /* Escaped names live in one buffer per batch; the first batch also clears what a
         * previous run left behind. */
        static char names[BATCH_OPS][ESCAPED_MAX + sizeof GUEST_DIR + 1];
        struct xs_op ops[BATCH_OPS];
        size_t n_ops = 0;
        ops[n_ops++] = (struct xs_op){ XS_OP_RM, GUEST_DIR, NULL };
        for (int64_t i = 0; i < n; i++) {
                const char *key, *value;
                char esc[ESCAPED_MAX];
                if (kvp_enumerate(k->d->kvp, 1, (size_t)i, &key, &value) < 0 ||
                    xs_key_escape(key, esc, sizeof esc) < 0)
                        continue;
                snprintf(names[n_ops], sizeof names[n_ops], GUEST_DIR "/%s", esc);
                ops[n_ops] = (struct xs_op){ XS_OP_WRITE, names[n_ops], value };
                n_ops++;
                if (n_ops == BATCH_OPS) {
                        /* xs_batch copies the ops, so the buffers can be reused at once. */
                        if (xs_batch(k->xs, ops, n_ops, on_batch_done, k) < 0)
                                log_warning("xen kvp: cannot queue the pool 1 republish");
                        n_ops = 0;
                }
        }
        if (n_ops && xs_batch(k->xs, ops, n_ops, on_batch_done, k) < 0)
                log_warning("xen kvp: cannot queue the pool 1 republish");
}

int xen_kvp_init(struct xen_kvp *k, struct pvicd *d, struct xs_client *xs, xs_watch_fn on_host_event) {
        *k = (struct xen_kvp){ .d = d, .xs = xs };
        if (!d->kvp)
                return 0;
        int r = kvp_subscribe(d->kvp, on_store_change, k);
        if (r < 0)
                return r;
        return xs_watch_add(xs, HOST_DIR, on_host_event, k);
}

void xen_kvp_done(struct xen_kvp *k) {
        if (k->d && k->d->kvp)
                kvp_unsubscribe(k->d->kvp, on_store_change, k);
        seen_clear(k);
}
