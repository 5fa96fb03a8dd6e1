/* The XAPI-visible key schema (spec/xen-guest.md §5, §9.1): facts in, (key, value)
 * pairs out. Only this file knows the key names. */
#pragma once
#include <stddef.h>

#include "pvic/facts.h"

#define XEN_SCHEMA_MAX_KEYS 64u

struct xen_schema_kv {
        char key[64];
        char value[256];
};

/* Fills the keys published at start and after every resume, in publication order.
 * Returns the count. */
size_t xen_schema_static_keys(const struct pvic_os_facts *os, const struct pvic_mem_facts *mem,
                              const char *features, struct xen_schema_kv *out, size_t max);

/* data/updated's value, in xe-guest-utilities' layout ("Mon Jan  2 15:04:05 2006", UTC). */
void xen_schema_updated_value(char *buf, size_t len, long long unix_seconds);
