/* Stable address slots (spec/xen-guest.md §9 item 3): hosts index addresses by slot, so
 * an address must keep its slot while it exists, or readers see addresses flap
 * between keys. Up to NET_SLOTS_MAX addresses: quadratic scans are cheaper than any
 * index at that size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/netinfo.h"

static int find(const struct net_slots *s, const uint8_t addr[16]) {
        for (unsigned i = 0; i < s->n; i++)
                if (s->v[i].used && memcmp(s->v[i].addr, addr, 16) == 0)
                        return (int) i;
        return -1;
}

int net_slots_update(struct net_slots *s, unsigned max, const uint8_t (*addrs)[16], size_t n_addrs,
                     int *ret_slot) {
        size_t n_new = 0;
        unsigned used = 0;

        for (unsigned i = 0; i < s->n; i++)
                s->v[i].seen = false;

        /* Known addresses keep their slot; a repeated address gets none. */
        for (size_t i = 0; i < n_addrs; i++) {
                int k = find(s, addrs[i]);
                if (k < 0) {
                        ret_slot[i] = -2;
                        n_new++;
                } else if (s->v[k].seen)
                        ret_slot[i] = -1;
                else {
                        s->v[k].seen = true;
                        ret_slot[i] = k;
                        used++;
                }
        }

        /* Grow before touching anything, so -ENOMEM leaves the slots as they were. */
        size_t want = MIN((size_t) max, MAX((size_t) s->n, (size_t) used + n_new));
        if (n_new > 0 && want > s->n) {
                struct net_slot *v = realloc(s->v, want * sizeof *v);
                if (!v) {
                        for (size_t i = 0; i < n_addrs; i++)
                                if (ret_slot[i] == -2)
                                        ret_slot[i] = -1;
                        return -ENOMEM;
                }
                memset(v + s->n, 0, (want - s->n) * sizeof *v);
                s->v = v;
                s->n = (unsigned) want;
        }

        /* Removed addresses free their slots before new ones pick. */
        for (unsigned i = 0; i < s->n; i++)
                if (s->v[i].used && !s->v[i].seen)
                        s->v[i].used = false;

        unsigned next = 0;
        for (size_t i = 0; i < n_addrs; i++) {
                if (ret_slot[i] != -2)
                        continue;
                /* A new address may repeat an earlier new one. */
                int k = find(s, addrs[i]);
                if (k >= 0) {
                        ret_slot[i] = -1;
                        continue;
                }
                while (next < s->n && next < max && s->v[next].used)
                        next++;
                if (next >= s->n || next >= max) {
                        ret_slot[i] = -1;
                        continue;
                }
                s->v[next].used = true;
                s->v[next].seen = true;
                memcpy(s->v[next].addr, addrs[i], 16);
                ret_slot[i] = (int) next;
        }

        /* Keep memory proportional to the highest slot in use. */
        unsigned n = s->n;
        while (n > 0 && !s->v[n - 1].used)
                n--;
        if (n == 0) {
                free(s->v);
                s->v = NULL;
                s->n = 0;
        } else if (n < s->n) {
                struct net_slot *v = realloc(s->v, n * sizeof *v);
                if (v)
                        s->v = v;
                s->n = n;
        }
        return 0;
}

void net_slots_done(struct net_slots *s) {
        free(s->v);
        *s = (struct net_slots) {};
}
