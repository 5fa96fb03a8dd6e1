/* pvic-host's Xen backend: a dom0 xenstore client (pvic-hostsim's host.sock or a real
 * /run/xenstored/socket). It uses only what every xenstored offers: READ, WRITE, RM,
 * DIRECTORY, transactions and watches; nothing simulator-specific. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "pvic/macro.h"
#include "pvic/xs_escape.h"
#include "xs_sync.h"

#define XEN_TIMEOUT_USEC (5u * 1000000u)
#define XEN_REPLY_WAIT_USEC (5u * 1000000u)

struct xen_host {
        struct xs_sync xs;
};

static char *readp(struct xen_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *readp(struct xen_host *h, const char *fmt, ...) {
        char path[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(path, sizeof path, fmt, ap);
        va_end(ap);
        char *v = NULL;
        if (xs_sync_read(&h->xs, path, &v) < 0)
                return NULL;
        return v;
}

static void add_opt(json_object *o, const char *key, char *value) {
        json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
        free(value);
}

static bool valid_domid(const char *g) {
        if (!*g || strlen(g) > 5)
                return false;
        for (const char *p = g; *p; p++)
                if (*p < '0' || *p > '9')
                        return false;
        return true;
}

static int check_guest(struct xen_host *h, const char *g, json_object **out) {
        if (!valid_domid(g)) {
                *out = host_error("'%s' is not a domain id (Xen guests are named by domid)", g);
                return -EINVAL;
        }
        char *v = readp(h, "/local/domain/%s/domid", g);
        if (!v) {
                *out = host_error("no domain %s", g);
                return -ENOENT;
        }
        free(v);
        return 0;
}

static json_object *agent_json(struct xen_host *h, const char *g) {
        json_object *a = json_object_new_object();
        char *maj = readp(h, "/local/domain/%s/attr/PVAddons/MajorVersion", g);
        char *min = readp(h, "/local/domain/%s/attr/PVAddons/MinorVersion", g);
        char *mic = readp(h, "/local/domain/%s/attr/PVAddons/MicroVersion", g);
        char *build = readp(h, "/local/domain/%s/attr/PVAddons/BuildVersion", g);
        char *features = readp(h, "/local/domain/%s/data/pvic/features", g);
        json_object_object_add(a, "name", json_object_new_string(features ? "pvicd" : maj ? "unknown" : "none"));
        if (maj) {
                char version[64];
                snprintf(version, sizeof version, "%s.%s.%s", maj, min ? min : "0", mic ? mic : "0");
                json_object_object_add(a, "version", json_object_new_string(version));
        } else
                json_object_object_add(a, "version", NULL);
        json_object_object_add(a, "build", build ? json_object_new_int64(strtoll(build, NULL, 10)) : NULL);
        json_object_object_add(a, "features", features ? json_object_new_string(features) : NULL);
        free(maj);
        free(min);
        free(mic);
        free(build);
        free(features);
        return a;
}

static int xen_guests(void *state, json_object **out) {
        struct xen_host *h = state;
        char **ids = NULL;
        int n = xs_sync_directory(&h->xs, "/local/domain", &ids);
        if (n < 0) {
                *out = host_error("cannot list /local/domain: %s", strerror(-n));
                return n;
        }
        json_object *arr = json_object_new_array();
        for (int i = 0; i < n; i++) {
                if (strcmp(ids[i], "0") == 0 || !valid_domid(ids[i]))
                        continue;
                json_object *g = json_object_new_object();
                json_object_object_add(g, "guest", json_object_new_string(ids[i]));
                add_opt(g, "name", readp(h, "/local/domain/%s/name", ids[i]));
                add_opt(g, "os", readp(h, "/local/domain/%s/data/os_name", ids[i]));
                json_object_object_add(g, "agent", agent_json(h, ids[i]));
                json_object_array_add(arr, g);
        }
        xs_sync_strv_free(ids);
        *out = json_object_new_object();
        json_object_object_add(*out, "hypervisor", json_object_new_string("xen"));
        json_object_object_add(*out, "guests", arr);
        return 0;
}

static int cmp_index(const void *a, const void *b) {
        return (int)(strtol(*(char *const *)a, NULL, 10) - strtol(*(char *const *)b, NULL, 10));
}

/* attr/vif/<devid>/ipv4|ipv6/<n>, slots in numeric order (XAPI's lowest ipv4 is "the" IP). */
static json_object *addresses(struct xen_host *h, const char *g, const char *devid, const char *family) {
        json_object *arr = json_object_new_array();
        char path[256], **slots = NULL;
        snprintf(path, sizeof path, "/local/domain/%s/attr/vif/%s/%s", g, devid, family);
        int n = xs_sync_directory(&h->xs, path, &slots);
        if (n <= 0)
                return arr;
        qsort(slots, (size_t)n, sizeof *slots, cmp_index);
        for (int i = 0; i < n; i++) {
                char *v = readp(h, "%s/%s", path, slots[i]);
                if (v)
                        json_object_array_add(arr, json_object_new_string(v));
                free(v);
        }
        xs_sync_strv_free(slots);
        return arr;
}

