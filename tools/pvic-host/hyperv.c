/* pvic-host's Hyper-V backend: pvic-hostsim's control socket (docs/hostsim-hyperv.md),
 * one JSON object per line each way. What it reads is what a Hyper-V host reads: the
 * intrinsic KVP items (Get-VMKvp / Msvm_KvpExchangeComponent), the pools, IC replies. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host.h"
#include "pvic/macro.h"

#define HV_REPLY_TIMEOUT_MS 15000
/* A freeze runs the guest's pre-freeze hooks first; pvic-hostsim waits 60 s for it. */
#define HV_FREEZE_TIMEOUT_MS 65000
#define HV_LINE_MAX (64 * 1024)

struct hv_host {
        char *path;
        int fd;
};

static int hv_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int hv_send(int fd, json_object *req) {
        const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        size_t len = strlen(s);
        char *line = malloc(len + 2);
        if (!line)
                return -ENOMEM;
        memcpy(line, s, len);
        line[len++] = '\n';
        int r = 0;
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, line + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = -errno;
                        break;
                }
                off += (size_t)n;
        }
        free(line);
        return r;
}

static int hv_recv_within(int fd, json_object **reply, int timeout_ms) {
        static char buf[HV_LINE_MAX];
        size_t len = 0;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int q = poll(&p, 1, timeout_ms);
                if (q == 0)
                        return -ETIMEDOUT;
                if (q < 0 && errno != EINTR)
                        return -errno;
                /* Byte by byte up to the newline: replies are small and this keeps the
                 * next reply in the socket for the next call. */
                ssize_t n = read(fd, buf + len, 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n == 0 ? -ECONNRESET : -errno;
                if (buf[len] == '\n')
                        break;
                if (++len >= sizeof buf - 1)
                        return -E2BIG;
        }
        buf[len] = 0;
        *reply = json_tokener_parse(buf);
        return *reply ? 0 : -EBADMSG;
}

static int hv_recv(int fd, json_object **reply) {
        return hv_recv_within(fd, reply, HV_REPLY_TIMEOUT_MS);
}

/* One request, one reply; {"ok":false,"error":...} becomes a negative errno with the
 * reply kept for the message. */
static int hv_call_within(struct hv_host *h, json_object *req, json_object **reply, int timeout_ms) {
        int r = hv_send(h->fd, req);
        json_object_put(req);
        if (r < 0)
                return r;
        r = hv_recv_within(h->fd, reply, timeout_ms);
        if (r < 0)
                return r;
        json_object *ok;
        if (!json_object_object_get_ex(*reply, "ok", &ok) || !json_object_get_boolean(ok))
                return -EIO;
        return 0;
}

static int hv_call(struct hv_host *h, json_object *req, json_object **reply) {
        return hv_call_within(h, req, reply, HV_REPLY_TIMEOUT_MS);
}

static json_object *req_new(const char *op, const char *guest) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "op", json_object_new_string(op));
        if (guest)
                json_object_object_add(o, "guest", json_object_new_string(guest));
        return o;
}

static const char *str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static int fail_with(json_object *reply, int r, json_object **out, const char *what) {
        const char *e = reply ? str(reply, "error") : NULL;
        *out = host_error("%s: %s", what, e ? e : strerror(-r));
        json_object_put(reply);
        return r;
}

static int kvp_op(struct hv_host *h, const char *guest, const char *op, int pool, const char *key,
                  const char *value, int index, json_object **reply) {
        json_object *req = req_new("kvp", guest);
        json_object_object_add(req, "kvp_op", json_object_new_string(op));
        json_object_object_add(req, "pool", json_object_new_int(pool));
        if (key)
                json_object_object_add(req, "key", json_object_new_string(key));
        if (value)
                json_object_object_add(req, "value", json_object_new_string(value));
        if (index >= 0)
                json_object_object_add(req, "index", json_object_new_int(index));
        int r = hv_call(h, req, reply);
        if (r < 0)
                return r;
        /* The IC status: 0 is success; anything else ends an enumeration or means "no". */
        const char *st = str(*reply, "status");
        return st && strtoul(st, NULL, 16) == 0 ? 0 : -ENOENT;
}

/* Every item of a pool, by ENUMERATE as the host does: {key: value}. */
static json_object *enumerate(struct hv_host *h, const char *guest, int pool) {
        json_object *items = json_object_new_object();
        for (int i = 0; i < 10000; i++) {
                json_object *reply = NULL;
                if (kvp_op(h, guest, "enumerate", pool, NULL, NULL, i, &reply) < 0) {
                        json_object_put(reply);
                        break;
                }
                const char *k = str(reply, "key"), *v = str(reply, "value");
                if (k)
                        json_object_object_add(items, k, json_object_new_string(v ? v : ""));
                json_object_put(reply);
        }
        return items;
}

