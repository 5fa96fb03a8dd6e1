/* The collector's view of the netns: links and their addresses, kept from one dump plus
 * events, bounded by the caps in net_table_options. */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net_table.h"
#include "pvic/log.h"

int net_table_new(struct net_table **ret, const struct net_table_options *o) {
        struct net_table *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->o = o ? *o : (struct net_table_options) NET_TABLE_OPTIONS_DEFAULT;
        if (t->o.max_links == 0)
                t->o.max_links = NET_LINKS_MAX_DEFAULT;
        if (t->o.max_addrs_per_link == 0)
                t->o.max_addrs_per_link = NET_ADDRS_PER_LINK_MAX_DEFAULT;
        *ret = t;
        return 0;
}

static void link_free(struct net_link *l) {
        if (!l)
                return;
        free(l->addrs);
        net_slots_done(&l->slots[0]);
        net_slots_done(&l->slots[1]);
        free(l);
}

struct net_table *net_table_free(struct net_table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_links; i++)
                link_free(t->links[i]);
        free(t->links);
        free(t);
        return NULL;
}

size_t net_table_n_links(const struct net_table *t) {
        return t->n_links;
}

struct net_link *net_table_find(const struct net_table *t, int ifindex, size_t *ret_pos) {
        size_t lo = 0, hi = t->n_links;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int k = t->links[mid]->info.ifindex;
                if (k == ifindex) {
                        if (ret_pos)
                                *ret_pos = mid;
                        return t->links[mid];
                }
                if (k < ifindex)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (ret_pos)
                *ret_pos = lo;
        return NULL;
}

/* Field by field: padding bytes in these structs are not ours to compare. */
static bool link_info_equal(const struct net_link_info *a, const struct net_link_info *b) {
        return a->ifindex == b->ifindex && a->flags == b->flags && a->type == b->type &&
               strcmp(a->name, b->name) == 0 && a->mac_len == b->mac_len &&
               memcmp(a->mac, b->mac, a->mac_len) == 0 && a->master == b->master &&
               a->link == b->link && strcmp(a->kind, b->kind) == 0 && a->parent == b->parent &&
               a->parent_vif == b->parent_vif;
}

static bool addr_info_equal(const struct net_addr_info *a, const struct net_addr_info *b) {
        return a->ifindex == b->ifindex && a->family == b->family && a->prefixlen == b->prefixlen &&
               a->scope == b->scope && a->flags == b->flags && memcmp(a->addr, b->addr, 16) == 0;
}

