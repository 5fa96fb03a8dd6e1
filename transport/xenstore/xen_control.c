/* pvic's host requests on Xen (docs/xenstore-keys.md): heartbeat, orchestrated shutdown
 * and the time exchange under control/pvic/, answers under data/pvic/. Every value is
 * host data: parsed strictly, bounded, never executed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/log.h"
#include "pvic/services.h"
#include "pvic/xs_wire.h"
#include "xen_control.h"
#include "xen_control_parse.h"

#define CONTROL_DIR "control/pvic"
#define VALUE_MAX 256u

/* A read whose reply is handed to fn with the value as a NUL-terminated string (NULL on
 * error: ENOENT and friends). */
struct read_ctx {
        struct xen_control *x;
        void (*fn)(struct xen_control *x, const char *value, int error, void *extra);
        void *extra;
};

static void on_read(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct read_ctx *ctx = userdata;
        char value[VALUE_MAX];
        bool ok = !r->error && r->len < sizeof value && !memchr(r->payload, 0, r->len);
        if (ok) {
                memcpy(value, r->payload, r->len);
                value[r->len] = 0;
        }
        if (r->error != ECONNRESET && r->error != ECANCELED)
                ctx->fn(ctx->x, ok ? value : NULL, r->error ? r->error : ok ? 0 : E2BIG, ctx->extra);
        free(ctx);
}

static int read_key(struct xen_control *x, const char *path,
                    void (*fn)(struct xen_control *, const char *, int, void *), void *extra) {
        struct read_ctx *ctx = malloc(sizeof *ctx);
        if (!ctx)
                return -ENOMEM;
        *ctx = (struct read_ctx){ x, fn, extra };
        int r = xs_read(x->xs, path, on_read, ctx);
        if (r < 0)
                free(ctx);
        return r;
}

static void on_write(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        if (r->error && r->error != ECONNRESET && r->error != ECANCELED)
                log_warning_errno(r->error, "xen: writing an answer under data/pvic failed: %m");
}

static void answer(struct xen_control *x, const char *path, const char *value) {
        int r = xs_write(x->xs, 0, path, value, on_write, x);
        if (r < 0)
                log_warning_errno(r, "xen: cannot write %s: %m", path);
}

/* Heartbeat: the answer comes from the main loop, so a wedged loop is a silent guest. */
static const char *app_state_name(enum host_app_state s) {
        switch (s) {
        case HOST_APP_HEALTHY: return "healthy";
        case HOST_APP_CRITICAL: return "critical";
        case HOST_APP_STOPPED: return "stopped";
        default: return "unknown";
        }
}

static void on_heartbeat(struct xen_control *x, const char *value, int error, void *extra) {
        if (!value || !xen_token_ok(value) || strcmp(value, x->last_heartbeat) == 0)
                return;
        snprintf(x->last_heartbeat, sizeof x->last_heartbeat, "%s", value);
        struct host_heartbeat hb = { .sequence = strtoull(value, NULL, 10) };
        char reply[VALUE_MAX];
        snprintf(reply, sizeof reply, "%s %s", value, app_state_name(pvicd_heartbeat(x->d, &hb)));
        answer(x, "data/pvic/heartbeat", reply);
}

/* Shutdown: control/pvic/shutdown/{action,force,reason,timeout,id}, id written last by the
 * host in the same transaction. data/pvic/shutdown = "<id> <state>" as it progresses. */
struct shutdown_read {
        char id[72];
        char action[32], force[8], reason[VALUE_MAX], timeout[16];
        unsigned pending;
        bool failed;
};

/* Each request's reports carry its own id, even while another is being refused. */
struct shutdown_job {
        struct xen_control *x;
        char id[72];
};

static void on_shutdown_report(const struct shutdown_report *r, void *userdata) {
        struct shutdown_job *job = userdata;
        struct xen_control *x = job->x;
        char reply[VALUE_MAX + 80];
        snprintf(reply, sizeof reply, "%s %s", job->id, r->text);
        log_info("xen: shutdown request %s: %s", job->id, r->text);
        if (x->xs && xs_client_is_connected(x->xs))
                answer(x, "data/pvic/shutdown", reply);
        if (r->final)
                free(job);
}