static int hv_guests(void *state, json_object **out) {
        struct hv_host *h = state;
        json_object *reply = NULL;
        int r = hv_call(h, req_new("guests", NULL), &reply);
        if (r < 0)
                return fail_with(reply, r, out, "guests");
        json_object *arr = json_object_new_array(), *gs;
        if (json_object_object_get_ex(reply, "guests", &gs))
                for (size_t i = 0; i < json_object_array_length(gs); i++) {
                        const char *name = str(json_object_array_get_idx(gs, i), "name");
                        json_object *items = enumerate(h, name, 2);
                        json_object *g = json_object_new_object(), *agent = json_object_new_object();
                        json_object_object_add(g, "guest", json_object_new_string(name));
                        json_object_object_add(g, "name", json_object_new_string(name));
                        const char *os = str(items, "OSName");
                        json_object_object_add(g, "os", os ? json_object_new_string(os) : NULL);
                        const char *ic = str(items, "IntegrationServicesVersion");
                        json_object_object_add(agent, "name", json_object_new_string(ic ? "hyperv-ic" : "none"));
                        json_object_object_add(agent, "version", ic ? json_object_new_string(ic) : NULL);
                        json_object_object_add(g, "agent", agent);
                        json_object_array_add(arr, g);
                        json_object_put(items);
                }
        json_object_put(reply);
        *out = json_object_new_object();
        json_object_object_add(*out, "hypervisor", json_object_new_string("hyperv"));
        json_object_object_add(*out, "guests", arr);
        return 0;
}

static json_object *split_list(const char *s) {
        json_object *arr = json_object_new_array();
        if (!s)
                return arr;
        char *copy = strdup(s);
        for (char *save = NULL, *tok = copy ? strtok_r(copy, ";", &save) : NULL; tok; tok = strtok_r(NULL, ";", &save))
                json_object_array_add(arr, json_object_new_string(tok));
        free(copy);
        return arr;
}

