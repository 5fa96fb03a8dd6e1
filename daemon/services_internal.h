/* Between the manager and the services it starts (daemon/services*.c). */
#pragma once
#include "pvic/pvicd.h"

struct net_snapshot;

int services_kvp_start(struct pvicd *d);
void services_kvp_stop(struct pvicd *d);
void services_kvp_addresses_changed(struct pvicd *d, const struct net_snapshot *s);