static int xen_info(void *state, const char *g, json_object **out) {
        struct xen_host *h = state;
        int r = check_guest(h, g, out);
        if (r < 0)
                return r;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "schema", json_object_new_string("pvic.facts/1"));
        json_object_object_add(o, "guest", json_object_new_string(g));
        add_opt(o, "name", readp(h, "/local/domain/%s/name", g));
        json_object_object_add(o, "agent", agent_json(h, g));

        json_object *os = json_object_new_object();
        add_opt(os, "name", readp(h, "/local/domain/%s/data/os_name", g));
        add_opt(os, "id", readp(h, "/local/domain/%s/data/os_distro", g));
        add_opt(os, "major", readp(h, "/local/domain/%s/data/os_majorver", g));
        add_opt(os, "minor", readp(h, "/local/domain/%s/data/os_minorver", g));
        json_object_object_add(o, "os", os);
        json_object *k = json_object_new_object();
        add_opt(k, "release", readp(h, "/local/domain/%s/data/os_uname", g));
        json_object_object_add(o, "kernel", k);

        json_object *m = json_object_new_object();
        char *total = readp(h, "/local/domain/%s/data/meminfo_total", g);
        char *avail = readp(h, "/local/domain/%s/data/meminfo_free", g);
        json_object_object_add(m, "total_kib", total ? json_object_new_int64(strtoll(total, NULL, 10)) : NULL);
        json_object_object_add(m, "available_kib", avail ? json_object_new_int64(strtoll(avail, NULL, 10)) : NULL);
        free(total);
        free(avail);
        json_object_object_add(o, "memory", m);

        json_object *net = json_object_new_array();
        char path[128], **vifs = NULL;
        snprintf(path, sizeof path, "/local/domain/%s/attr/vif", g);
        int n = xs_sync_directory(&h->xs, path, &vifs);
        if (n > 0)
                qsort(vifs, (size_t)n, sizeof *vifs, cmp_index);
        for (int i = 0; i < n; i++) {
                json_object *nic = json_object_new_object();
                json_object_object_add(nic, "devid", json_object_new_string(vifs[i]));
                add_opt(nic, "mac", readp(h, "/local/domain/%s/device/vif/%s/mac", g, vifs[i]));
                json_object_object_add(nic, "ipv4", addresses(h, g, vifs[i], "ipv4"));
                json_object_object_add(nic, "ipv6", addresses(h, g, vifs[i], "ipv6"));
                json_object_array_add(net, nic);
        }
        xs_sync_strv_free(n > 0 ? vifs : NULL);
        json_object_object_add(o, "network", net);
        add_opt(o, "updated", readp(h, "/local/domain/%s/data/updated", g));
        add_opt(o, "heartbeat", readp(h, "/local/domain/%s/data/pvic/heartbeat", g));
        add_opt(o, "time", readp(h, "/local/domain/%s/data/pvic/time-state", g));
        *out = o;
        return 0;
}

