/* Watches (spec §1.7, §10.5): registration per connection, matching, delivery. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "xs-server.h"

static struct xsd_watch *watch_free(struct xsd_watch *w) {
        if (w) {
                free(w->path);
                free(w->token);
                free(w);
        }
        return NULL;
}

int xsd_watch_add(struct xsd_conn *c, const char *path, const char *token, bool relative) {
        for (struct xsd_watch *w = c->watches; w; w = w->next)
                if (strcmp(w->path, path) == 0 && strcmp(w->token, token) == 0)
                        return -EEXIST;
        size_t limit = c->priv ? XSD_PRIV_WATCH_MAX : c->srv->cfg.quota_watches;
        size_t used = c->priv ? c->n_watches : xsd_watch_count_domain(c->srv, c->domid);
        if (used >= limit)
                return -ENOSPC;
        struct xsd_watch *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->path = strdup(path);
        w->token = strdup(token);
        if (!w->path || !w->token) {
                watch_free(w);
                return -ENOMEM;
        }
        w->relative = relative;
        /* Append: watches fire in registration order, like xenstored's list. */
        struct xsd_watch **tail = &c->watches;
        while (*tail)
                tail = &(*tail)->next;
        *tail = w;
        c->n_watches++;
        return 0;
}

int xsd_watch_remove(struct xsd_conn *c, const char *path, const char *token) {
        for (struct xsd_watch **p = &c->watches; *p; p = &(*p)->next)
                if (strcmp((*p)->path, path) == 0 && strcmp((*p)->token, token) == 0) {
                        struct xsd_watch *w = *p;
                        *p = w->next;
                        watch_free(w);
                        c->n_watches--;
                        return 0;
                }
        return -ENOENT;
}

void xsd_watch_free_all(struct xsd_conn *c) {
        while (c->watches) {
                struct xsd_watch *w = c->watches;
                c->watches = w->next;
                watch_free(w);
        }
        c->n_watches = 0;
}

/* Quotas count per domain: several connections of one guest share them, as the kernel's
 * and user space's watches share one ring connection on real Xen. */
size_t xsd_watch_count_domain(const struct xsd_server *srv, uint32_t domid) {
        size_t n = 0;
        for (const struct xsd_conn *c = srv->conns; c; c = c->next)
                if (!c->priv && c->domid == domid)
                        n += c->n_watches;
        return n;
}

void xsd_watch_queue_event(struct xsd_conn *c, const struct xsd_watch *w, const char *path) {
        const char *epath = path;
        if (w->relative) {
                char home[32];
                int hl = snprintf(home, sizeof home, "/local/domain/%u/", c->domid);
                if (strncmp(path, home, (size_t)hl) == 0 && path[hl])
                        epath = path + hl;
        }
        size_t pl = strlen(epath) + 1, tl = strlen(w->token) + 1;
        /* xenstored drops an event that does not fit one message rather than the client. */
        if (pl + tl > XS_PAYLOAD_MAX)
                return;
        uint8_t buf[XS_PAYLOAD_MAX];
        memcpy(buf, epath, pl);
        memcpy(buf + pl, w->token, tl);
        (void)xsd_conn_queue(c, XS_WATCH_EVENT, 0, 0, buf, pl + tl);
}

static bool is_below(const char *wpath, const char *path) {
        if (strcmp(wpath, "/") == 0)
                return path[0] == '/';
        size_t wl = strlen(wpath);
        return strncmp(wpath, path, wl) == 0 && path[wl] == '/';
}

static bool may_see(const struct xsd_server *srv, const struct xsd_conn *c, const char *path) {
        if (c->priv)
                return true;
        const struct xsd_node *n = xsd_store_lookup(srv->store, path);
        if (!n)
                return false;
        if (xsd_perm_for(n, c->domid, false) & XSD_PERM_READ)
                return true;
        return n->parent && (xsd_perm_for(n->parent, c->domid, false) & XSD_PERM_READ);
}

void xsd_watch_fire(struct xsd_server *srv, const char *path, bool exact) {
        for (struct xsd_conn *c = srv->conns; c; c = c->next) {
                if (c->dead)
                        continue;
                bool checked = false, visible = false;
                for (struct xsd_watch *w = c->watches; w; w = w->next) {
                        if (strcmp(w->path, path) != 0 && (exact || !is_below(w->path, path)))
                                continue;
                        if (!checked) {
                                visible = may_see(srv, c, path);
                                checked = true;
                        }
                        if (visible)
                                xsd_watch_queue_event(c, w, path);
                }
        }
}
