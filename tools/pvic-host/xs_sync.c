#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pvic/macro.h"
#include "pvic/xs_wire.h"
#include "xs_sync.h"

uint64_t xs_sync_now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int xs_sync_wait(struct xs_sync *s, bool (*done)(void *), void *userdata, uint64_t usec) {
        uint64_t deadline = xs_sync_now_usec() + usec;
        while (!done(userdata)) {
                uint64_t now = xs_sync_now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                int r = sd_event_run(s->event, deadline - now);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void on_state(struct xs_client *c, bool connected, void *userdata) {
        struct xs_sync *s = userdata;
        s->connected = connected;
}

static bool is_connected(void *userdata) { return ((struct xs_sync *)userdata)->connected; }

int xs_sync_open(struct xs_sync *s, const char *socket_path, uint64_t timeout_usec) {
        *s = (struct xs_sync){ .timeout_usec = timeout_usec };
        /* A CLI should fail at once on a wrong path, not retry like the daemon. */
        if (access(socket_path, F_OK) < 0)
                return -errno;
        int r = sd_event_new(&s->event);
        if (r < 0)
                return r;
        r = xs_client_new(&s->client, s->event, socket_path, on_state, s);
        if (r < 0)
                return r;
        r = xs_sync_wait(s, is_connected, s, timeout_usec);
        return r == -ETIMEDOUT ? -ECONNREFUSED : r;
}

void xs_sync_close(struct xs_sync *s) {
        s->client = xs_client_free(s->client);
        s->event = sd_event_unref(s->event);
}

struct call {
        bool done;
        int error;
        uint8_t *payload;
        size_t len;
};

static bool call_done(void *userdata) { return ((struct call *)userdata)->done; }

static void on_reply(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct call *call = userdata;
        call->done = true;
        call->error = r->error;
        if (!r->error) {
                call->payload = malloc(r->len + 1);
                if (!call->payload) {
                        call->error = ENOMEM;
                        return;
                }
                memcpy(call->payload, r->payload, r->len);
                call->payload[r->len] = 0;
                call->len = r->len;
        }
}

/* On success the reply is in call->payload. On a timeout the connection is dropped at
 * once, so no callback outlives `call`; later calls fail with -ENOTCONN. */
static int run_call(struct xs_sync *s, struct call *call, int queued) {
        if (queued < 0)
                return queued;
        int r = xs_sync_wait(s, call_done, call, s->timeout_usec);
        if (r < 0) {
                s->client = xs_client_free(s->client);
                free(call->payload);
                call->payload = NULL;
                return r;
        }
        if (call->error) {
                free(call->payload);
                call->payload = NULL;
                return -call->error;
        }
        return 0;
}

int xs_sync_read(struct xs_sync *s, const char *path, char **value) {
        if (!s->client)
                return -ENOTCONN;
        struct call call = {};
        int r = run_call(s, &call, xs_read(s->client, path, on_reply, &call));
        if (r >= 0)
                *value = (char *)call.payload;
        return r;
}

static int simple(struct xs_sync *s, uint32_t type, const void *payload, size_t len) {
        if (!s->client)
                return -ENOTCONN;
        struct call call = {};
        int r = run_call(s, &call, xs_request(s->client, type, 0, payload, len, on_reply, &call));
        free(call.payload);
        return r;
}

int xs_sync_write(struct xs_sync *s, const char *path, const char *value) {
        size_t pl = strlen(path) + 1, vl = strlen(value);
        if (pl + vl > XS_PAYLOAD_MAX)
                return -E2BIG;
        uint8_t buf[XS_PAYLOAD_MAX];
        memcpy(buf, path, pl);
        memcpy(buf + pl, value, vl);
        return simple(s, XS_WRITE, buf, pl + vl);
}

int xs_sync_rm(struct xs_sync *s, const char *path) { return simple(s, XS_RM, path, strlen(path) + 1); }

void xs_sync_strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

int xs_sync_directory(struct xs_sync *s, const char *path, char ***names) {
        if (!s->client)
                return -ENOTCONN;
        struct call call = {};
        int r = run_call(s, &call, xs_request(s->client, XS_DIRECTORY, 0, path, strlen(path) + 1, on_reply, &call));
        if (r < 0)
                return r;
        const char *parts[1024];
        int n = call.len ? xs_split_strings(call.payload, call.len, parts, ELEMENTSOF(parts)) : 0;
        char **v = n >= 0 ? calloc((size_t)n + 1, sizeof *v) : NULL;
        for (int i = 0; v && i < n; i++)
                if (!(v[i] = strdup(parts[i]))) {
                        xs_sync_strv_free(v);
                        v = NULL;
                }
        free(call.payload);
        if (n < 0)
                return n;
        if (!v)
                return -ENOMEM;
        *names = v;
        return n;
}

struct batch_call {
        bool done;
        int error;
};

static bool batch_done(void *userdata) { return ((struct batch_call *)userdata)->done; }

static void on_batch(struct xs_client *c, int error, void *userdata) {
        struct batch_call *b = userdata;
        b->done = true;
        b->error = error;
}

int xs_sync_batch(struct xs_sync *s, const struct xs_op *ops, size_t n) {
        if (!s->client)
                return -ENOTCONN;
        struct batch_call b = {};
        int r = xs_batch(s->client, ops, n, on_batch, &b);
        if (r < 0)
                return r;
        r = xs_sync_wait(s, batch_done, &b, s->timeout_usec);
        if (r < 0) {
                s->client = xs_client_free(s->client); /* cancels the batch while b lives */
                return r;
        }
        return -b.error;
}
