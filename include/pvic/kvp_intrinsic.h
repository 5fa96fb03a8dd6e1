/* Hyper-V intrinsic KVP items (pool 2, "GuestIntrinsicExchangeItems"): the ten keys
 * hv_kvp_daemon generates, at the same indexes and in the same formats (spec
 * hyperv-ic.md §7), so host tooling sees a pvic guest exactly as a hv_kvp_daemon one.
 * Built from the guest's facts; nothing here collects anything. */
#pragma once
#include <stddef.h>

#include "pvic/facts.h"
#include "pvic/hostmsg.h"

enum kvp_intrinsic_item {
        KVP_INTRINSIC_FQDN,
        KVP_INTRINSIC_IC_VERSION,
        KVP_INTRINSIC_IPV4,
        KVP_INTRINSIC_IPV6,
        KVP_INTRINSIC_OS_BUILD,
        KVP_INTRINSIC_OS_NAME,
        KVP_INTRINSIC_OS_MAJOR,
        KVP_INTRINSIC_OS_MINOR,
        KVP_INTRINSIC_OS_VERSION,
        KVP_INTRINSIC_ARCH,
        KVP_INTRINSIC_COUNT,
};

/* What the Linux kernel's KVP driver registers as (hv_kvp.c HV_DRV_VERSION); used when
 * no kernel tells us (uio mode). */
#define KVP_INTRINSIC_IC_VERSION_DEFAULT "3.1"
/* Address lists stop before this many bytes, on an address boundary: the host keeps at
 * most 1022 UTF-16 units of a value (§4.4), and a cut address is a wrong address. */
#define KVP_INTRINSIC_ADDRS_MAX 1022u

/* GET_IP_INFO for the NIC with MAC `mac` ("00:15:5D:01:02:03", any case). out arrives
 * zeroed but for the request's adapter_id and addr_family (the families the host asks
 * about, 0 = both); fill dhcp_enabled, ip_addr, sub_net, gate_way, dns_addr (the
 * reply's addr_family is then derived from the addresses in ip_addr). 0, or -ENOENT
 * when no NIC has that MAC, or another negative errno. */
typedef int (*kvp_ip_info_fn)(void *userdata, const char *mac, struct host_kvp_ip_info *out);

struct kvp_intrinsic {
        char *value[KVP_INTRINSIC_COUNT]; /* UTF-8; NULL only before kvp_intrinsic_build */
        kvp_ip_info_fn ip_info;           /* NULL: every GET_IP_INFO fails */
        void *userdata;
};

/* "FullyQualifiedDomainName", ... for item < KVP_INTRINSIC_COUNT, else NULL. */
const char *kvp_intrinsic_key(unsigned item);

/* Fills every value from os (os-release NAME and VERSION_ID, uname -r/-m), fqdn (NULL:
 * os->hostname) and ic_version (NULL: the default), and the address lists (may be NULL
 * with n 0) joined with ';'. Keeps ip_info/userdata. On error (-ENOMEM) intr is
 * unchanged. */
int kvp_intrinsic_build(struct kvp_intrinsic *intr, const struct pvic_os_facts *os, const char *fqdn,
                        const char *ic_version, const char *const *ipv4, size_t n_ipv4,
                        const char *const *ipv6, size_t n_ipv6);
/* Replaces only the two address items (addresses change far more often than the rest). */
int kvp_intrinsic_set_addresses(struct kvp_intrinsic *intr, const char *const *ipv4, size_t n_ipv4,
                                const char *const *ipv6, size_t n_ipv6);
void kvp_intrinsic_done(struct kvp_intrinsic *intr);

/* Joins addrs with ';' (no trailing one), keeping whole addresses only while the result
 * stays below max bytes. Returns a new string or NULL on OOM. */
char *kvp_intrinsic_join(const char *const *addrs, size_t n, size_t max);