static void add_item(json_object *o, const char *key, json_object *items, const char *item) {
        const char *v = str(items, item);
        json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

/* Heartbeat 3.1's application state (spec §4.1); older versions carry none. */
static const char *app_state_name(const char *v) {
        if (!v || strcmp(v, "0") == 0)
                return "answered";
        if (strcmp(v, "1") == 0)
                return "healthy";
        if (strcmp(v, "2") == 0)
                return "critical";
        if (strcmp(v, "3") == 0)
                return "stopped";
        return v;
}

static int hv_heartbeat_state(struct hv_host *h, const char *g, json_object **reply) {
        json_object *req = req_new("heartbeat", g);
        json_object_object_add(req, "count", json_object_new_int(1));
        return hv_call(h, req, reply);
}

static int hv_info(void *state, const char *g, json_object **out) {
        struct hv_host *h = state;
        json_object *items = enumerate(h, g, 2);
        if (json_object_object_length(items) == 0) {
                json_object_put(items);
                *out = host_error("no intrinsic items from guest %s (unknown guest, or no KVP service)", g);
                return -ENOENT;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "schema", json_object_new_string("pvic.facts/1"));
        json_object_object_add(o, "guest", json_object_new_string(g));
        json_object_object_add(o, "name", json_object_new_string(g));
        add_item(o, "hostname", items, "FullyQualifiedDomainName");
        /* The intrinsic items name the integration services' version, not the agent's. */
        json_object *agent = json_object_new_object();
        json_object_object_add(agent, "name", json_object_new_string("hyperv-ic"));
        add_item(agent, "version", items, "IntegrationServicesVersion");
        json_object_object_add(o, "agent", agent);
        json_object *os = json_object_new_object();
        add_item(os, "name", items, "OSName");
        add_item(os, "major", items, "OSMajorVersion");
        add_item(os, "minor", items, "OSMinorVersion");
        add_item(os, "version", items, "OSVersion");
        json_object_object_add(o, "os", os);
        json_object *k = json_object_new_object();
        add_item(k, "release", items, "OSBuildNumber");
        add_item(k, "machine", items, "ProcessorArchitecture");
        json_object_object_add(o, "kernel", k);
        /* The intrinsic items carry every address of the guest, not per NIC. */
        json_object *net = json_object_new_array(), *nic = json_object_new_object();
        json_object_object_add(nic, "ipv4", split_list(str(items, "NetworkAddressIPv4")));
        json_object_object_add(nic, "ipv6", split_list(str(items, "NetworkAddressIPv6")));
        json_object_array_add(net, nic);
        json_object_object_add(o, "network", net);
        json_object *hb = NULL;
        if (hv_heartbeat_state(h, g, &hb) >= 0)
                json_object_object_add(o, "heartbeat", json_object_new_string(app_state_name(str(hb, "app_state"))));
        else
                json_object_object_add(o, "heartbeat", NULL);
        json_object_put(hb);
        json_object_put(items);
        *out = o;
        return 0;
}

static int hv_kvp_get(void *state, const char *g, unsigned pool, const char *key, json_object **out) {
        /* GET is answered properly by pvicd (hv_kvp_daemon's relay returns ""); the
         * enumeration is what every host can rely on. */
        struct hv_host *h = state;
        json_object *items = enumerate(h, g, (int)pool);
        const char *v = str(items, key);
        if (!v) {
                json_object_put(items);
                *out = host_error("%s: no such key", key);
                return -ENOENT;
        }
        *out = host_kv_json(g, pool, key, v);
        json_object_put(items);
        return 0;
}

static int hv_kvp_set(void *state, const char *g, const char *key, const char *value, json_object **out) {
        struct hv_host *h = state;
        json_object *reply = NULL;
        int r = kvp_op(h, g, "set", 0, key, value, -1, &reply);
        if (r < 0)
                return fail_with(reply, r == -ENOENT ? -EIO : r, out, "kvp set");
        json_object_put(reply);
        *out = host_kv_json(g, 0, key, value);
        return 0;
}

static int hv_kvp_delete(void *state, const char *g, const char *key, json_object **out) {
        struct hv_host *h = state;
        json_object *reply = NULL;
        int r = kvp_op(h, g, "delete", 0, key, NULL, -1, &reply);
        if (r < 0)
                return fail_with(reply, r, out, "kvp delete");
        json_object_put(reply);
        *out = host_kv_json(g, 0, key, NULL);
        return 0;
}

static int hv_kvp_list(void *state, const char *g, unsigned pool, json_object **out) {
        struct hv_host *h = state;
        json_object *items = enumerate(h, g, (int)pool), *arr = json_object_new_array();
        json_object_object_foreach(items, k, v) {
                json_object *it = json_object_new_object();
                json_object_object_add(it, "key", json_object_new_string(k));
                json_object_object_add(it, "value", json_object_get(v));
                json_object_array_add(arr, it);
        }
        json_object_put(items);
        *out = json_object_new_object();
        json_object_object_add(*out, "guest", json_object_new_string(g));
        json_object_object_add(*out, "pool", json_object_new_int((int)pool));
        json_object_object_add(*out, "items", arr);
        return 0;
}

static int hv_heartbeat(void *state, const char *g, json_object **out) {
        struct hv_host *h = state;
        json_object *reply = NULL;
        int r = hv_heartbeat_state(h, g, &reply);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "guest", json_object_new_string(g));
        bool alive = r >= 0 && str(reply, "answered") && strcmp(str(reply, "answered"), "1") == 0;
        json_object_object_add(o, "alive", json_object_new_boolean(alive));
        if (alive)
                json_object_object_add(o, "state", json_object_new_string(app_state_name(str(reply, "app_state"))));
        else
                json_object_object_add(o, "error", json_object_new_string(str(reply, "error") ?: "no answer"));
        json_object_put(reply);
        *out = o;
        return alive ? 0 : -ETIMEDOUT;
}

static int hv_time(void *state, const char *g, json_object **out) {
        struct hv_host *h = state;
        json_object *reply = NULL, *req = req_new("time", g);
        json_object_object_add(req, "flags", json_object_new_string("sample"));
        int r = hv_call(h, req, &reply);
        if (r < 0)
                return fail_with(reply, r, out, "time");
        /* ICTIMESYNC is one way: the host learns that the sample arrived, not the offset. */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "guest", json_object_new_string(g));
        json_object_object_add(o, "sample_sent", json_object_new_boolean(true));
        json_object_object_add(o, "status", json_object_new_string(str(reply, "status") ?: "?"));
        json_object_put(reply);
        *out = o;
        return 0;
}