static int link_new(struct net_table *t, const struct net_link_info *info) {
        size_t pos;
        struct net_link *l = net_table_find(t, info->ifindex, &pos);

        /* Only kernels that report bus devices report one; from then on a link without
         * one has none. */
        if (info->parent)
                t->parents_reported = true;
        if (l) {
                /* A rename invalidates what sysfs told us about the old name, a new bus
                 * device what rtnetlink told us about the old one. */
                bool reclassify = (info->name[0] && strcmp(info->name, l->info.name) != 0) ||
                                  info->parent != l->info.parent || info->parent_vif != l->info.parent_vif;
                struct net_link_info next = *info;
                if (!next.name[0])
                        memcpy(next.name, l->info.name, sizeof next.name);
                l->stale = false;
                if (link_info_equal(&next, &l->info))
                        return 0;
                l->info = next;
                if (reclassify)
                        l->classified = false;
                return 1;
        }

        if (t->n_links >= t->o.max_links) {
                if (!t->links_capped_warned)
                        log_warning("More than %u network links; ignoring the rest.", t->o.max_links);
                t->links_capped_warned = true;
                return 0;
        }
        if (!info->name[0])
                return 0;       /* nothing to classify it by; the kernel always names links */
        if (t->n_links == t->cap_links) {
                size_t cap = MAX((size_t) 16, t->cap_links * 2);
                struct net_link **v = realloc(t->links, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                t->links = v;
                t->cap_links = cap;
        }
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->info = *info;
        memmove(t->links + pos + 1, t->links + pos, (t->n_links - pos) * sizeof *t->links);
        t->links[pos] = l;
        t->n_links++;
        return 1;
}

static int link_del(struct net_table *t, int ifindex) {
        size_t pos;
        struct net_link *l = net_table_find(t, ifindex, &pos);
        if (!l)
                return 0;
        link_free(l);
        memmove(t->links + pos, t->links + pos + 1, (t->n_links - pos - 1) * sizeof *t->links);
        t->n_links--;
        if (t->n_links < t->o.max_links)
                t->links_capped_warned = false;
        return 1;
}

static struct net_entry *addr_find(struct net_link *l, const struct net_addr_info *a) {
        for (unsigned i = 0; i < l->n_addrs; i++)
                if (l->addrs[i].a.family == a->family && memcmp(l->addrs[i].a.addr, a->addr, 16) == 0)
                        return &l->addrs[i];
        return NULL;
}

static int addr_new(struct net_table *t, const struct net_addr_info *a) {
        struct net_link *l = net_table_find(t, a->ifindex, NULL);
        if (!l)
                return 0;       /* a capped link, or the NEWLINK is still to come in a dump */

        struct net_entry *e = addr_find(l, a);
        if (e) {
                e->stale = false;
                if (addr_info_equal(&e->a, a))
                        return 0;
                e->a = *a;
                return 1;
        }
        if (l->n_addrs >= t->o.max_addrs_per_link) {
                if (!l->capped_warned)
                        log_warning("Link %s has more than %u addresses; ignoring the rest.",
                                    l->info.name, t->o.max_addrs_per_link);
                l->capped_warned = true;
                return 0;
        }
        if (l->n_addrs == l->cap_addrs) {
                unsigned cap = MAX(2u, l->cap_addrs * 2);
                struct net_entry *v = realloc(l->addrs, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                l->addrs = v;
                l->cap_addrs = cap;
        }
        l->addrs[l->n_addrs++] = (struct net_entry) { .a = *a };
        return 1;
}

static int addr_del(struct net_table *t, const struct net_addr_info *a) {
        struct net_link *l = net_table_find(t, a->ifindex, NULL);
        if (!l)
                return 0;
        struct net_entry *e = addr_find(l, a);
        if (!e)
                return 0;
        *e = l->addrs[--l->n_addrs];
        l->capped_warned = false;
        return 1;
}

int net_table_apply(struct net_table *t, const struct net_msg *m) {
        switch (m->type) {
        case RTM_NEWLINK:
                return link_new(t, &m->link);
        case RTM_DELLINK:
                return link_del(t, m->link.ifindex);
        case RTM_NEWADDR:
                return addr_new(t, &m->addr);
        case RTM_DELADDR:
                return addr_del(t, &m->addr);
        }
        return 0;
}

void net_table_mark_links(struct net_table *t) {
        /* The class stays: a link's bus device is fixed from creation, and a new link
         * behind a reused ifindex has a new name, which reclassifies it. */
        for (size_t i = 0; i < t->n_links; i++)
                t->links[i]->stale = true;
}

int net_table_sweep_links(struct net_table *t) {
        /* One compaction pass: a re-dump after thousands of links went must not move the
         * array once per link. */
        size_t kept = 0;
        for (size_t i = 0; i < t->n_links; i++) {
                if (t->links[i]->stale)
                        link_free(t->links[i]);
                else
                        t->links[kept++] = t->links[i];
        }
        if (kept == t->n_links)
                return 0;
        t->n_links = kept;
        if (t->n_links < t->o.max_links)
                t->links_capped_warned = false;
        return 1;
}

void net_table_mark_addrs(struct net_table *t) {
        for (size_t i = 0; i < t->n_links; i++)
                for (unsigned j = 0; j < t->links[i]->n_addrs; j++)
                        t->links[i]->addrs[j].stale = true;
}

int net_table_sweep_addrs(struct net_table *t) {
        int changed = 0;
        for (size_t i = 0; i < t->n_links; i++) {
                struct net_link *l = t->links[i];
                for (unsigned j = l->n_addrs; j > 0; j--)
                        if (l->addrs[j - 1].stale) {
                                l->addrs[j - 1] = l->addrs[--l->n_addrs];
                                changed = 1;
                        }
        }
        return changed;
}