/* Host view of the pools: 0 is what the host gave the guest (vm-data), 1 what the guest
 * published (data). */
static const char *pool_dir(unsigned pool) { return pool == 0 ? "vm-data/pvic/kvp" : "data/pvic/kvp"; }

static int kvp_path(const char *g, unsigned pool, const char *key, char *buf, size_t len, json_object **out) {
        char esc[1600];
        if (xs_key_escape(key, esc, sizeof esc) < 0) {
                *out = host_error("invalid key");
                return -EINVAL;
        }
        snprintf(buf, len, "/local/domain/%s/%s/%s", g, pool_dir(pool), esc);
        return 0;
}

static int xen_kvp_get(void *state, const char *g, unsigned pool, const char *key, json_object **out) {
        struct xen_host *h = state;
        char path[2048];
        int r = check_guest(h, g, out);
        if (r < 0 || (r = kvp_path(g, pool, key, path, sizeof path, out)) < 0)
                return r;
        char *v = NULL;
        r = xs_sync_read(&h->xs, path, &v);
        if (r < 0) {
                *out = host_error("%s: %s", key, r == -ENOENT ? "no such key" : strerror(-r));
                return r;
        }
        *out = host_kv_json(g, pool, key, v);
        free(v);
        return 0;
}

static int xen_kvp_set(void *state, const char *g, const char *key, const char *value, json_object **out) {
        struct xen_host *h = state;
        char path[2048];
        int r = check_guest(h, g, out);
        if (r < 0 || (r = kvp_path(g, 0, key, path, sizeof path, out)) < 0)
                return r;
        r = xs_sync_write(&h->xs, path, value);
        if (r < 0) {
                *out = host_error("cannot write %s: %s", key, strerror(-r));
                return r;
        }
        *out = host_kv_json(g, 0, key, value);
        return 0;
}

static int xen_kvp_delete(void *state, const char *g, const char *key, json_object **out) {
        struct xen_host *h = state;
        char path[2048];
        int r = check_guest(h, g, out);
        if (r < 0 || (r = kvp_path(g, 0, key, path, sizeof path, out)) < 0)
                return r;
        r = xs_sync_rm(&h->xs, path);
        if (r < 0) {
                *out = host_error("cannot remove %s: %s", key, strerror(-r));
                return r;
        }
        *out = host_kv_json(g, 0, key, NULL);
        return 0;
}

static int xen_kvp_list(void *state, const char *g, unsigned pool, json_object **out) {
        struct xen_host *h = state;
        int r = check_guest(h, g, out);
        if (r < 0)
                return r;
        char dir[256], **names = NULL;
        snprintf(dir, sizeof dir, "/local/domain/%s/%s", g, pool_dir(pool));
        int n = xs_sync_directory(&h->xs, dir, &names);
        json_object *arr = json_object_new_array();
        for (int i = 0; i < n; i++) {
                char key[1025];
                if (xs_key_unescape(names[i], key, sizeof key) < 0)
                        continue; /* not written by pvic */
                char *v = readp(h, "%s/%s", dir, names[i]);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "key", json_object_new_string(key));
                add_opt(o, "value", v);
                json_object_array_add(arr, o);
        }
        xs_sync_strv_free(n > 0 ? names : NULL);
        *out = json_object_new_object();
        json_object_object_add(*out, "guest", json_object_new_string(g));
        json_object_object_add(*out, "pool", json_object_new_int((int)pool));
        json_object_object_add(*out, "items", arr);
        return 0;
}

static int64_t realtime_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waiting for a guest's answer: a watch on its data/pvic marks "something changed"; the
 * caller re-reads. xenstored may coalesce events, so the answer is read, never inferred. */