static int hv_shutdown(void *state, char **guests, int n, const struct host_shutdown_opts *o, json_object **out) {
        struct hv_host *h = state;
        /* One connection per guest, every request sent before any reply is read: the
         * guests act in parallel. */
        int *fds = calloc((size_t)n, sizeof *fds);
        if (!fds)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                fds[i] = hv_connect(h->path);
                if (fds[i] < 0)
                        continue;
                json_object *req = req_new("shutdown", guests[i]);
                json_object_object_add(req, "action", json_object_new_string(o->action));
                json_object_object_add(req, "force", json_object_new_boolean(o->force));
                json_object_object_add(req, "timeout", json_object_new_int((int)o->timeout_sec));
                json_object_object_add(req, "message", json_object_new_string(o->reason ? o->reason : ""));
                if (hv_send(fds[i], req) < 0) {
                        close(fds[i]);
                        fds[i] = -1;
                }
                json_object_put(req);
        }
        json_object *arr = json_object_new_array();
        bool all_ok = true;
        for (int i = 0; i < n; i++) {
                json_object *reply = NULL;
                int r = fds[i] >= 0 ? hv_recv(fds[i], &reply) : -ECONNREFUSED;
                const char *st = r >= 0 ? str(reply, "status") : NULL;
                bool ok = st && strtoul(st, NULL, 16) == 0;
                char outcome[160];
                if (ok)
                        /* Hyper-V's shutdown IC carries only the acknowledgement. */
                        snprintf(outcome, sizeof outcome, "accepted");
                else
                        snprintf(outcome, sizeof outcome, "failed:%s",
                                 st ? st : r < 0 ? strerror(-r) : str(reply, "error") ?: "refused");
                json_object *g = json_object_new_object();
                json_object_object_add(g, "guest", json_object_new_string(guests[i]));
                json_object_object_add(g, "outcome", json_object_new_string(outcome));
                json_object_object_add(g, "ok", json_object_new_boolean(ok));
                json_object_array_add(arr, g);
                all_ok &= ok;
                json_object_put(reply);
                if (fds[i] >= 0)
                        close(fds[i]);
        }
        free(fds);
        *out = json_object_new_object();
        json_object_object_add(*out, "action", json_object_new_string(o->action));
        json_object_object_add(*out, "results", arr);
        return all_ok ? 0 : -EIO;
}

static void hv_close(void *state) {
        struct hv_host *h = state;
        if (h->fd >= 0)
                close(h->fd);
        free(h->path);
        free(h);
}

/* VSS (spec §4.5): FREEZE or THAW as a Hyper-V backup sends them, on the guest's VSS
 * ring when it owns the channel through uio, else through the kernel's relay that
 * pvic-hostsim plays. The answer is a status only: no per-mount outcomes, and
 * no lease on the wire (the guest's [HyperV] VssLease= bounds the freeze). */
static int hv_freeze(void *state, const char *g, bool thaw, unsigned lease_sec, json_object **out) {
        struct hv_host *h = state;
        const char *action = thaw ? "thaw" : "freeze";
        if (lease_sec) {
                *out = host_error("--lease: Hyper-V's VSS carries no lease; the guest's [HyperV] VssLease= applies");
                return -EINVAL;
        }
        json_object *reply = NULL, *req = req_new("vss", g);
        json_object_object_add(req, "vss_op", json_object_new_string(action));
        int r = hv_call_within(h, req, &reply, HV_FREEZE_TIMEOUT_MS);
        if (r < 0)
                return fail_with(reply, r, out, action);
        const char *st = str(reply, "status"), *by = str(reply, "answered_by"), *via = str(reply, "via");
        bool ok = st && strtoul(st, NULL, 16) == 0;
        char answer[64];
        if (ok)
                snprintf(answer, sizeof answer, "%s", thaw ? "thawed" : "frozen");
        else
                snprintf(answer, sizeof answer, "failed:%s", st ?: "no-status");
        *out = host_freeze_json(g, action, answer);
        json_object_object_add(*out, "status", json_object_new_string(st ?: "?"));
        /* "kernel": no VSS daemon in the guest; the kernel failed the request itself.
         * "host": the guest owns the channel through uio but nobody has it open. */
        if (by)
                json_object_object_add(*out, "answered_by", json_object_new_string(by));
        if (via)
                json_object_object_add(*out, "via", json_object_new_string(via));
        json_object_put(reply);
        return ok ? 0 : -EIO;
}

int host_hyperv_open(struct host_backend *b, const char *socket_path) {
        struct hv_host *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->path = strdup(socket_path);
        h->fd = h->path ? hv_connect(socket_path) : -ENOMEM;
        if (h->fd < 0) {
                int r = h->fd;
                free(h->path);
                free(h);
                return r;
        }
        *b = (struct host_backend){
                .state = h,
                .guests = hv_guests,
                .info = hv_info,
                .kvp_get = hv_kvp_get,
                .kvp_set = hv_kvp_set,
                .kvp_delete = hv_kvp_delete,
                .kvp_list = hv_kvp_list,
                .heartbeat = hv_heartbeat,
                .time = hv_time,
                .shutdown = hv_shutdown,
                .freeze = hv_freeze,
                .close = hv_close,
        };
        return 0;
}