static void shutdown_request_ready(struct xen_control *x, struct shutdown_read *s) {
        char reply[VALUE_MAX];
        struct host_shutdown req = {};
        int action = shutdown_action_from_string(s->action);
        int64_t timeout = 0;
        if (s->failed || action < 0 || (s->timeout[0] && (!xen_parse_i64(s->timeout, &timeout) || timeout < 0 ||
                                                          timeout > 86400))) {
                snprintf(reply, sizeof reply, "%s refused:malformed-request", s->id);
                log_warning("xen: malformed shutdown request %s (action '%s')", s->id, s->action);
                answer(x, "data/pvic/shutdown", reply);
                return;
        }
        req.action = (enum host_shutdown_action)action;
        req.force = strcmp(s->force, "1") == 0;
        req.timeout_sec = (uint32_t)timeout;
        snprintf(req.message, sizeof req.message, "%s", s->reason);
        log_notice("xen: host requests %s (id %s, force %d, timeout %u s, reason '%s')", s->action, s->id,
                   req.force, req.timeout_sec, req.message);
        struct shutdown_job *job = calloc(1, sizeof *job);
        int r = -ENOMEM;
        if (job) {
                job->x = x;
                snprintf(job->id, sizeof job->id, "%s", s->id);
                r = pvicd_shutdown(x->d, &req, on_shutdown_report, job);
                if (r < 0)
                        free(job);
        }
        if (r < 0) {
                snprintf(reply, sizeof reply, "%s failed:unavailable", s->id);
                answer(x, "data/pvic/shutdown", reply);
        }
}

static void shutdown_read_put(struct xen_control *x) {
        struct shutdown_read *s = x->shutdown_read;
        if (--s->pending > 0)
                return;
        x->shutdown_read = NULL;
        shutdown_request_ready(x, s);
        free(s);
}

static void on_shutdown_field(struct xen_control *x, const char *value, int error, void *extra) {
        /* extra points at the field to fill inside the heap shutdown_read. */
        char *field = extra;
        struct shutdown_read *s = x->shutdown_read;
        if (!s)
                return;
        size_t cap = field == s->reason ? sizeof s->reason : field == s->action ? sizeof s->action
                   : field == s->force ? sizeof s->force : sizeof s->timeout;
        if (value)
                snprintf(field, cap, "%s", value);
        else if (error != ENOENT || field == s->action)
                s->failed = true;
        shutdown_read_put(x);
}

static void on_shutdown_previous(struct xen_control *x, const char *value, int error, void *extra) {
        struct shutdown_read *s = x->shutdown_read;
        if (!s)
                return;
        /* Our own earlier answer names this id: it was handled (perhaps before a restart
         * of pvicd, whose initial watch fire brought us here). Never run it twice. */
        size_t n = strlen(s->id);
        if (value && strncmp(value, s->id, n) == 0 && value[n] == ' ') {
                log_debug("xen: shutdown request %s was already answered", s->id);
                x->shutdown_read = NULL;
                free(s);
                return;
        }
        static const char *const names[] = { "action", "force", "reason", "timeout" };
        char *fields[] = { s->action, s->force, s->reason, s->timeout };
        s->pending = 1;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char path[64];
                snprintf(path, sizeof path, CONTROL_DIR "/shutdown/%s", names[i]);
                if (read_key(x, path, on_shutdown_field, fields[i]) == 0)
                        s->pending++;
        }
        shutdown_read_put(x); /* the hold taken above */
}

static void on_shutdown_id(struct xen_control *x, const char *value, int error, void *extra) {
        if (!value || !xen_token_ok(value) || strcmp(value, x->last_shutdown_id) == 0 || x->shutdown_read)
                return;
        snprintf(x->last_shutdown_id, sizeof x->last_shutdown_id, "%s", value);
        struct shutdown_read *s = calloc(1, sizeof *s);
        if (!s)
                return;
        snprintf(s->id, sizeof s->id, "%s", value);
        x->shutdown_read = s;
        if (read_key(x, "data/pvic/shutdown", on_shutdown_previous, NULL) < 0) {
                x->shutdown_read = NULL;
                free(s);
        }
}

/* Time: host "<seq> <t1>" → guest "<seq> <t1> <t2> <t3>" → host "<seq> <t1> <t2> <t3> <t4>";
 * only a result that echoes our own t2/t3 is used, so the host cannot invent them. */
static int64_t realtime_ns(struct xen_control *x) {
        struct tsync_rx rx;
        pvicd_time_rx_now(x->d, &rx);
        return rx.realtime_ns;
}

static void on_time_request(struct xen_control *x, const char *value, int error, void *extra) {
        char seq[XEN_TOKEN_MAX + 1];
        int64_t t1;
        if (!value || xen_time_request_parse(value, seq, &t1) < 0 || strcmp(seq, x->time_seq) == 0)
                return;
        int64_t t2 = realtime_ns(x);
        snprintf(x->time_seq, sizeof x->time_seq, "%s", seq);
        x->time_t1 = t1;
        x->time_t2 = t2;
        x->time_t3 = realtime_ns(x);
        char reply[VALUE_MAX];
        snprintf(reply, sizeof reply, "%s %" PRId64 " %" PRId64 " %" PRId64, seq, t1, t2, x->time_t3);
        answer(x, "data/pvic/time", reply);
}

