/* The facts document: one versioned JSON object with every guest fact, served by
 * `pvicctl facts --json` and rebuilt by pvic-host from what the host sees. The schema is
 * in docs/facts.md; fields are only ever added within a schema version. */
#pragma once
#include <json-c/json.h>

#include "pvic/facts.h"

#define PVIC_FACTS_SCHEMA "pvic.facts/1"

struct net_snapshot;

/* net may be NULL (no network facts yet): "network" is then an empty list. */
json_object *facts_to_json(const struct pvic_os_facts *os, const struct pvic_mem_facts *mem,
                           const struct net_snapshot *net);
