/* The node tree and its permission model (spec §1.6, §10.3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/macro.h"
#include "xs-server.h"

static struct xsd_node *node_free(struct xsd_node *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                node_free(n->children[i]);
        free(n->children);
        free(n->name);
        free(n->value);
        free(n->perms);
        free(n);
        return NULL;
}

static struct xsd_node *node_new(const char *name, size_t len, const struct xsd_perm *p, size_t np) {
        struct xsd_node *n = calloc(1, sizeof *n);
        if (!n)
                return NULL;
        n->name = strndup(name, len);
        n->perms = malloc(np * sizeof *p);
        if (!n->name || !n->perms)
                return node_free(n);
        memcpy(n->perms, p, np * sizeof *p);
        n->n_perms = np;
        return n;
}

struct xsd_store *xsd_store_new(void) {
        static const struct xsd_perm root_perm = { 'n', 0 };
        struct xsd_store *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->root = node_new("", 0, &root_perm, 1);
        if (!s->root) {
                free(s);
                return NULL;
        }
        return s;
}

struct xsd_store *xsd_store_free(struct xsd_store *s) {
        if (!s)
                return NULL;
        node_free(s->root);
        free(s);
        return NULL;
}

static struct xsd_node *node_dup(const struct xsd_node *o, struct xsd_node *parent) {
        struct xsd_node *n = node_new(o->name, strlen(o->name), o->perms, o->n_perms);
        if (!n)
                return NULL;
        n->parent = parent;
        n->gen = o->gen;
        if (o->value_len) {
                n->value = malloc(o->value_len);
                if (!n->value)
                        return node_free(n);
                memcpy(n->value, o->value, o->value_len);
                n->value_len = o->value_len;
        }
        if (o->n_children) {
                n->children = calloc(o->n_children, sizeof *n->children);
                if (!n->children)
                        return node_free(n);
                n->cap_children = o->n_children;
                for (size_t i = 0; i < o->n_children; i++) {
                        n->children[i] = node_dup(o->children[i], n);
                        if (!n->children[i])
                                return node_free(n);
                        n->n_children++;
                }
        }
        return n;
}

struct xsd_store *xsd_store_dup(const struct xsd_store *o) {
        struct xsd_store *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->gen = o->gen;
        s->root = node_dup(o->root, NULL);
        if (!s->root) {
                free(s);
                return NULL;
        }
        return s;
}

struct xsd_node *xsd_node_child(const struct xsd_node *n, const char *name, size_t len) {
        for (size_t i = 0; i < n->n_children; i++)
                if (strlen(n->children[i]->name) == len && memcmp(n->children[i]->name, name, len) == 0)
                        return n->children[i];
        return NULL;
}

struct xsd_node *xsd_store_lookup(const struct xsd_store *s, const char *path) {
        if (path[0] != '/')
                return NULL;
        struct xsd_node *n = s->root;
        const char *p = path + 1;
        while (n && *p) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t)(slash - p) : strlen(p);
                n = xsd_node_child(n, p, len);
                p += len;
                if (*p == '/')
                        p++;
        }
        return n;
}

int xsd_node_set_value(struct xsd_store *s, struct xsd_node *n, const void *v, size_t len) {
        uint8_t *copy = NULL;
        if (len) {
                copy = malloc(len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, v, len);
        }
        free(n->value);
        n->value = copy;
        n->value_len = len;
        n->gen = ++s->gen;
        return 0;
}

int xsd_node_set_perms(struct xsd_store *s, struct xsd_node *n, const struct xsd_perm *p, size_t np) {
        struct xsd_perm *copy = malloc(np * sizeof *p);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, p, np * sizeof *p);
        free(n->perms);
        n->perms = copy;
        n->n_perms = np;
        n->gen = ++s->gen;
        return 0;
}

struct xsd_node *xsd_node_add(struct xsd_store *s, struct xsd_node *parent, const char *name,
                              size_t len, const struct xsd_perm *p, size_t np) {
        if (parent->n_children == parent->cap_children) {
                size_t cap = MAX(parent->cap_children * 2, (size_t)4);
                struct xsd_node **c = realloc(parent->children, cap * sizeof *c);
                if (!c)
                        return NULL;
                parent->children = c;
                parent->cap_children = cap;
        }
        struct xsd_node *n = node_new(name, len, p, np);
        if (!n)
                return NULL;
        n->parent = parent;
        parent->children[parent->n_children++] = n;
        /* A new child changes the parent's DIRECTORY: transactions that listed it conflict. */
        parent->gen = n->gen = ++s->gen;
        return n;
}

void xsd_node_remove(struct xsd_store *s, struct xsd_node *n) {
        struct xsd_node *parent = n->parent;
        if (!parent)
                return; /* the root stays */
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i] == n) {
                        memmove(parent->children + i, parent->children + i + 1,
                                (parent->n_children - i - 1) * sizeof *parent->children);
                        parent->n_children--;
                        break;
                }
        parent->gen = ++s->gen;
        node_free(n);
}

unsigned xsd_perm_for(const struct xsd_node *n, uint32_t domid, bool priv) {
        if (priv || n->perms[0].domid == domid)
                return XSD_PERM_READ | XSD_PERM_WRITE | XSD_PERM_OWNER;
        char letter = n->perms[0].letter;
        for (size_t i = 1; i < n->n_perms; i++)
                if (n->perms[i].domid == domid) {
                        letter = n->perms[i].letter;
                        break;
                }
        switch (letter) {
        case 'r':
                return XSD_PERM_READ;
        case 'w':
                return XSD_PERM_WRITE;
        case 'b':
                return XSD_PERM_READ | XSD_PERM_WRITE;
        default:
                return 0;
        }
}

static size_t count_owned(const struct xsd_node *n, uint32_t domid) {
        size_t c = n->perms[0].domid == domid;
        for (size_t i = 0; i < n->n_children; i++)
                c += count_owned(n->children[i], domid);
        return c;
}

size_t xsd_store_count_owned(const struct xsd_store *s, uint32_t domid) {
        return count_owned(s->root, domid);
}

int xsd_perm_parse(const char *str, struct xsd_perm *ret) {
        if (!strchr("nrwb", str[0]) || str[0] == 0)
                return -EINVAL;
        /* Plain decimal only; libxenstore emits nothing else and a domid fits 16 bits. */
        const char *d = str + 1;
        if (*d == 0 || strlen(d) > 5)
                return -EINVAL;
        uint32_t v = 0;
        for (; *d; d++) {
                if (*d < '0' || *d > '9')
                        return -EINVAL;
                v = v * 10 + (uint32_t)(*d - '0');
        }
        if (v > 65535)
                return -EINVAL;
        ret->letter = str[0];
        ret->domid = v;
        return 0;
}

int xsd_store_put(struct xsd_store *s, const char *path, const char *value,
                  const struct xsd_perm *p, size_t np) {
        struct xsd_node *n = s->root;
        const char *c = path + 1;
        while (*c) {
                const char *slash = strchr(c, '/');
                size_t len = slash ? (size_t)(slash - c) : strlen(c);
                struct xsd_node *child = xsd_node_child(n, c, len);
                if (!child) {
                        child = xsd_node_add(s, n, c, len, n->perms, n->n_perms);
                        if (!child)
                                return -ENOMEM;
                }
                n = child;
                c += len;
                if (*c == '/')
                        c++;
        }
        if (value && xsd_node_set_value(s, n, value, strlen(value)) < 0)
                return -ENOMEM;
        if (p && xsd_node_set_perms(s, n, p, np) < 0)
                return -ENOMEM;
        return 0;
}
