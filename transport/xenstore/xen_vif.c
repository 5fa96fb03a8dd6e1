#include <stdio.h>
#include <string.h>

#include "xen_vif.h"

static void put(struct xen_vif_kv *out, size_t max, size_t *n, int devid, const char *fam,
                const struct net_addr *a) {
        if (*n < max) {
                struct xen_vif_kv *kv = &out[*n];
                if (fam) {
                        snprintf(kv->key, sizeof kv->key, "attr/vif/%d/%s/%u", devid, fam, a->slot);
                        net_addr_to_string(a, kv->value);
                } else {
                        snprintf(kv->key, sizeof kv->key, "attr/vif/%d", devid);
                        kv->value[0] = 0;
                }
        }
        (*n)++;
}

static bool devid_seen(const struct net_snapshot *s, size_t upto, int devid) {
        for (size_t i = 0; i < upto; i++)
                if (s->nics[i].kind == NET_NIC_XEN_VIF && s->nics[i].devid == devid)
                        return true;
        return false;
}

size_t xen_vif_keys(const struct net_snapshot *s, struct xen_vif_kv *out, size_t max) {
        size_t n = 0;

        for (size_t i = 0; s && i < s->n_nics; i++) {
                const struct net_nic *nic = &s->nics[i];
                if (nic->kind != NET_NIC_XEN_VIF || nic->devid < 0 || devid_seen(s, i, nic->devid))
                        continue;
                put(out, max, &n, nic->devid, NULL, NULL);
                for (size_t k = 0; k < nic->n_ipv4; k++)
                        if (nic->ipv4[k].slot < XEN_VIF_ADDRS_MAX)
                                put(out, max, &n, nic->devid, "ipv4", &nic->ipv4[k]);
                for (size_t k = 0; k < nic->n_ipv6; k++)
                        if (nic->ipv6[k].slot < XEN_VIF_ADDRS_MAX)
                                put(out, max, &n, nic->devid, "ipv6", &nic->ipv6[k]);
        }
        return n;
}
