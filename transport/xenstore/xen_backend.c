/* The Xen backend: publishes the guest's facts in the XAPI key schema, writing only what
 * changed (a shadow of what xenstore holds), in one transaction, and republishes all of
 * it after a reconnect or when the domain's identity changes (resume, migration). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pvic/log.h"
#include "pvic/netinfo.h"
#include "pvic/pvicd.h"
#include "pvic/services.h"
#include "pvic/xs_client.h"
#include "pvic/xs_wire.h"
#include "xen_control.h"
#include "xen_kvp.h"
#include "xen_schema.h"
#include "xen_vif.h"

/* What this guest answers under control/pvic/; grows as services are wired. */
#define XEN_FEATURES "facts kvp heartbeat shutdown time freeze"

/* Static keys plus the addresses of 8 vifs; more vifs are published in part (logged). */
#define XEN_PUBLISH_MAX (XEN_SCHEMA_MAX_KEYS + 8u * XEN_VIF_KEYS_PER_VIF)

struct xen_backend {
        struct pvicd *d;
        struct xs_client *xs;

        /* What xenstore holds from us, as far as we know. */
        struct xen_schema_kv shadow[XEN_PUBLISH_MAX];
        size_t n_shadow;
        /* What the batch in flight will make true once it commits. */
        struct xen_schema_kv next[XEN_PUBLISH_MAX];
        size_t n_next;
        bool publishing, dirty;
        unsigned failures;
        sd_event_source *retry_timer;

        /* unique-domain-id (XAPI) and domid (both toolstacks) name this domain build. */
        char identity[96];
        bool have_identity;
        char uid[64], domid[16];
        unsigned identity_reads;

        struct xen_kvp kvp;
        struct xen_control control;
        bool balloon_refused; /* libxl: control/ is not ours to write (spec §3.2) */
};

static void publish(struct xen_backend *b);

static const char *shadow_get(const struct xen_backend *b, const char *key) {
        for (size_t i = 0; i < b->n_shadow; i++)
                if (strcmp(b->shadow[i].key, key) == 0)
                        return b->shadow[i].value;
        return NULL;
}

static void shadow_reset(struct xen_backend *b) { b->n_shadow = 0; }

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        publish(userdata);
        return 0;
}

static void schedule_retry(struct xen_backend *b) {
        /* 1 s doubling to 5 min: a refused write (quota, permissions) is retried without
         * turning into a write storm. */
        uint64_t delay = 1000000ull << MIN(b->failures, 8u);
        if (delay > 300000000ull)
                delay = 300000000ull;
        uint64_t now;
        sd_event_now(b->d->event, CLOCK_MONOTONIC, &now);
        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        if (sd_event_add_time(b->d->event, &b->retry_timer, CLOCK_MONOTONIC, now + delay, 0, on_retry, b) < 0)
                log_error("xen: cannot arm the publish retry timer");
}

static void publish_done(struct xs_client *c, int error, void *userdata) {
        struct xen_backend *b = userdata;
        b->publishing = false;
        if (error == ECANCELED)
                return; /* tearing down */
        if (error == ECONNRESET || error == ENOTCONN) {
                /* The reconnect republishes everything. */
                return;
        }
        if (error) {
                b->failures++;
                log_error_errno(error, "xen: publishing %zu keys failed: %m; retrying", b->n_next);
                schedule_retry(b);
                return;
        }
        b->failures = 0;
        memcpy(b->shadow, b->next, b->n_next * sizeof b->next[0]);
        b->n_shadow = b->n_next;
        log_debug("xen: published; %zu keys in xenstore", b->n_shadow);
        pvicd_set_status(b->d, "xen: connected, %zu keys published", b->n_shadow);
        if (b->dirty) {
                b->dirty = false;
                publish(b);
        }
}

static bool next_has(const struct xen_backend *b, const char *key) {
        for (size_t i = 0; i < b->n_next; i++)
                if (strcmp(b->next[i].key, key) == 0)
                        return true;
        return false;
}

/* The addresses, from the network facts, in XAPI's attr/vif layout. */
static void add_vif_keys(struct xen_backend *b) {
        const struct net_snapshot *snap = b->d->net ? net_collector_snapshot(b->d->net) : NULL;
        if (!snap)
                return;
        static struct xen_vif_kv vk[8u * XEN_VIF_KEYS_PER_VIF];
        size_t room = XEN_PUBLISH_MAX - 1 - b->n_next; /* one left for data/updated */
        size_t need = xen_vif_keys(snap, vk, MIN(room, ELEMENTSOF(vk)));
        size_t n = MIN(need, MIN(room, ELEMENTSOF(vk)));
        if (need > n)
                log_warning("xen: %zu address keys needed, %zu published (too many vifs)", need, n);
        for (size_t i = 0; i < n; i++) {
                struct xen_schema_kv *kv = &b->next[b->n_next++];
                _Static_assert(sizeof vk[0].key <= sizeof kv->key && sizeof vk[0].value <= sizeof kv->value,
                               "vif keys fit the schema's");
                memcpy(kv->key, vk[i].key, sizeof vk[i].key);
                memcpy(kv->value, vk[i].value, sizeof vk[i].value);
        }
}

