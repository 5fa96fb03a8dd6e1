/* The link/address table behind net_table_* (private to kvp/net_*.c). */
#pragma once
#include "pvic/netinfo.h"

struct net_entry {
        struct net_addr_info a;
        bool stale;
};

struct net_link {
        struct net_link_info info;
        struct net_entry *addrs;
        unsigned n_addrs, cap_addrs;
        bool stale;
        bool classified;
        bool capped_warned;
        struct net_class cls;
        struct net_slots slots[2];     /* [0] IPv4, [1] IPv6; used while the link is a NIC */
};

struct net_table {
        struct net_table_options o;
        struct net_link **links;       /* sorted by ifindex */
        size_t n_links, cap_links;
        bool links_capped_warned;
        bool parents_reported;         /* a link message carried IFLA_PARENT_DEV_NAME */
};

struct net_link *net_table_find(const struct net_table *t, int ifindex, size_t *ret_pos);
