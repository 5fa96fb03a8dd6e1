/* io.pvic.Agent1.Kvp: the KVP pools for guest applications (pvicctl kvp ...). */
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "pvic/kvp_store.h"
#include "pvic/log.h"

static int kvp_error(sd_bus_error *error, int r, const char *key) {
        switch (r) {
        case -ENOENT:
                return sd_bus_error_setf(error, PVIC_BUS_INTERFACE ".NoSuchKey", "No such key: %s", key);
        case -E2BIG:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Key or value too long for a pool record (%u/%u bytes).",
                                         KVP_KEY_SIZE - 1, KVP_VALUE_SIZE - 1);
        case -EMSGSIZE:
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Key or value longer than a Hyper-V host keeps (%u/%u characters).",
                                         KVP_HOST_KEY_UNITS, KVP_HOST_VALUE_UNITS);
        case -EILSEQ:
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Not valid UTF-8.");
        case -EINVAL:
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid pool or key.");
        default:
                return sd_bus_error_set_errnof(error, -r, "KVP operation failed: %s", strerror(-r));
        }
}

static int check(struct pvicd *d, uint32_t pool, sd_bus_error *error) {
        if (!d->kvp)
                return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED, "The KVP store is not available.");
        if (pool >= KVP_POOL_COUNT)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Pools are 0 to 4.");
        return 0;
}

/* Pools 0 and 3 hold what the host gave this guest: as private as their 0600 files. */
static bool pool_is_host_data(uint32_t pool) { return pool == 0 || pool == 3; }

static int method_get(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        uint32_t pool;
        const char *key, *value;
        int r = sd_bus_message_read(m, "us", &pool, &key);
        if (r < 0)
                return r;
        if ((r = check(d, pool, error)) < 0)
                return r;
        if (pool_is_host_data(pool) && (r = bus_require_root(m, error)) < 0)
                return r;
        kvp_refresh(d->kvp, pool);
        r = kvp_get(d->kvp, pool, key, &value);
        if (r < 0)
                return kvp_error(error, r, key);
        return sd_bus_reply_method_return(m, "s", value);
}

static int method_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        uint32_t pool;
        const char *key, *value;
        int r = sd_bus_message_read(m, "uss", &pool, &key, &value);
        if (r < 0)
                return r;
        if ((r = check(d, pool, error)) < 0 || (r = bus_require_root(m, error)) < 0)
                return r;
        if (pool == 2)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Pool 2 is generated from guest facts; publish in pool 1.");
        r = kvp_set(d->kvp, pool, key, value);
        if (r < 0)
                return kvp_error(error, r, key);
        log_info("kvp: pool %u: %s set by a local client", pool, key);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        uint32_t pool;
        const char *key;
        int r = sd_bus_message_read(m, "us", &pool, &key);
        if (r < 0)
                return r;
        if ((r = check(d, pool, error)) < 0 || (r = bus_require_root(m, error)) < 0)
                return r;
        if (pool == 2)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Pool 2 is generated from guest facts.");
        r = kvp_delete(d->kvp, pool, key);
        if (r < 0)
                return kvp_error(error, r, key);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct pvicd *d = userdata;
        uint32_t pool;
        int r = sd_bus_message_read(m, "u", &pool);
        if (r < 0)
                return r;
        if ((r = check(d, pool, error)) < 0)
                return r;
        if (pool_is_host_data(pool) && (r = bus_require_root(m, error)) < 0)
                return r;
        kvp_refresh(d->kvp, pool);
        sd_bus_message *reply = NULL;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ss)");
        const char *k, *v;
        for (size_t i = 0; r >= 0 && kvp_enumerate(d->kvp, pool, i, &k, &v) == 0; i++)
                r = sd_bus_message_append(reply, "(ss)", k, v);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

const sd_bus_vtable bus_kvp_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Get", "us", "s", method_get, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Set", "uss", "", method_set, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Delete", "us", "", method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("List", "u", "a(ss)", method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};