struct wait_flag {
        bool fired;
};
static bool flag_fired(void *u) { return ((struct wait_flag *)u)->fired; }
static void on_flag(struct xs_client *c, const char *path, const char *token, void *u) {
        ((struct wait_flag *)u)->fired = true;
}

/* Reads `path` until its value starts with `prefix` (e.g. "<seq> "), or times out. */
/* "<id> <state> ..." of a later request than ours ("<our id> "): ids are the requester's
 * CLOCK_REALTIME in ns, so a later one is a larger number. */
static bool supersedes(const char *v, const char *our_prefix, const char *state) {
        char *end;
        errno = 0;
        unsigned long long theirs = strtoull(v, &end, 10), ours = strtoull(our_prefix, NULL, 10);
        size_t n = strlen(state);
        return errno == 0 && end != v && *end == ' ' && theirs > ours && strncmp(end + 1, state, n) == 0 &&
               (end[1 + n] == ' ' || end[1 + n] == 0);
}

/* Waits until path holds a value starting with prefix; with superseded, a value of
 * another request whose state is exactly that ends the wait too (returned as is). */
static int await_value(struct xen_host *h, struct wait_flag *flag, const char *path, const char *prefix,
                       const char *superseded, uint64_t usec, char **value) {
        uint64_t deadline = xs_sync_now_usec() + usec;
        for (;;) {
                char *v = NULL;
                if (xs_sync_read(&h->xs, path, &v) >= 0) {
                        if (strncmp(v, prefix, strlen(prefix)) == 0 || (superseded && supersedes(v, prefix, superseded))) {
                                *value = v;
                                return 0;
                        }
                        free(v);
                }
                uint64_t now = xs_sync_now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                flag->fired = false;
                int r = xs_sync_wait(&h->xs, flag_fired, flag, deadline - now);
                if (r < 0 && r != -ETIMEDOUT)
                        return r;
        }
}

static int xen_heartbeat(void *state, const char *g, json_object **out) {
        struct xen_host *h = state;
        int r = check_guest(h, g, out);
        if (r < 0)
                return r;
        static struct wait_flag flag;
        char path[128], seq[32], prefix[40], *answer = NULL;
        snprintf(path, sizeof path, "/local/domain/%s/data/pvic/heartbeat", g);
        xs_watch_add(h->xs.client, path, on_flag, &flag);
        snprintf(seq, sizeof seq, "%" PRId64, realtime_ns());
        snprintf(prefix, sizeof prefix, "%s ", seq);
        char req[128];
        snprintf(req, sizeof req, "/local/domain/%s/control/pvic/heartbeat", g);
        uint64_t t0 = xs_sync_now_usec();
        r = xs_sync_write(&h->xs, req, seq);
        if (r < 0) {
                *out = host_error("cannot write %s: %s", req, strerror(-r));
                return r;
        }
        r = await_value(h, &flag, path, prefix, NULL, XEN_REPLY_WAIT_USEC, &answer);
        uint64_t t1 = xs_sync_now_usec();
        json_object *o = json_object_new_object();
        json_object_object_add(o, "guest", json_object_new_string(g));
        json_object_object_add(o, "sequence", json_object_new_string(seq));
        if (r < 0) {
                json_object_object_add(o, "alive", json_object_new_boolean(false));
                json_object_object_add(o, "error", json_object_new_string("no answer within 5 s"));
                *out = o;
                return -ETIMEDOUT;
        }
        json_object_object_add(o, "alive", json_object_new_boolean(true));
        json_object_object_add(o, "state", json_object_new_string(answer + strlen(prefix)));
        json_object_object_add(o, "round_trip_us", json_object_new_int64((int64_t)(t1 - t0)));
        free(answer);
        *out = o;
        return 0;
}