static void publish(struct xen_backend *b) {
        if (!b->xs || !xs_client_is_connected(b->xs))
                return;
        if (b->publishing) {
                b->dirty = true;
                return;
        }
        b->n_next = xen_schema_static_keys(&b->d->os, &b->d->mem, XEN_FEATURES, b->next, XEN_SCHEMA_MAX_KEYS);
        add_vif_keys(b);

        static struct xs_op ops[2 * XEN_PUBLISH_MAX + 2];
        size_t n_ops = 0;
        /* A full publish starts by clearing what an earlier agent left (spec §9.1). */
        if (b->n_shadow == 0)
                ops[n_ops++] = (struct xs_op){ XS_OP_RM, "attr/vif", NULL };
        for (size_t i = 0; i < b->n_shadow; i++)
                if (strcmp(b->shadow[i].key, "data/updated") != 0 && !next_has(b, b->shadow[i].key))
                        ops[n_ops++] = (struct xs_op){ XS_OP_RM, b->shadow[i].key, NULL };
        for (size_t i = 0; i < b->n_next; i++) {
                const char *old = shadow_get(b, b->next[i].key);
                if (old && strcmp(old, b->next[i].value) == 0)
                        continue;
                ops[n_ops++] = (struct xs_op){ XS_OP_WRITE, b->next[i].key, b->next[i].value };
        }
        if (n_ops == 0)
                return;
        /* data/updated last: squeezed takes its existence as "the agent has started". */
        struct xen_schema_kv *u = &b->next[b->n_next++];
        snprintf(u->key, sizeof u->key, "data/updated");
        xen_schema_updated_value(u->value, sizeof u->value, (long long)time(NULL));
        ops[n_ops++] = (struct xs_op){ XS_OP_WRITE, u->key, u->value };

        int r = xs_batch(b->xs, ops, n_ops, publish_done, b);
        if (r < 0) {
                log_error_errno(r, "xen: cannot queue the publish transaction: %m");
                b->failures++;
                schedule_retry(b);
                return;
        }
        b->publishing = true;
        log_debug("xen: publishing %zu changes", n_ops);
}

static void on_balloon_written(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xen_backend *b = userdata;
        if (r->error == EACCES) {
                /* Expected under libxl; xen-guest-agent stops retrying too. */
                log_info("xen: control/feature-balloon is not writable here (libxl); not advertised");
                b->balloon_refused = true;
        } else if (r->error && r->error != ECONNRESET && r->error != ECANCELED)
                log_warning_errno(r->error, "xen: cannot advertise the balloon driver: %m");
}

/* squeezed and XenCenter look for the key's presence; only true when the guest kernel
 * has the balloon driver (spec §6). Outside the main transaction: EACCES is normal. */
static void advertise_balloon(struct xen_backend *b) {
        _cleanup_free_ char *p = root_path(b->d->config.root, "/sys/devices/system/xen_memory/xen_memory0");
        if (!p || b->balloon_refused || access(p, F_OK) < 0)
                return;
        xs_write(b->xs, 0, "control/feature-balloon", "1", on_balloon_written, b);
}

static void on_feature_read(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        const char *key = userdata;
        if (r->error == ECONNRESET || r->error == ECANCELED || (!r->error && r->len > 0))
                return;
        /* Gone after a migration (guest keys are not carried over) and the kernel writes
         * them only at boot: say again what the kernel always handles (spec §4.3). */
        log_info("xen: %s missing after resume; advertising it again", key);
        xs_write(c, 0, key, "1", NULL, NULL);
}

