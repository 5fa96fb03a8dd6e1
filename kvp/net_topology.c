/* From the link table to a snapshot: which links are virtual NICs (sysfs, never names),
 * which NIC each address belongs to (walking down from upper devices), and each
 * address's stable slot. docs/network.md has the rules. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net_table.h"
#include "pvic/log.h"

/* Bridges, bonds and other masters reach their NIC through their ports (IFLA_MASTER);
 * these kinds sit on one lower device named by IFLA_LINK. veth is deliberately absent:
 * its IFLA_LINK is its peer, which is beside it, not below it. */
static const char *const stacked_kinds[] = {
        "vlan", "macvlan", "macvtap", "ipvlan", "ipvtap", "macsec",
};

#define WALK_DEPTH_MAX 8

static bool is_stacked(const char *kind) {
        for (size_t i = 0; i < ELEMENTSOF(stacked_kinds); i++)
                if (strcmp(kind, stacked_kinds[i]) == 0)
                        return true;
        return false;
}

static bool is_loopback(const struct net_link *l) {
        return (l->info.flags & IFF_LOOPBACK) || l->info.type == ARPHRD_LOOPBACK;
}

static int fam_index(uint8_t family) {
        return family == AF_INET6 ? 1 : 0;
}

static bool addr_reportable(const struct net_table *t, const struct net_addr_info *a) {
        /* Not yet (or never) usable: DAD still running or failed. */
        if (a->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
                return false;
        if (a->scope == RT_SCOPE_HOST || a->scope == RT_SCOPE_NOWHERE)
                return false;
        if (a->family == AF_INET) {
                if (a->addr[0] == 127 || (a->addr[0] == 0 && a->addr[1] == 0 && a->addr[2] == 0 && a->addr[3] == 0))
                        return false;
                /* 169.254/16 is link-local: unreachable from the host's management network,
                 * and it would become XAPI's "<devid>/ip" if it took slot 0. */
                if (a->addr[0] == 169 && a->addr[1] == 254)
                        return false;
                return true;
        }
        static const uint8_t loopback6[16] = { [15] = 1 };
        if (memcmp(a->addr, loopback6, 16) == 0)
                return false;
        if (a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80)
                return t->o.ipv6_link_local;
        return true;
}

/* Lower is better: Xen vifs by devid, then netvsc, then other NICs, by ifindex. */
static int nic_cmp(const struct net_link *a, const struct net_link *b) {
        if (a->cls.kind != b->cls.kind)
                return a->cls.kind < b->cls.kind ? -1 : 1;
        if (a->cls.kind == NET_NIC_XEN_VIF && a->cls.devid != b->cls.devid)
                return a->cls.devid < b->cls.devid ? -1 : 1;
        return a->info.ifindex < b->info.ifindex ? -1 : (a->info.ifindex > b->info.ifindex);
}

struct walk {
        struct net_table *t;
        size_t *first_child;           /* per link position: first port (SIZE_MAX: none) */
        size_t *next_sibling;
        unsigned *visited;             /* stamp per link position */
        unsigned stamp;
};

static struct net_link *walk_down(struct walk *w, size_t pos, unsigned depth) {
        struct net_link *l = w->t->links[pos];

        if (w->visited[pos] == w->stamp)
                return NULL;           /* a loop in what the kernel told us; do not spin */
        w->visited[pos] = w->stamp;
        if (l->cls.nic)
                return l;
        if (depth >= WALK_DEPTH_MAX)
                return NULL;

        struct net_link *best = NULL;
        for (size_t c = w->first_child[pos]; c != SIZE_MAX; c = w->next_sibling[c]) {
                struct net_link *n = walk_down(w, c, depth + 1);
                if (n && (!best || nic_cmp(n, best) < 0))
                        best = n;
        }
        size_t lower;
        if (l->info.link > 0 && is_stacked(l->info.kind) && net_table_find(w->t, l->info.link, &lower)) {
                struct net_link *n = walk_down(w, lower, depth + 1);
                if (n && (!best || nic_cmp(n, best) < 0))
                        best = n;
        }
        return best;
}

/* Per-NIC collection of attributed addresses, before slotting. */
struct cand {
        const struct net_addr_info **v[2];
        size_t n[2], cap[2];
};

static int cand_add(struct cand *c, const struct net_addr_info *a) {
        int f = fam_index(a->family);
        if (c->n[f] == c->cap[f]) {
                size_t cap = MAX((size_t) 4, c->cap[f] * 2);
                const struct net_addr_info **v = realloc(c->v[f], cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                c->v[f] = v;
                c->cap[f] = cap;
        }
        c->v[f][c->n[f]++] = a;
        return 0;
}

/* New addresses pick slots in this order: global before link-local, primary before
 * secondary, then by value, so simultaneous arrivals get a reproducible order. */
static int pref_cmp(const void *x, const void *y) {
        const struct net_addr_info *a = *(const struct net_addr_info *const *) x;
        const struct net_addr_info *b = *(const struct net_addr_info *const *) y;
        if (a->scope != b->scope)
                return a->scope < b->scope ? -1 : 1;
        bool sa = a->flags & IFA_F_SECONDARY, sb = b->flags & IFA_F_SECONDARY;
        if (sa != sb)
                return sa ? 1 : -1;
        return memcmp(a->addr, b->addr, 16);
}

static int addr_slot_cmp(const void *x, const void *y) {
        const struct net_addr *a = x, *b = y;
        return a->slot < b->slot ? -1 : (a->slot > b->slot);
}

static int nic_sort_cmp(const void *x, const void *y) {
        return nic_cmp(*(struct net_link *const *) x, *(struct net_link *const *) y);
}

static void format_mac(const uint8_t *mac, size_t len, char *buf, size_t size) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        for (size_t i = 0; i < len && o + 3 + (i > 0) <= size; i++) {
                if (i > 0)
                        buf[o++] = ':';
                buf[o++] = hex[mac[i] >> 4];
                buf[o++] = hex[mac[i] & 15];
        }
        buf[o] = 0;
}

/* A VF enslaved to a netvsc NIC (Hyper-V accelerated networking) is the same network
 * attachment as its master: report the master only. */
static bool hidden_vf(struct net_table *t, const struct net_link *l) {
        if (l->cls.kind != NET_NIC_OTHER || l->info.master <= 0)
                return false;
        const struct net_link *m = net_table_find(t, l->info.master, NULL);
        return m && m->cls.nic && m->cls.kind == NET_NIC_HYPERV_NETVSC;
}

static int build(struct net_table *t, struct walk *w, struct net_link **nics, size_t n_nics,
                 struct cand *cands, struct net_snapshot **ret) {
        size_t n_links = t->n_links;
        bool capped = false;
        int r;

        /* Attribute every reportable address to the best NIC beneath its link. */
        for (size_t i = 0; i < n_links; i++) {
                struct net_link *l = t->links[i];
                if (l->n_addrs == 0 || is_loopback(l))
                        continue;
                w->stamp++;
                struct net_link *nic = walk_down(w, i, 0);
                if (!nic)
                        continue;      /* nothing virtual below: veths, docker bridges, tunnels */
                struct net_link **hit = bsearch(&nic, nics, n_nics, sizeof *nics, nic_sort_cmp);
                if (!hit)
                        continue;      /* a hidden VF */
                for (unsigned j = 0; j < l->n_addrs; j++)
                        if (addr_reportable(t, &l->addrs[j].a)) {
                                r = cand_add(&cands[hit - nics], &l->addrs[j].a);
                                if (r < 0)
                                        return r;
                        }
        }

        _cleanup_(net_snapshot_freep) struct net_snapshot *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        size_t total = 0;
        for (size_t i = 0; i < n_nics; i++)
                total += MIN(cands[i].n[0], (size_t) NET_SLOTS_MAX) + MIN(cands[i].n[1], (size_t) NET_SLOTS_MAX);
        s->nics = calloc(MAX(n_nics, (size_t) 1), sizeof *s->nics);
        s->addrs = calloc(MAX(total, (size_t) 1), sizeof *s->addrs);
        if (!s->nics || !s->addrs)
                return -ENOMEM;

        uint8_t (*keys)[16] = NULL;
        int *slot = NULL;
        size_t tmp_cap = 0;
        for (size_t i = 0; i < n_nics; i++) {
                struct net_link *l = nics[i];
                struct net_nic *nic = &s->nics[s->n_nics++];
                *nic = (struct net_nic) {
                        .kind = l->cls.kind,
                        .devid = l->cls.kind == NET_NIC_XEN_VIF ? l->cls.devid : -1,
                        .ifindex = l->info.ifindex,
                        .mac_len = l->info.mac_len,
                };
                memcpy(nic->name, l->info.name, sizeof nic->name);
                memcpy(nic->mac, l->info.mac, l->info.mac_len);
                format_mac(l->info.mac, l->info.mac_len, nic->mac_str, sizeof nic->mac_str);

                for (int f = 0; f < 2; f++) {
                        size_t n = cands[i].n[f];
                        if (n > tmp_cap) {
                                free(keys);
                                free(slot);
                                keys = malloc(n * sizeof *keys);
                                slot = malloc(n * sizeof *slot);
                                tmp_cap = n;
                                if (!keys || !slot) {
                                        free(keys);
                                        free(slot);
                                        return -ENOMEM;
                                }
                        }
                        if (n > 0)
                                qsort(cands[i].v[f], n, sizeof *cands[i].v[f], pref_cmp);
                        for (size_t k = 0; k < n; k++)
                                memcpy(keys[k], cands[i].v[f][k]->addr, 16);
                        r = net_slots_update(&l->slots[f], NET_SLOTS_MAX, (const uint8_t (*)[16]) keys, n, slot);
                        if (r < 0) {
                                free(keys);
                                free(slot);
                                return r;
                        }
                        struct net_addr *out = s->addrs + s->n_addrs;
                        size_t m = 0;
                        for (size_t k = 0; k < n; k++) {
                                if (slot[k] < 0) {
                                        /* -1 also marks the same address on two uppers. */
                                        bool dup = false;
                                        for (size_t q = 0; q < m; q++)
                                                dup |= memcmp(out[q].addr, keys[k], 16) == 0;
                                        capped |= !dup;
                                        continue;
                                }
                                out[m++] = (struct net_addr) {
                                        .family = cands[i].v[f][k]->family,
                                        .prefixlen = cands[i].v[f][k]->prefixlen,
                                        .slot = (unsigned) slot[k],
                                };
                                memcpy(out[m - 1].addr, keys[k], 16);
                        }
                        qsort(out, m, sizeof *out, addr_slot_cmp);
                        s->n_addrs += m;
                        if (f == 0) {
                                nic->ipv4 = out;
                                nic->n_ipv4 = m;
                        } else {
                                nic->ipv6 = out;
                                nic->n_ipv6 = m;
                        }
                }
        }
        free(keys);
        free(slot);
        if (capped)
                log_warning("More than %u addresses per NIC and family; some are not reported.", NET_SLOTS_MAX);
        *ret = TAKE_PTR(s);
        return 0;
}

/* rtnetlink first where allowed: it settles most links with no file read. */
static void classify_link(const struct net_table *t, struct net_link *l, net_classify_fn classify,
                          void *userdata) {
        static const struct net_class none = { .nic = false, .kind = NET_NIC_OTHER, .devid = -1 };

        l->cls = none;
        if (is_loopback(l))
                return;
        if (t->o.parents_from_netlink && net_class_from_parent(&l->info, t->parents_reported, &l->cls))
                return;
        if (classify(l->info.name, &l->cls, userdata) < 0)
                l->cls = none;
}

int net_table_snapshot(struct net_table *t, net_classify_fn classify, void *userdata,
                       struct net_snapshot **ret) {
        size_t n = t->n_links, n_nics = 0;
        int r;

        for (size_t i = 0; i < n; i++) {
                struct net_link *l = t->links[i];
                if (!l->classified) {
                        classify_link(t, l, classify, userdata);
                        l->classified = true;
                }
        }

        _cleanup_free_ struct net_link **nics = calloc(MAX(n, (size_t) 1), sizeof *nics);
        _cleanup_free_ size_t *first = malloc(MAX(n, (size_t) 1) * sizeof *first);
        _cleanup_free_ size_t *next = malloc(MAX(n, (size_t) 1) * sizeof *next);
        _cleanup_free_ unsigned *visited = calloc(MAX(n, (size_t) 1), sizeof *visited);
        if (!nics || !first || !next || !visited)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++)
                first[i] = next[i] = SIZE_MAX;
        for (size_t i = n; i > 0; i--) {
                struct net_link *l = t->links[i - 1];
                size_t m;
                if (l->info.master > 0 && l->info.master != l->info.ifindex &&
                    net_table_find(t, l->info.master, &m)) {
                        next[i - 1] = first[m];
                        first[m] = i - 1;
                }
        }
        for (size_t i = 0; i < n; i++) {
                struct net_link *l = t->links[i];
                if (l->cls.nic && !is_loopback(l) && !hidden_vf(t, l))
                        nics[n_nics++] = l;
                else if (!l->cls.nic) {
                        /* Slots only mean something on a NIC. */
                        net_slots_done(&l->slots[0]);
                        net_slots_done(&l->slots[1]);
                }
        }
        qsort(nics, n_nics, sizeof *nics, nic_sort_cmp);

        struct cand *cands = calloc(MAX(n_nics, (size_t) 1), sizeof *cands);
        if (!cands)
                return -ENOMEM;
        struct walk w = { .t = t, .first_child = first, .next_sibling = next, .visited = visited };
        r = build(t, &w, nics, n_nics, cands, ret);
        for (size_t i = 0; i < n_nics; i++) {
                free(cands[i].v[0]);
                free(cands[i].v[1]);
        }
        free(cands);
        return r;
}