static int xen_time(void *state, const char *g, json_object **out) {
        struct xen_host *h = state;
        int r = check_guest(h, g, out);
        if (r < 0)
                return r;
        static struct wait_flag flag;
        char reply_path[128], req_path[128], result_path[128], val[160], prefix[48], *answer = NULL;
        snprintf(reply_path, sizeof reply_path, "/local/domain/%s/data/pvic/time", g);
        snprintf(req_path, sizeof req_path, "/local/domain/%s/control/pvic/time", g);
        snprintf(result_path, sizeof result_path, "/local/domain/%s/control/pvic/time-result", g);
        xs_watch_add(h->xs.client, reply_path, on_flag, &flag);
        int64_t t1 = realtime_ns();
        snprintf(val, sizeof val, "%" PRId64 " %" PRId64, t1, t1); /* sequence = t1 */
        snprintf(prefix, sizeof prefix, "%" PRId64 " ", t1);
        r = xs_sync_write(&h->xs, req_path, val);
        if (r < 0) {
                *out = host_error("cannot write %s: %s", req_path, strerror(-r));
                return r;
        }
        r = await_value(h, &flag, reply_path, prefix, NULL, XEN_REPLY_WAIT_USEC, &answer);
        int64_t t4 = realtime_ns();
        if (r < 0) {
                *out = host_error("guest %s did not answer the time request within 5 s", g);
                return r;
        }
        long long seq, gt1, t2, t3;
        if (sscanf(answer, "%lld %lld %lld %lld", &seq, &gt1, &t2, &t3) != 4 || gt1 != t1) {
                *out = host_error("malformed time answer from guest %s", g);
                free(answer);
                return -EBADMSG;
        }
        free(answer);
        /* NTP's on-wire arithmetic: offset of the guest's clock from ours, and the
         * round trip minus the guest's own processing time. */
        int64_t offset = ((t2 - t1) + (t3 - t4)) / 2;
        int64_t delay = (t4 - t1) - (t3 - t2);
        snprintf(val, sizeof val, "%" PRId64 " %" PRId64 " %lld %lld %" PRId64, t1, t1, t2, t3, t4);
        r = xs_sync_write(&h->xs, result_path, val);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "guest", json_object_new_string(g));
        json_object_object_add(o, "guest_offset_ns", json_object_new_int64(offset));
        json_object_object_add(o, "round_trip_ns", json_object_new_int64(delay));
        json_object_object_add(o, "sample_sent", json_object_new_boolean(r >= 0));
        *out = o;
        return 0;
}

struct shutdown_wait {
        struct xen_host *h;
        char **guests;
        int n;
        char **ids;      /* request id per guest */
        char **outcome;  /* final state, or NULL while pending */
        bool *dirty;
        int pending;
};

static bool terminal_state(const char *s) {
        return strncmp(s, "done", 4) == 0 || strncmp(s, "failed", 6) == 0 || strncmp(s, "refused", 7) == 0 ||
               strncmp(s, "blocked", 7) == 0 || strncmp(s, "in-progress", 11) == 0;
}

static void on_domain_event(struct xs_client *c, const char *path, const char *token, void *u) {
        struct shutdown_wait *w = u;
        for (int i = 0; i < w->n; i++) {
                char prefix[64];
                int len = snprintf(prefix, sizeof prefix, "/local/domain/%s", w->guests[i]);
                if (strncmp(path, prefix, (size_t)len) == 0 && (path[len] == '/' || path[len] == 0))
                        w->dirty[i] = true;
        }
}

static bool any_dirty(void *u) {
        struct shutdown_wait *w = u;
        for (int i = 0; i < w->n; i++)
                if (w->dirty[i])
                        return true;
        return false;
}