static void readvertise_features(struct xen_backend *b) {
        static const char *const keys[] = { "control/feature-poweroff", "control/feature-reboot" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                xs_read(b->xs, keys[i], on_feature_read, (void *)keys[i]);
}

static void identity_reply(struct xs_client *c, const struct xs_reply *r, void *userdata,
                           char *dst, size_t dstlen, struct xen_backend *b) {
        /* ENOENT is normal: libxl writes no unique-domain-id. */
        size_t n = r->error ? 0 : MIN(r->len, dstlen - 1);
        if (n)
                memcpy(dst, r->payload, n);
        dst[n] = 0;
        if (r->error == ECONNRESET || r->error == ECANCELED) {
                b->identity_reads = 0;
                return;
        }
        if (--b->identity_reads > 0)
                return;
        char id[sizeof b->identity];
        snprintf(id, sizeof id, "%s/%s", b->uid, b->domid);
        if (b->have_identity && strcmp(id, b->identity) != 0) {
                log_notice("xen: domain identity changed (%s -> %s): resumed or migrated; republishing",
                           b->identity, id);
                shadow_reset(b);
                publish(b);
                xen_kvp_republish(&b->kvp);
                advertise_balloon(b);
                readvertise_features(b);
                pvicd_resumed(b->d);
        }
        snprintf(b->identity, sizeof b->identity, "%s", id);
        b->have_identity = true;
}

static void uid_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xen_backend *b = userdata;
        identity_reply(c, r, userdata, b->uid, sizeof b->uid, b);
}

static void domid_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct xen_backend *b = userdata;
        identity_reply(c, r, userdata, b->domid, sizeof b->domid, b);
}

static void on_identity_event(struct xs_client *c, const char *path, const char *token, void *userdata) {
        struct xen_backend *b = userdata;
        if (b->identity_reads > 0)
                return; /* a read pair is already in flight and will see the new value */
        if (xs_read(c, "unique-domain-id", uid_reply, b) < 0)
                return;
        b->identity_reads = 1;
        if (xs_read(c, "domid", domid_reply, b) == 0)
                b->identity_reads++;
}

static void on_state(struct xs_client *c, bool connected, void *userdata) {
        struct xen_backend *b = userdata;
        if (!connected) {
                pvicd_set_status(b->d, "xen: disconnected from xenstore, reconnecting");
                b->publishing = false;
                xen_control_disconnected(&b->control);
                return;
        }
        /* A new connection may be a restarted xenstored that lost everything. */
        shadow_reset(b);
        b->failures = 0;
        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        pvicd_set_status(b->d, "xen: connected, publishing");
        publish(b);
        xen_kvp_republish(&b->kvp);
        advertise_balloon(b);
}

static void on_host_kvp_event(struct xs_client *c, const char *path, const char *token, void *userdata) {
        xen_kvp_host_changed(userdata, path);
}

static void on_control_event(struct xs_client *c, const char *path, const char *token, void *userdata) {
        xen_control_event(userdata, path);
}

static void on_toolstack_event(struct xs_client *c, const char *path, const char *token, void *userdata) {
        xen_control_toolstack_event(userdata, path);
}

static int xen_init(struct pvicd *d, void **ret) {
        struct xen_backend *b = calloc(1, sizeof *b);
        if (!b)
                return log_oom();
        b->d = d;
        _cleanup_free_ char *path = xs_client_find_path(d->config.root, d->config.xenstore_path);
        if (!path) {
                /* Detection saw Xen; the device can appear after us (xenfs mounted late). */
                path = root_path(d->config.root, "/dev/xen/xenbus");
                if (!path) {
                        free(b);
                        return log_oom();
                }
                log_warning("xen: no xenstore interface yet; waiting for %s", path);
        }
        int r = xs_client_new(&b->xs, d->event, path, on_state, b);
        if (r < 0) {
                free(b);
                return log_error_errno(r, "xen: cannot set up the xenstore client: %m");
        }
        r = xs_watch_add(b->xs, "unique-domain-id", on_identity_event, b);
        if (r >= 0)
                r = xen_kvp_init(&b->kvp, d, b->xs, on_host_kvp_event);
        xen_control_init(&b->control, d, b->xs);
        /* Four watches in all: the guest kernel shares the domain's quota with us. */
        if (r >= 0)
                r = xs_watch_add(b->xs, "control/pvic", on_control_event, &b->control);
        if (r >= 0)
                r = xs_watch_add(b->xs, "control/shutdown", on_toolstack_event, &b->control);
        if (r < 0) {
                xen_kvp_done(&b->kvp);
                xs_client_free(b->xs);
                free(b);
                return log_error_errno(r, "xen: cannot add the identity watch: %m");
        }
        pvicd_set_status(d, "xen: connecting to %s", path);
        *ret = b;
        return 0;
}

static void xen_fini(void *state) {
        struct xen_backend *b = state;
        if (!b)
                return;
        xen_kvp_done(&b->kvp);
        b->xs = xs_client_free(b->xs);
        xen_control_done(&b->control);
        b->retry_timer = sd_event_source_disable_unref(b->retry_timer);
        free(b);
}

static void xen_facts_changed(void *state) { publish(state); }

const struct pvic_backend_ops xenstore_backend_ops = {
        .name = "xenstore",
        .init = xen_init,
        .fini = xen_fini,
        .facts_changed = xen_facts_changed,
};