static void on_time_result(struct xen_control *x, const char *value, int error, void *extra) {
        int64_t offset, delay; /* host - guest; round trip */
        if (!value || !x->time_seq[0])
                return;
        int r = xen_time_result_parse(value, x->time_seq, x->time_t1, x->time_t2, x->time_t3,
                                      10 * INT64_C(1000000000), &offset, &delay);
        if (r == -ESRCH) {
                log_debug("xen: time result for an exchange we did not answer; ignored");
                return;
        }
        if (r < 0) {
                log_info("xen: time result '%.80s' rejected: %s", value,
                         r == -ERANGE ? "round trip out of range" : "malformed");
                if (r == -ERANGE)
                        x->time_seq[0] = 0;
                return;
        }
        x->time_seq[0] = 0; /* one result per exchange */
        /* Present it as an exchange that ends now: the filter then computes exactly the
         * NTP offset with the measured delay. */
        struct tsync_rx rx;
        pvicd_time_rx_now(x->d, &rx);
        rx.send_realtime_ns = rx.realtime_ns - delay;
        struct host_time_sample s = {
                .host_time_ns = rx.realtime_ns + offset - delay / 2,
                .flags = HOST_TIME_SAMPLE,
        };
        pvicd_time_sample(x->d, &s, &rx);
        char state[VALUE_MAX];
        snprintf(state, sizeof state, "offset_ns=%" PRId64 " delay_ns=%" PRId64, offset, delay);
        answer(x, "data/pvic/time-state", state);
}

void xen_control_event(struct xen_control *x, const char *path) {
        size_t dl = strlen(CONTROL_DIR);
        if (strncmp(path, CONTROL_DIR, dl) != 0)
                return;
        const char *rest = path[dl] == '/' ? path + dl + 1 : path[dl] == 0 ? "" : NULL;
        if (!rest)
                return;
        /* The directory itself (initial fire, resume): look at everything once. */
        bool all = rest[0] == 0;
        if (all || strcmp(rest, "heartbeat") == 0)
                read_key(x, CONTROL_DIR "/heartbeat", on_heartbeat, NULL);
        if (all || strcmp(rest, "shutdown") == 0 || strcmp(rest, "shutdown/id") == 0)
                read_key(x, CONTROL_DIR "/shutdown/id", on_shutdown_id, NULL);
        if (strcmp(rest, "time") == 0)
                read_key(x, CONTROL_DIR "/time", on_time_request, NULL);
        if (strcmp(rest, "time-result") == 0)
                read_key(x, CONTROL_DIR "/time-result", on_time_result, NULL);
        xen_freeze_event(x, rest);
}

/* control/shutdown belongs to the kernel (spec §4.4): we only say what we saw. */
/* One request makes two events (the toolstack's write, the kernel's clearing) and a
 * resume re-fires the watch right after the suspend's: events closer than this to the
 * one before belong to the same burst, which gets one line. Monotonic time stops while
 * the domain is saved, so a suspend and its resume's events stay one burst. */
#define TOOLSTACK_BURST_USEC (1u * 1000000u)

static void on_toolstack_shutdown(struct xen_control *x, const char *value, int error, void *extra) {
        bool same_burst = extra != NULL;
        if (value && value[0])
                log_notice("xen: the toolstack requested '%s' through control/shutdown; the kernel carries it out",
                           value);
        else if (x->toolstack_events > 1 && !same_burst)
                /* The kernel acknowledges in the same transaction that it reads the request,
                 * so by the time we read, the value is usually gone: say what we saw. */
                log_notice("xen: control/shutdown changed and was already acknowledged (by the kernel); "
                           "a toolstack shutdown request is being carried out");
}

void xen_control_toolstack_event(struct xen_control *x, const char *path) {
        uint64_t now = 0;
        sd_event_now(x->d->event, CLOCK_MONOTONIC, &now);
        bool same_burst = x->toolstack_event_usec && now - x->toolstack_event_usec < TOOLSTACK_BURST_USEC;
        x->toolstack_event_usec = now;
        /* The first event after (re)connecting is the watch's initial fire, not a request. */
        x->toolstack_events++;
        read_key(x, "control/shutdown", on_toolstack_shutdown, same_burst ? (void *)x : NULL);
}

void xen_control_init(struct xen_control *x, struct pvicd *d, struct xs_client *xs) {
        *x = (struct xen_control){ .d = d, .xs = xs };
}

void xen_control_disconnected(struct xen_control *x) {
        x->toolstack_events = 0;
        /* A request half read when the connection dropped is read again after it. */
        if (x->shutdown_read) {
                free(x->shutdown_read);
                x->shutdown_read = NULL;
                x->last_shutdown_id[0] = 0;
        }
}

void xen_control_done(struct xen_control *x) {
        free(x->shutdown_read);
        x->shutdown_read = NULL;
}