static int xen_shutdown(void *state, char **guests, int n, const struct host_shutdown_opts *o, json_object **out) {
        struct xen_host *h = state;
        struct shutdown_wait w = { .h = h, .guests = guests, .n = n };
        w.ids = calloc((size_t)n, sizeof *w.ids);
        w.outcome = calloc((size_t)n, sizeof *w.outcome);
        w.dirty = calloc((size_t)n, sizeof *w.dirty);
        if (!w.ids || !w.outcome || !w.dirty) {
                free(w.ids);
                free(w.outcome);
                free(w.dirty);
                return -ENOMEM;
        }
        /* One watch for every guest: watches are a per-connection quota. */
        xs_watch_add(h->xs.client, "/local/domain", on_domain_event, &w);
        char timeout[16];
        snprintf(timeout, sizeof timeout, "%u", o->timeout_sec);
        for (int i = 0; i < n; i++) {
                json_object *err = NULL;
                if (check_guest(h, guests[i], &err) < 0) {
                        w.outcome[i] = strdup(json_object_get_string(json_object_object_get(err, "error")));
                        json_object_put(err);
                        continue;
                }
                char id[32], base[128], p_action[160], p_force[160], p_reason[160], p_timeout[160], p_id[160];
                snprintf(id, sizeof id, "%" PRId64 "-%d", realtime_ns(), i);
                w.ids[i] = strdup(id);
                snprintf(base, sizeof base, "/local/domain/%s/control/pvic/shutdown", guests[i]);
                snprintf(p_action, sizeof p_action, "%s/action", base);
                snprintf(p_force, sizeof p_force, "%s/force", base);
                snprintf(p_reason, sizeof p_reason, "%s/reason", base);
                snprintf(p_timeout, sizeof p_timeout, "%s/timeout", base);
                snprintf(p_id, sizeof p_id, "%s/id", base);
                /* The id goes last in the same transaction: the guest acts on a new id and
                 * then sees a complete request. */
                struct xs_op ops[] = {
                        { XS_OP_WRITE, p_action, o->action },
                        { XS_OP_WRITE, p_force, o->force ? "1" : "0" },
                        { XS_OP_WRITE, p_reason, o->reason ? o->reason : "" },
                        { XS_OP_WRITE, p_timeout, timeout },
                        { XS_OP_WRITE, p_id, id },
                };
                int r = xs_sync_batch(&h->xs, ops, ELEMENTSOF(ops));
                if (r < 0) {
                        char msg[128];
                        snprintf(msg, sizeof msg, "failed:cannot send the request: %s", strerror(-r));
                        w.outcome[i] = strdup(msg);
                        continue;
                }
                w.dirty[i] = true;
                w.pending++;
        }
        uint64_t deadline = xs_sync_now_usec() + (uint64_t)(o->timeout_sec + 5) * 1000000u;
        while (w.pending > 0) {
                for (int i = 0; i < n; i++) {
                        if (!w.dirty[i] || w.outcome[i])
                                continue;
                        w.dirty[i] = false;
                        char *v = readp(h, "/local/domain/%s/data/pvic/shutdown", guests[i]);
                        char *exists = readp(h, "/local/domain/%s/domid", guests[i]);
                        size_t idlen = strlen(w.ids[i]);
                        if (v && strncmp(v, w.ids[i], idlen) == 0 && v[idlen] == ' ' && terminal_state(v + idlen + 1)) {
                                w.outcome[i] = strdup(v + idlen + 1);
                                w.pending--;
                        } else if (!exists) {
                                w.outcome[i] = strdup("done:domain-gone");
                                w.pending--;
                        }
                        free(v);
                        free(exists);
                }
                uint64_t now = xs_sync_now_usec();
                if (w.pending == 0 || now >= deadline)
                        break;
                xs_sync_wait(&h->xs, any_dirty, &w, deadline - now);
        }
        json_object *arr = json_object_new_array();
        bool all_ok = true;
        for (int i = 0; i < n; i++) {
                json_object *g = json_object_new_object();
                json_object_object_add(g, "guest", json_object_new_string(guests[i]));
                const char *outcome = w.outcome[i] ? w.outcome[i] : "failed:timeout";
                json_object_object_add(g, "outcome", json_object_new_string(outcome));
                bool ok = strncmp(outcome, "done", 4) == 0;
                json_object_object_add(g, "ok", json_object_new_boolean(ok));
                all_ok &= ok;
                json_object_array_add(arr, g);
                free(w.ids[i]);
                free(w.outcome[i]);
        }
        free(w.ids);
        free(w.outcome);
        free(w.dirty);
        *out = json_object_new_object();
        json_object_object_add(*out, "action", json_object_new_string(o->action));
        json_object_object_add(*out, "results", arr);
        /* The watch points at w, which is gone: close the connection now. */
        h->xs.client = xs_client_free(h->xs.client);
        return all_ok ? 0 : -EIO;
}

