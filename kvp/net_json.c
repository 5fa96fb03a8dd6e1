#include <stdio.h>

#include "pvic/net_json.h"

static void add_family(json_object *o, const char *name, const struct net_addr *a, size_t n) {
        char key[16];
        /* Sized arrays: json-c's default of 32 slots each is most of the memory for
         * a thousand NICs. */
        int size = (int) MIN(n, (size_t) NET_SLOTS_MAX);
        json_object *addrs = json_object_new_array_ext(size), *prefix = json_object_new_array_ext(size),
                    *slot = json_object_new_array_ext(size);

        for (size_t i = 0; i < n; i++) {
                char buf[NET_ADDRSTRLEN];
                json_object_array_add(addrs, json_object_new_string(net_addr_to_string(&a[i], buf)));
                json_object_array_add(prefix, json_object_new_int(a[i].prefixlen));
                json_object_array_add(slot, json_object_new_int((int) a[i].slot));
        }
        json_object_object_add(o, name, addrs);
        snprintf(key, sizeof key, "%s_prefix", name);
        json_object_object_add(o, key, prefix);
        snprintf(key, sizeof key, "%s_slot", name);
        json_object_object_add(o, key, slot);
}

json_object *net_snapshot_to_json(const struct net_snapshot *s) {
        json_object *arr = json_object_new_array_ext(s ? (int) MIN(s->n_nics, (size_t) INT32_MAX) : 0);

        for (size_t i = 0; s && arr && i < s->n_nics; i++) {
                const struct net_nic *nic = &s->nics[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(nic->name));
                json_object_object_add(o, "mac", json_object_new_string(nic->mac_str));
                json_object_object_add(o, "kind", json_object_new_string(net_nic_kind_to_string(nic->kind)));
                json_object_object_add(o, "devid", json_object_new_int(nic->devid));
                add_family(o, "ipv4", nic->ipv4, nic->n_ipv4);
                add_family(o, "ipv6", nic->ipv6, nic->n_ipv6);
                json_object_array_add(arr, o);
        }
        return arr;
}
