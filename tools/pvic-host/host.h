/* pvic-host: the host operator's CLI. Each hypervisor backend answers the same commands
 * with the same JSON documents (docs/pvic-host-json.md); the front end only renders. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>

struct host_shutdown_opts {
        const char *action; /* poweroff, reboot, halt, hibernate */
        bool force;
        const char *reason;
        unsigned timeout_sec;
};

struct host_backend {
        void *state;
        /* Each returns 0 and sets *out, or a negative errno with *out describing the error
         * when there is anything to say ({"error": "..."}). */
        int (*guests)(void *state, json_object **out);
        int (*info)(void *state, const char *guest, json_object **out);
        int (*kvp_get)(void *state, const char *guest, unsigned pool, const char *key, json_object **out);
        int (*kvp_set)(void *state, const char *guest, const char *key, const char *value, json_object **out);
        int (*kvp_delete)(void *state, const char *guest, const char *key, json_object **out);
        int (*kvp_list)(void *state, const char *guest, unsigned pool, json_object **out);
        int (*heartbeat)(void *state, const char *guest, json_object **out);
        int (*time)(void *state, const char *guest, json_object **out);
        /* Orchestrated, in parallel: out is {"results": [{guest, outcome, ...}]}; returns
         * 0 only when every guest ended with a successful outcome. */
        int (*shutdown)(void *state, char **guests, int n, const struct host_shutdown_opts *o, json_object **out);
        /* Filesystem freeze (thaw = false) or thaw of one guest: out is {guest, action,
         * state, ok, mounts: [{mount, outcome}]}; returns 0 only when ok. */
        int (*freeze)(void *state, const char *guest, bool thaw, unsigned lease_sec, json_object **out);
        void (*close)(void *state);
};

int host_xen_open(struct host_backend *b, const char *socket_path);
int host_hyperv_open(struct host_backend *b, const char *socket_path);

json_object *host_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {"guest", "pool", "key", "value"}: the answer of every kvp command; value NULL = deleted. */
/* The guest's "<state> [mount=outcome ...]" as pvic-host's freeze document. */
json_object *host_freeze_json(const char *guest, const char *action, const char *answer);
json_object *host_kv_json(const char *guest, unsigned pool, const char *key, const char *value);
