#include <stdio.h>
#include <string.h>

#include "pvic/net_json.h"

/* Keys are literals added as new and constant: json-c then neither copies nor looks
 * them up. */
#define ADD(o, k, v) json_object_object_add_ex((o), (k), (v), JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY)

/* Prefix and slot lists repeat from NIC to NIC ([24], [64,64], [0,1]...), and so do
 * small ints and kinds: each distinct one is built once per document and shared (json-c
 * counts references; the tree is only ever read). At a thousand NICs that halves the
 * allocations, which were most of the rendering time. */
#define SHARED_INTS 129u       /* 0..128: any prefix length, any slot */
#define SHARED_LISTS 16u
#define SHARED_LIST_MAX 4u

struct shared_list {
        unsigned n;
        int v[SHARED_LIST_MAX];
        json_object *o;
};

struct shared {
        json_object *ints[SHARED_INTS];
        json_object *kinds[3];
        struct shared_list lists[SHARED_LISTS];
        unsigned n_lists;
};

static json_object *shared_int(struct shared *sh, int v) {
        if (v < 0 || (unsigned) v >= SHARED_INTS)
                return json_object_new_int(v);
        if (!sh->ints[v])
                sh->ints[v] = json_object_new_int(v);
        return json_object_get(sh->ints[v]);
}

static json_object *shared_kind(struct shared *sh, enum net_nic_kind k) {
        unsigned i = (unsigned) k < ELEMENTSOF(sh->kinds) ? (unsigned) k : NET_NIC_OTHER;
        if (!sh->kinds[i])
                sh->kinds[i] = json_object_new_string(net_nic_kind_to_string(k));
        return json_object_get(sh->kinds[i]);
}

static json_object *int_array(struct shared *sh, const int *v, size_t n) {
        json_object *a = json_object_new_array_ext((int) n);
        for (size_t i = 0; a && i < n; i++)
                json_object_array_add(a, shared_int(sh, v[i]));
        return a;
}

static json_object *shared_int_array(struct shared *sh, const int *v, size_t n) {
        if (n > SHARED_LIST_MAX)
                return int_array(sh, v, n);
        for (unsigned i = 0; i < sh->n_lists; i++)
                if (sh->lists[i].n == n && memcmp(sh->lists[i].v, v, n * sizeof *v) == 0)
                        return json_object_get(sh->lists[i].o);
        json_object *a = int_array(sh, v, n);
        if (a && sh->n_lists < SHARED_LISTS) {
                struct shared_list *l = &sh->lists[sh->n_lists++];
                l->n = (unsigned) n;
                memcpy(l->v, v, n * sizeof *v);
                l->o = json_object_get(a);
        }
        return a;
}

static void shared_done(struct shared *sh) {
        for (size_t i = 0; i < ELEMENTSOF(sh->ints); i++)
                json_object_put(sh->ints[i]);
        for (size_t i = 0; i < ELEMENTSOF(sh->kinds); i++)
                json_object_put(sh->kinds[i]);
        for (unsigned i = 0; i < sh->n_lists; i++)
                json_object_put(sh->lists[i].o);
}

static const char *const family_keys[2][3] = {
        { "ipv4", "ipv4_prefix", "ipv4_slot" },
        { "ipv6", "ipv6_prefix", "ipv6_slot" },
};

static void add_family(json_object *o, struct shared *sh, int f, const struct net_addr *a, size_t n) {
        int prefix[NET_SLOTS_MAX], slot[NET_SLOTS_MAX];

        /* A snapshot holds at most NET_SLOTS_MAX per NIC and family. */
        n = MIN(n, (size_t) NET_SLOTS_MAX);
        /* Sized arrays: json-c's default of 32 slots each is most of the memory for
         * a thousand NICs. */
        json_object *addrs = json_object_new_array_ext((int) n);
        for (size_t i = 0; i < n; i++) {
                char buf[NET_ADDRSTRLEN];
                json_object_array_add(addrs, json_object_new_string(net_addr_to_string(&a[i], buf)));
                prefix[i] = a[i].prefixlen;
                slot[i] = (int) a[i].slot;
        }
        ADD(o, family_keys[f][0], addrs);
        ADD(o, family_keys[f][1], shared_int_array(sh, prefix, n));
        ADD(o, family_keys[f][2], shared_int_array(sh, slot, n));
}

json_object *net_snapshot_to_json(const struct net_snapshot *s) {
        json_object *arr = json_object_new_array_ext(s ? (int) MIN(s->n_nics, (size_t) INT32_MAX) : 0);
        struct shared sh = {};

        for (size_t i = 0; s && arr && i < s->n_nics; i++) {
                const struct net_nic *nic = &s->nics[i];
                json_object *o = json_object_new_object();
                ADD(o, "name", json_object_new_string(nic->name));
                ADD(o, "mac", json_object_new_string(nic->mac_str));
                ADD(o, "kind", shared_kind(&sh, nic->kind));
                ADD(o, "devid", shared_int(&sh, nic->devid));
                add_family(o, &sh, 0, nic->ipv4, nic->n_ipv4);
                add_family(o, &sh, 1, nic->ipv6, nic->n_ipv6);
                json_object_array_add(arr, o);
        }
        shared_done(&sh);
        return arr;
}
