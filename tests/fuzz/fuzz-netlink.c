/* libFuzzer target: rtnetlink datagrams into the parser, the link table and the
 * topology pass (the parts that see bytes describing other people's links), then
 * both presentations. Names decide the fake sysfs class, so inputs can build NICs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../transport/xenstore/xen_vif.h"
#include "pvic/log.h"
#include "pvic/net_json.h"
#include "pvic/netinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int classify(const char *name, struct net_class *ret, void *userdata) {
        *ret = (struct net_class) { .kind = NET_NIC_OTHER, .devid = -1 };
        switch (name[0]) {
        case 'x':
                *ret = (struct net_class) { true, NET_NIC_XEN_VIF, (unsigned char) name[1] % 8 };
                break;
        case 'h':
                *ret = (struct net_class) { true, NET_NIC_HYPERV_NETVSC, -1 };
                break;
        case 'o':
                ret->nic = true;
                break;
        }
        return 0;
}

static int apply(const struct net_msg *m, void *userdata) {
        if (m->type == 0xffff)
                abort();
        return net_table_apply(userdata, m) < 0 ? -1 : 0;
}

static void check(const struct net_snapshot *s) {
        for (size_t i = 0; i < s->n_nics; i++) {
                const struct net_nic *n = &s->nics[i];
                const struct net_addr *v[2] = { n->ipv4, n->ipv6 };
                size_t c[2] = { n->n_ipv4, n->n_ipv6 };
                for (int f = 0; f < 2; f++) {
                        if (c[f] > NET_SLOTS_MAX)
                                abort();
                        for (size_t k = 0; k < c[f]; k++) {
                                if (v[f][k].slot >= NET_SLOTS_MAX || (k > 0 && v[f][k].slot <= v[f][k - 1].slot))
                                        abort();
                                if (v[f][k].family != (f ? AF_INET6 : AF_INET))
                                        abort();
                        }
                }
                if (n->kind == NET_NIC_XEN_VIF ? n->devid < 0 : n->devid != -1)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Bus devices from the input decide first, as against the real /sys. */
        struct net_table_options o = { .max_links = 32, .max_addrs_per_link = 8, .ipv6_link_local = true,
                                       .parents_from_netlink = true };
        struct net_table *t = NULL;
        struct xen_vif_kv kv[64];

        if (size > 256 * 1024)
                return 0;
        log_set_max_level(-1);
        if (net_table_new(&t, &o) < 0)
                return 0;

        /* Datagrams split at a 4-byte marker, like consecutive recv()s; an exact-size
         * copy each, so ASan sees any read past the end. */
        size_t pos = 0;
        for (int round = 0; pos <= size && round < 64; round++) {
                const uint8_t *end = memmem(data + pos, size - pos, "NLSP", 4);
                size_t len = end ? (size_t) (end - (data + pos)) : size - pos;
                uint8_t *buf = malloc(len ? len : 1);
                if (!buf)
                        break;
                memcpy(buf, data + pos, len);
                /* Every other round is a re-dump, to run mark and sweep. */
                if (round % 2) {
                        net_table_mark_links(t);
                        net_table_mark_addrs(t);
                }
                (void) net_parse_buffer(buf, len, apply, t, NULL);
                if (round % 2) {
                        (void) net_table_sweep_links(t);
                        (void) net_table_sweep_addrs(t);
                }
                free(buf);

                struct net_snapshot *s = NULL;
                if (net_table_snapshot(t, classify, NULL, &s) == 0) {
                        check(s);
                        size_t n = xen_vif_keys(s, kv, ELEMENTSOF(kv));
                        for (size_t i = 0; i < MIN(n, ELEMENTSOF(kv)); i++)
                                if (strncmp(kv[i].key, "attr/vif/", 9) != 0)
                                        abort();
                        json_object_put(net_snapshot_to_json(s));
                        net_snapshot_free(s);
                }
                if (!end)
                        break;
                pos = (size_t) (end - data) + 4;
        }
        net_table_free(t);
        return 0;
}
