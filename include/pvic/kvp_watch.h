/* Notices other programs writing the pool files (cloud-init appending to pool 1) and
 * refreshes the store, whose subscribers then see the new records: how a guest
 * application's KVP reaches a Xen host, where no host request would trigger a reread. */
#pragma once
#include <systemd/sd-event.h>

struct kvp_store;
struct kvp_watch;

int kvp_watch_new(struct kvp_watch **ret, sd_event *e, struct kvp_store *s, const char *dir);
struct kvp_watch *kvp_watch_free(struct kvp_watch *w);