#define XEN_FREEZE_WAIT_USEC (60u * 1000000u) /* pre-freeze hooks run first */

static int xen_freeze(void *state, const char *g, bool thaw, unsigned lease_sec, json_object **out) {
        struct xen_host *h = state;
        int r = check_guest(h, g, out);
        if (r < 0)
                return r;
        static struct wait_flag flag;
        char reply_path[128], base[128], p_action[160], p_lease[160], p_id[160], id[48], prefix[56], lease[16];
        char *answer = NULL;
        const char *action = thaw ? "thaw" : "freeze";
        snprintf(reply_path, sizeof reply_path, "/local/domain/%s/data/pvic/freeze", g);
        snprintf(base, sizeof base, "/local/domain/%s/control/pvic/freeze", g);
        snprintf(p_action, sizeof p_action, "%s/action", base);
        snprintf(p_lease, sizeof p_lease, "%s/lease", base);
        snprintf(p_id, sizeof p_id, "%s/id", base);
        snprintf(id, sizeof id, "%" PRId64, realtime_ns());
        snprintf(prefix, sizeof prefix, "%s ", id);
        snprintf(lease, sizeof lease, "%u", lease_sec);
        xs_watch_add(h->xs.client, reply_path, on_flag, &flag);
        /* The id last in one transaction: the guest sees a complete request. */
        struct xs_op ops[] = {
                { XS_OP_WRITE, p_action, action },
                { XS_OP_WRITE, p_lease, lease },
                { XS_OP_WRITE, p_id, id },
        };
        r = xs_sync_batch(&h->xs, ops, ELEMENTSOF(ops));
        if (r < 0) {
                *out = host_error("cannot send the %s request: %s", action, strerror(-r));
                return r;
        }
        /* One answer key: a thaw that cancels this freeze during its pre-freeze hooks is
         * answered right after this freeze's "failed:cancelled", which it may overwrite
         * before we read it. Its "thawed:cancelled" means ours was cancelled. */
        r = await_value(h, &flag, reply_path, prefix, thaw ? NULL : "thawed:cancelled", XEN_FREEZE_WAIT_USEC,
                        &answer);
        if (r < 0) {
                *out = host_error("guest %s did not answer the %s request", g, action);
                return r;
        }
        bool ours = strncmp(answer, prefix, strlen(prefix)) == 0;
        *out = host_freeze_json(g, action, ours ? answer + strlen(prefix) : "failed:cancelled");
        free(answer);
        json_object_object_add(*out, "id", json_object_new_string(id));
        return json_object_get_boolean(json_object_object_get(*out, "ok")) ? 0 : -EIO;
}

static void xen_close(void *state) {
        struct xen_host *h = state;
        xs_sync_close(&h->xs);
        free(h);
}

int host_xen_open(struct host_backend *b, const char *socket_path) {
        struct xen_host *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        int r = xs_sync_open(&h->xs, socket_path, XEN_TIMEOUT_USEC);
        if (r < 0) {
                xs_sync_close(&h->xs);
                free(h);
                return r;
        }
        *b = (struct host_backend){
                .state = h,
                .guests = xen_guests,
                .info = xen_info,
                .kvp_get = xen_kvp_get,
                .kvp_set = xen_kvp_set,
                .kvp_delete = xen_kvp_delete,
                .kvp_list = xen_kvp_list,
                .heartbeat = xen_heartbeat,
                .time = xen_time,
                .shutdown = xen_shutdown,
                .freeze = xen_freeze,
                .close = xen_close,
        };
        return 0;
}
