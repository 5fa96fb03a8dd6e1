/* The KVP request handler: what a host KVP request does, whichever wire it came over
 * (the /dev/vmbus/hv_kvp relay, a uio KVP channel). Pools 0, 1, 3 and 4 are the store's
 * (reread first, as hv_kvp_daemon rereads its files before every request); pool 2 is
 * generated from the intrinsic items; GET_IP_INFO asks the intrinsic's callback.
 * docs/kvp-differential.md lists where the answers differ from hv_kvp_daemon's. */
#pragma once
#include "pvic/hostmsg.h"
#include "pvic/kvp_intrinsic.h"

struct kvp_store;

/* store NULL (pools unusable): file pools answer HOST_STATUS_FAILED. intr NULL: pool 2
 * is empty and GET_IP_INFO fails. reply is fully overwritten. */
void kvp_service_handle(struct kvp_store *store, const struct kvp_intrinsic *intr,
                        const struct host_kvp_request *req, struct host_kvp_reply *reply);
