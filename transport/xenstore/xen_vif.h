/* XAPI's view of guest addresses (spec/xen-guest.md §5, §9 items 1-3, §9.1): a pure
 * mapping from a network snapshot to the attr/vif keys. The caller diffs the result
 * against its shadow and writes the difference in one transaction (removing
 * attr/vif/<devid> when a vif disappears removes its subtree). */
#pragma once
#include <stddef.h>

#include "pvic/netinfo.h"

/* XAPI reads any integer index, but every key costs xenstore quota (§9 item 8) and
 * no toolstack shows more; xen-guest-agent uses the same cap. */
#define XEN_VIF_ADDRS_MAX 10u
/* One "attr/vif/<devid>" node plus the addresses of both families. */
#define XEN_VIF_KEYS_PER_VIF (1u + 2u * XEN_VIF_ADDRS_MAX)

struct xen_vif_kv {
        char key[40];                  /* "attr/vif/2147483647/ipv6/9" */
        char value[NET_ADDRSTRLEN];
};

/* Fills `out` with at most `max` pairs, in order: for each Xen vif by devid,
 * "attr/vif/<devid>" = "" (the parent, written first), then
 * "attr/vif/<devid>/ipv4/<slot>" and ".../ipv6/<slot>" in slot order. Only NICs of
 * kind xen-vif appear (netvsc and other NICs have no devid XAPI knows); addresses in
 * slots >= XEN_VIF_ADDRS_MAX are left out; a second NIC claiming a devid already seen
 * is skipped. Returns the number of pairs the snapshot needs, which may exceed `max`
 * (then only the first `max` are written). */
size_t xen_vif_keys(const struct net_snapshot *s, struct xen_vif_kv *out, size_t max);
