/* The "network" member of the facts document (docs/network.md):
 *   [{"name","mac","kind","devid","ipv4":[...],"ipv4_prefix":[...],"ipv4_slot":[...],
 *     "ipv6":[...],"ipv6_prefix":[...],"ipv6_slot":[...]}]
 * Addresses are strings in slot order; the prefix and slot arrays run parallel. */
#pragma once
#include <json-c/json.h>

#include "pvic/netinfo.h"

/* A new JSON array (never NULL unless out of memory); an empty array for NULL. Repeated
 * values (kinds, small ints, short prefix and slot lists) are shared within the tree, so
 * read and serialize it, but do not modify it in place. */
json_object *net_snapshot_to_json(const struct net_snapshot *s);
