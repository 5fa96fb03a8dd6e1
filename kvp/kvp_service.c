/* Host KVP requests against the store and the intrinsic items (spec hyperv-ic.md §4.4,
 * §5.6). Status choices follow hv_kvp_daemon where a host could tell the difference;
 * docs/kvp-differential.md lists the rest. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pvic/kvp_service.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"

static void copy_text(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ? src : "");
}

/* hv_kvp_daemon answers HV_S_CONT for every SET/GET/DELETE it cannot do; hosts treat any
 * non-zero status as failure. We keep that for refusals (bad key, too long, absent) and
 * say HV_E_FAIL only for our own trouble (I/O, locks), which the peer would exit on. */
static enum host_status status_for_store_error(int r) {
        switch (r) {
        case -ENOENT:
        case -EINVAL:
        case -E2BIG:
        case -EMSGSIZE:
        case -EILSEQ:
                return HOST_STATUS_NOT_FOUND;
        default:
                return HOST_STATUS_FAILED;
        }
}

static void refresh(struct kvp_store *store, unsigned pool) {
        int r = kvp_refresh(store, pool);
        /* Answer from memory: a pool file locked by a slow writer must not stall the host. */
        if (r < 0)
                log_debug_errno(r, "kvp: pool %u not reread, answering from memory: %m", pool);
}

static void handle_intrinsic(const struct kvp_intrinsic *intr, const struct host_kvp_request *req,
                             struct host_kvp_reply *reply) {
        switch (req->op) {
        case HOST_KVP_ENUMERATE:
                if (!intr || req->index >= KVP_INTRINSIC_COUNT || !intr->value[req->index])
                        return;
                copy_text(reply->key, sizeof reply->key, kvp_intrinsic_key(req->index));
                copy_text(reply->value, sizeof reply->value, intr->value[req->index]);
                reply->status = HOST_STATUS_OK;
                return;
        case HOST_KVP_GET:
                for (unsigned i = 0; intr && i < KVP_INTRINSIC_COUNT; i++)
                        if (intr->value[i] && strcmp(req->key, kvp_intrinsic_key(i)) == 0) {
                                copy_text(reply->value, sizeof reply->value, intr->value[i]);
                                reply->status = HOST_STATUS_OK;
                                return;
                        }
                return;
        default:
                /* Generated from facts: a host SET would be overwritten by the next fact
                 * and DELETE cannot remove a fact. */
                reply->status = HOST_STATUS_FAILED;
                return;
        }
}

static void handle_pool(struct kvp_store *store, const struct host_kvp_request *req,
                        struct host_kvp_reply *reply) {
        const char *key, *value;
        int r;

        if (!store) {
                reply->status = HOST_STATUS_FAILED;
                return;
        }
        switch (req->op) {
        case HOST_KVP_SET:
                r = kvp_set(store, req->pool, req->key, req->value);
                if (r < 0)
                        log_warning_errno(r, "kvp: host SET of '%s' in pool %u refused: %m", req->key, req->pool);
                reply->status = r < 0 ? status_for_store_error(r) : HOST_STATUS_OK;
                return;
        case HOST_KVP_DELETE:
                r = kvp_delete(store, req->pool, req->key);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "kvp: host DELETE of '%s' in pool %u failed: %m", req->key, req->pool);
                reply->status = r < 0 ? status_for_store_error(r) : HOST_STATUS_OK;
                return;
        case HOST_KVP_GET:
                refresh(store, req->pool);
                r = kvp_get(store, req->pool, req->key, &value);
                if (r < 0) {
                        reply->status = status_for_store_error(r);
                        return;
                }
                copy_text(reply->value, sizeof reply->value, value);
                reply->status = HOST_STATUS_OK;
                return;
        case HOST_KVP_ENUMERATE:
                /* The host walks index 0, 1, 2, ...: refreshing each time costs one fstat
                 * when nothing changed, and keeps the walk consistent with the file. */
                refresh(store, req->pool);
                r = kvp_enumerate(store, req->pool, req->index, &key, &value);
                if (r < 0) {
                        reply->status = status_for_store_error(r);
                        return;
                }
                copy_text(reply->key, sizeof reply->key, key);
                copy_text(reply->value, sizeof reply->value, value);
                reply->status = HOST_STATUS_OK;
                return;
        default:
                reply->status = HOST_STATUS_FAILED;
                return;
        }
}

void kvp_service_handle(struct kvp_store *store, const struct kvp_intrinsic *intr,
                        const struct host_kvp_request *req, struct host_kvp_reply *reply) {
        /* Not one memset of the ~19 KB reply per request: the encoder reads only the
         * fields of the answered operation, and clears the wire message itself. */
        reply->status = HOST_STATUS_NOT_FOUND;
        reply->key[0] = reply->value[0] = '\0';

        switch (req->op) {
        case HOST_KVP_GET_IP_INFO: {
                memset(&reply->ip, 0, sizeof reply->ip);
                /* The callback sees what the host asked: the adapter and the families. */
                copy_text(reply->ip.adapter_id, sizeof reply->ip.adapter_id, req->ip.adapter_id);
                reply->ip.addr_family = req->ip.addr_family;
                int r = intr && intr->ip_info ? intr->ip_info(intr->userdata, req->ip.adapter_id, &reply->ip)
                                              : -ENOENT;
                if (r < 0) {
                        /* hv_kvp_daemon: HV_E_FAIL for an unknown NIC. */
                        memset(&reply->ip, 0, sizeof reply->ip);
                        reply->status = HOST_STATUS_FAILED;
                        return;
                }
                copy_text(reply->ip.adapter_id, sizeof reply->ip.adapter_id, req->ip.adapter_id);
                /* The families actually listed, as hv_kvp_daemon reports them. */
                reply->ip.addr_family = 0;
                for (const char *a = reply->ip.ip_addr; *a; a += strcspn(a, ";"), a += *a == ';') {
                        size_t n = strcspn(a, ";");
                        if (n > 0)
                                reply->ip.addr_family |= memchr(a, ':', n) ? HOST_KVP_ADDR_IPV6 : HOST_KVP_ADDR_IPV4;
                }
                reply->status = HOST_STATUS_OK;
                return;
        }
        case HOST_KVP_SET_IP_INFO:
                /* Injecting a static configuration is not implemented (Debian's daemon
                 * lacks hv_set_ifconfig and answers HV_E_FAIL as well). */
                log_notice("kvp: host SET_IP_INFO for %s refused: not supported", req->ip.adapter_id);
                reply->status = HOST_STATUS_FAILED;
                return;
        default:
                break;
        }

        if (req->pool >= KVP_POOL_COUNT) {
                reply->status = HOST_STATUS_FAILED;
                return;
        }
        if (req->pool == HOST_KVP_POOL_AUTO)
                handle_intrinsic(intr, req, reply);
        else
                handle_pool(store, req, reply);
}
