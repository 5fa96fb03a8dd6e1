/* Snapshot helpers shared by every presentation. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "pvic/netinfo.h"

struct net_snapshot *net_snapshot_free(struct net_snapshot *s) {
        if (!s)
                return NULL;
        free(s->nics);
        free(s->addrs);
        free(s);
        return NULL;
}

static bool addrs_equal(const struct net_addr *a, const struct net_addr *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (a[i].family != b[i].family || a[i].prefixlen != b[i].prefixlen ||
                    a[i].slot != b[i].slot || memcmp(a[i].addr, b[i].addr, 16) != 0)
                        return false;
        return true;
}

bool net_snapshot_equal(const struct net_snapshot *a, const struct net_snapshot *b) {
        if (!a || !b)
                return a == b;
        if (a->n_nics != b->n_nics)
                return false;
        for (size_t i = 0; i < a->n_nics; i++) {
                const struct net_nic *x = &a->nics[i], *y = &b->nics[i];
                if (x->kind != y->kind || x->devid != y->devid || x->ifindex != y->ifindex ||
                    strcmp(x->name, y->name) != 0 || x->mac_len != y->mac_len ||
                    memcmp(x->mac, y->mac, x->mac_len) != 0 || x->n_ipv4 != y->n_ipv4 ||
                    x->n_ipv6 != y->n_ipv6 || !addrs_equal(x->ipv4, y->ipv4, x->n_ipv4) ||
                    !addrs_equal(x->ipv6, y->ipv6, x->n_ipv6))
                        return false;
        }
        return true;
}

const char *net_nic_kind_to_string(enum net_nic_kind k) {
        switch (k) {
        case NET_NIC_XEN_VIF:
                return "xen-vif";
        case NET_NIC_HYPERV_NETVSC:
                return "hyperv-netvsc";
        case NET_NIC_OTHER:
                break;
        }
        return "other";
}

const char *net_addr_to_string(const struct net_addr *a, char buf[static NET_ADDRSTRLEN]) {
        if (!inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, a->addr, buf, NET_ADDRSTRLEN))
                buf[0] = 0;
        return buf;
}

const struct net_nic *net_snapshot_find_mac(const struct net_snapshot *s, const char *mac) {
        if (!s || !mac)
                return NULL;
        for (size_t i = 0; i < s->n_nics; i++)
                if (s->nics[i].mac_len > 0 && strcasecmp(s->nics[i].mac_str, mac) == 0)
                        return &s->nics[i];
        return NULL;
}

static void format_one(const struct net_addr *a, bool masks, char buf[static NET_ADDRSTRLEN]) {
        if (!masks) {
                net_addr_to_string(a, buf);
                return;
        }
        if (a->family == AF_INET6) {
                snprintf(buf, NET_ADDRSTRLEN, "/%u", a->prefixlen);
                return;
        }
        uint32_t m = a->prefixlen ? htonl(~(uint32_t) 0 << (32 - MIN(a->prefixlen, (uint8_t) 32))) : 0;
        inet_ntop(AF_INET, &m, buf, NET_ADDRSTRLEN);
}

static void append_nic(const struct net_nic *nic, int family, bool masks, char *buf, size_t size, size_t *len,
                       bool *full) {
        const struct net_addr *v[2] = { nic->ipv4, nic->ipv6 };
        size_t n[2] = { nic->n_ipv4, nic->n_ipv6 };

        for (int f = 0; f < 2 && !*full; f++) {
                if ((family == AF_INET && f == 1) || (family == AF_INET6 && f == 0))
                        continue;
                for (size_t i = 0; i < n[f] && !*full; i++) {
                        char one[NET_ADDRSTRLEN];
                        format_one(&v[f][i], masks, one);
                        size_t need = strlen(one) + (*len > 0);
                        if (*len + need + 1 > size) {
                                *full = true;
                                break;
                        }
                        if (*len > 0)
                                buf[(*len)++] = ';';
                        memcpy(buf + *len, one, strlen(one) + 1);
                        *len += strlen(one);
                }
        }
}

size_t net_format_list(const struct net_snapshot *s, const struct net_nic *nic, int family, bool masks,
                       char *buf, size_t size) {
        size_t len = 0;
        bool full = false;

        if (size == 0)
                return 0;
        buf[0] = 0;
        if (nic)
                append_nic(nic, family, masks, buf, size, &len, &full);
        else
                for (size_t i = 0; s && i < s->n_nics && !full; i++)
                        append_nic(&s->nics[i], family, masks, buf, size, &len, &full);
        return len;
}
