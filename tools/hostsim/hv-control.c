/* The control socket of pvic-hostsim hyperv: one JSON object per line in, one per line
 * out (docs/hostsim-hyperv.md). A request that needs the guest's answer parks the
 * client on the channel until the answer, a hang-up or a timeout. */
#include <errno.h>
#include <time.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv-sim.h"
#include "pvic/freeze.h"
#include "pvic/macro.h"

#define CLIENT_LINE_MAX 65536u
#define WAIT_TIMEOUT_USEC (10u * 1000u * 1000u)
/* A VSS freeze runs the guest's pre-freeze hooks first (10 s each); the kernel itself
 * gives a freeze minutes. */
#define VSS_WAIT_TIMEOUT_USEC (60u * 1000u * 1000u)

struct hv_client {
        struct hv_sim *sim;
        int fd;
        sd_event_source *src;
        char buf[CLIENT_LINE_MAX];
        size_t len;
        bool busy;             /* a request is parked on a channel */
        sd_event_source *timer;
        struct hv_wait *wait;  /* where it is parked */
        sd_event_source *more; /* defer: lines that arrived while it was parked */
};

static void client_process(struct hv_client *cl);

static void client_free(struct hv_client *cl) {
        if (cl->wait) {
                cl->wait->kind = HV_WAIT_NONE;
                cl->wait->client = NULL;
        }
        cl->timer = sd_event_source_disable_unref(cl->timer);
        cl->more = sd_event_source_disable_unref(cl->more);
        cl->src = sd_event_source_disable_unref(cl->src);
        close(cl->fd);
        free(cl);
}

static void send_json(struct hv_client *cl, struct json_object *o) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        size_t n = strlen(s);
        /* Small replies on a local socket; a client that stops reading loses them. */
        if (write(cl->fd, s, n) < 0 || write(cl->fd, "\n", 1) < 0)
                fprintf(stderr, "pvic-hostsim hyperv: control client write failed: %s\n", strerror(errno));
        json_object_put(o);
}

static void reply_error(struct hv_client *cl, const char *fmt, ...) _printf_(2, 3);
static void reply_error(struct hv_client *cl, const char *fmt, ...) {
        char text[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "error", json_object_new_string(text));
        send_json(cl, o);
}

static int on_more(sd_event_source *s, void *userdata) {
        struct hv_client *cl = userdata;
        cl->more = sd_event_source_disable_unref(cl->more);
        client_process(cl);
        return 0;
}

void hv_client_reply(struct hv_client *cl, struct json_object *o) {
        cl->busy = false;
        cl->wait = NULL;
        cl->timer = sd_event_source_disable_unref(cl->timer);
        send_json(cl, o);
        /* Requests pipelined behind a parked one are already in the buffer: no read will
         * announce them, so handle them from the loop. */
        if (!cl->more && memchr(cl->buf, '\n', cl->len))
                (void)sd_event_add_defer(sd_event_source_get_event(cl->src), &cl->more, on_more, cl);
}

static struct json_object *ok_object(void) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(1));
        return o;
}

static void add_status(struct json_object *o, uint32_t status) {
        char s[16];
        snprintf(s, sizeof s, "0x%08x", status);
        json_object_object_add(o, "status", json_object_new_string(s));
}

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return (x > y) - (x < y);
}

/* p50/p99 of the series' round trips (host send -> guest reply seen), in µs. */
static void add_rtt(struct json_object *o, struct hv_wait *w) {
        if (!w->n_rtt)
                return;
        qsort(w->rtt_us, w->n_rtt, sizeof *w->rtt_us, cmp_u32);
        json_object_object_add(o, "rtt_us_p50", json_object_new_int64(w->rtt_us[w->n_rtt / 2]));
        json_object_object_add(o, "rtt_us_p99", json_object_new_int64(w->rtt_us[(w->n_rtt * 99) / 100]));
}

static void wait_finish(struct hv_wait *w, struct json_object *o) {
        free(w->rtt_us);
        w->rtt_us = NULL;
        w->n_rtt = w->cap_rtt = 0;
        struct hv_client *cl = w->client;
        w->kind = HV_WAIT_NONE;
        w->client = NULL;
        if (cl)
                hv_client_reply(cl, o);
        else
                json_object_put(o);
}

static void wait_fail(struct hv_wait *w, const char *why) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(0));
        json_object_object_add(o, "error", json_object_new_string(why));
        if (w->kind == HV_WAIT_HEARTBEAT) {
                json_object_object_add(o, "sent", json_object_new_int64((int64_t)w->sent));
                json_object_object_add(o, "answered", json_object_new_int64((int64_t)w->answered));
                json_object_object_add(o, "bad", json_object_new_int64((int64_t)w->bad));
        }
        wait_finish(w, o);
}

static void add_kvp_reply(struct json_object *o, const struct host_kvp_reply *r, enum host_kvp_op op) {
        if (op == HOST_KVP_ENUMERATE)
                json_object_object_add(o, "key", json_object_new_string(r->key));
        if (op == HOST_KVP_ENUMERATE || op == HOST_KVP_GET)
                json_object_object_add(o, "value", json_object_new_string(r->value));
        if (op == HOST_KVP_GET_IP_INFO) {
                json_object_object_add(o, "ip", json_object_new_string(r->ip.ip_addr));
                json_object_object_add(o, "subnet", json_object_new_string(r->ip.sub_net));
                json_object_object_add(o, "gateway", json_object_new_string(r->ip.gate_way));
                json_object_object_add(o, "dns", json_object_new_string(r->ip.dns_addr));
                json_object_object_add(o, "dhcp", json_object_new_boolean(r->ip.dhcp_enabled));
        }
}

void hv_wait_done_channel(struct hv_channel *c, int error, const uint8_t *pkt, size_t len) {
        struct hv_wait *w = &c->wait;
        struct vmbus_ic_header h = {};
        if (error == 0 && vmbus_ic_header_decode(pkt, len, &h) < 0)
                error = -EBADMSG;

        /* Heartbeat answers are checked whoever asked: healthy <=> seq + 1 (§9). */
        uint64_t seq = 0;
        uint32_t app = 0;
        bool hb_ok = false;
        if (error == 0 && c->ic == HV_IC_HEARTBEAT) {
                hb_ok = vmbus_ic_heartbeat_reply_decode(pkt, len, &seq, &app) >= 0 && h.status == 0 &&
                        seq == c->seq + 1;
                if (!hb_ok)
                        c->bad_replies++;
        }
        if (w->kind == HV_WAIT_NONE)
                return;
        if (error < 0) {
                wait_fail(w, error == -ECONNRESET ? "the guest closed the channel" : "malformed reply");
                return;
        }
        struct json_object *o;
        switch (w->kind) {
        case HV_WAIT_HEARTBEAT:
                w->answered++;
                if (w->n_rtt < w->cap_rtt)
                        w->rtt_us[w->n_rtt++] = (uint32_t)MIN(mono_usec() - w->sent_at_usec, UINT32_MAX);
                if (!hb_ok)
                        w->bad++;
                w->app_state = app;
                if (w->sent < w->count) {
                        int r = hv_send_heartbeat(c);
                        if (r < 0) {
                                wait_fail(w, strerror(-r));
                                return;
                        }
                        w->sent++;
                        w->sent_at_usec = mono_usec();
                        if (w->client)
                                sd_event_source_set_time_relative(w->client->timer, WAIT_TIMEOUT_USEC);
                        return;
                }
                o = ok_object();
                json_object_object_add(o, "sent", json_object_new_int64((int64_t)w->sent));
                json_object_object_add(o, "answered", json_object_new_int64((int64_t)w->answered));
                json_object_object_add(o, "bad", json_object_new_int64((int64_t)w->bad));
                json_object_object_add(o, "last_seq", json_object_new_int64((int64_t)seq));
                json_object_object_add(o, "app_state", json_object_new_int64(app));
                add_rtt(o, w);
                wait_finish(w, o);
                return;
        case HV_WAIT_SHUTDOWN:
        case HV_WAIT_TIME:
                o = ok_object();
                add_status(o, h.status);
                wait_finish(w, o);
                return;
        case HV_WAIT_VSS: {
                uint32_t st = VMBUS_IC_E_FAIL, fl = 0;
                if (vmbus_ic_vss_reply_decode(pkt, len, &st, &fl) < 0) {
                        wait_fail(w, "malformed reply");
                        return;
                }
                o = ok_object();
                add_status(o, st);
                if (w->vss_op == VSS_OP_HOT_BACKUP || w->vss_op == VSS_OP_GET_DM_INFO)
                        json_object_object_add(o, "flags", json_object_new_int64(fl));
                json_object_object_add(o, "answered_by", json_object_new_string("daemon"));
                json_object_object_add(o, "via", json_object_new_string("uio"));
                wait_finish(w, o);
                return;
        }
        case HV_WAIT_KVP: {
                struct host_kvp_reply *r = calloc(1, sizeof *r);
                o = ok_object();
                add_status(o, h.status);
                if (r && vmbus_ic_kvp_reply_decode(pkt, len, r) >= 0 && r->status == HOST_STATUS_OK)
                        add_kvp_reply(o, r, w->kvp_op);
                json_object_object_add(o, "via", json_object_new_string("uio"));
                free(r);
                wait_finish(w, o);
                return;
        }
        default:
                return;
        }
}

void hv_wait_done_relay(struct hv_relay *rl, int error, const struct host_kvp_reply *reply) {
        struct hv_wait *w = &rl->wait;
        if (w->kind == HV_WAIT_NONE)
                return;
        if (error < 0 || !reply) {
                wait_fail(w, error == -ECONNRESET ? "the daemon closed the device" : "malformed reply");
                return;
        }
        struct json_object *o = ok_object();
        add_status(o, vmbus_ic_status_to_hresult(reply->status));
        if (reply->status == HOST_STATUS_OK)
                add_kvp_reply(o, reply, w->kvp_op);
        json_object_object_add(o, "via", json_object_new_string("relay"));
        wait_finish(w, o);
}

void hv_wait_done_vss(struct hv_vss *v, int error, uint32_t status, uint32_t flags) {
        struct hv_wait *w = &v->wait;
        if (w->kind == HV_WAIT_NONE)
                return;
        if (error < 0) {
                wait_fail(w, error == -ECONNRESET ? "the daemon closed the device" : "malformed reply");
                return;
        }
        struct json_object *o = ok_object();
        add_status(o, status);
        /* Only HOT_BACKUP's answer carries flags the kernel passes to the host. */
        if (w->vss_op == VSS_OP_HOT_BACKUP)
                json_object_object_add(o, "flags", json_object_new_int64(flags));
        json_object_object_add(o, "answered_by", json_object_new_string("daemon"));
        json_object_object_add(o, "via", json_object_new_string("relay"));
        wait_finish(w, o);
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct hv_client *cl = userdata;
        if (cl->wait)
                wait_fail(cl->wait, "timed out waiting for the guest");
        return 0;
}

static int park_for(struct hv_client *cl, struct hv_wait *w, enum hv_wait_kind kind, uint64_t timeout_usec) {
        w->kind = kind;
        w->client = cl;
        cl->busy = true;
        cl->wait = w;
        return sd_event_add_time_relative(cl->sim->event, &cl->timer, CLOCK_MONOTONIC, timeout_usec, 0,
                                          on_wait_timeout, cl);
}

static int park(struct hv_client *cl, struct hv_wait *w, enum hv_wait_kind kind) {
        return park_for(cl, w, kind, WAIT_TIMEOUT_USEC);
}

static struct hv_guest *find_guest(struct hv_sim *sim, struct json_object *req) {
        struct json_object *g;
        if (!json_object_object_get_ex(req, "guest", &g))
                return sim->n_guests == 1 ? &sim->guests[0] : NULL;
        if (json_object_is_type(g, json_type_int)) {
                int64_t i = json_object_get_int64(g);
                return i >= 0 && (uint64_t)i < sim->n_guests ? &sim->guests[i] : NULL;
        }
        const char *name = json_object_get_string(g);
        for (unsigned i = 0; name && i < sim->n_guests; i++)
                if (strcmp(sim->guests[i].name, name) == 0)
                        return &sim->guests[i];
        return NULL;
}

static const char *get_str(struct json_object *req, const char *key, const char *def) {
        struct json_object *v;
        return json_object_object_get_ex(req, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : def;
}

static int64_t get_int(struct json_object *req, const char *key, int64_t def) {
        struct json_object *v;
        return json_object_object_get_ex(req, key, &v) ? json_object_get_int64(v) : def;
}

static bool get_bool(struct json_object *req, const char *key) {
        struct json_object *v;
        return json_object_object_get_ex(req, key, &v) && json_object_get_boolean(v);
}

static struct json_object *guest_json(const struct hv_guest *g) {
        struct json_object *o = json_object_new_object(), *chs = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(g->name));
        json_object_object_add(o, "index", json_object_new_int((int)g->index));
        json_object_object_add(o, "root", json_object_new_string(g->root));
        for (unsigned i = 0; i < _HV_IC_MAX; i++) {
                const struct hv_channel *c = &g->ch[i];
                struct json_object *co = json_object_new_object();
                char v[32];
                json_object_object_add(co, "open", json_object_new_boolean(c->fd >= 0));
                json_object_object_add(co, "negotiated", json_object_new_boolean(c->negotiated));
                snprintf(v, sizeof v, "%u.%u", c->fw.major, c->fw.minor);
                json_object_object_add(co, "framework", json_object_new_string(v));
                snprintf(v, sizeof v, "%u.%u", c->msgver.major, c->msgver.minor);
                json_object_object_add(co, "version", json_object_new_string(v));
                json_object_object_add(co, "opens", json_object_new_int((int)c->connects));
                json_object_object_add(co, "offered", json_object_new_boolean(c->lfd >= 0));
                json_object_object_add(co, "replies", json_object_new_int64((int64_t)c->replies));
                json_object_object_add(co, "bad_replies", json_object_new_int64((int64_t)c->bad_replies));
                if (i == HV_IC_HEARTBEAT) {
                        json_object_object_add(co, "periodic_sent", json_object_new_int64((int64_t)c->hb_periodic_sent));
                        json_object_object_add(co, "missed", json_object_new_int64((int64_t)c->hb_missed));
                }
                json_object_object_add(co, "uio", json_object_new_string(c->uio));
                json_object_object_add(chs, hv_ic_name(i), co);
        }
        json_object_object_add(o, "channels", chs);
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "open", json_object_new_boolean(g->relay.fd >= 0));
        json_object_object_add(r, "registered", json_object_new_boolean(g->relay.registered));
        json_object_object_add(r, "opens", json_object_new_int((int)g->relay.connects));
        json_object_object_add(o, "kvp_relay", r);
        r = json_object_new_object();
        json_object_object_add(r, "present", json_object_new_boolean(g->vss.path != NULL));
        json_object_object_add(r, "open", json_object_new_boolean(g->vss.fd >= 0));
        json_object_object_add(r, "registered", json_object_new_boolean(g->vss.registered));
        json_object_object_add(r, "opens", json_object_new_int((int)g->vss.connects));
        json_object_object_add(o, "vss_relay", r);
        return o;
}

static int kvp_op_from_string(const char *s) {
        static const char *const names[] = { "get", "set", "delete", "enumerate", "get_ip_info", "set_ip_info" };
        for (unsigned i = 0; s && i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

/* The operations the kernel passes on to the VSS daemon, and GET_DM_INFO, which it
 * answers itself (a uio guest answers it on the ring). */
static int vss_op_from_string(const char *s) {
        static const struct {
                const char *name;
                uint8_t op;
        } ops[] = { { "freeze", VSS_OP_FREEZE }, { "thaw", VSS_OP_THAW }, { "hot_backup", VSS_OP_HOT_BACKUP },
                    { "get_dm_info", VSS_OP_GET_DM_INFO } };
        for (unsigned i = 0; s && i < ELEMENTSOF(ops); i++)
                if (strcmp(s, ops[i].name) == 0)
                        return ops[i].op;
        return -EINVAL;
}

/* An answer nobody on the guest gave: the kernel's (relay, no daemon registered) or the
 * host's own (uio, nobody has the channel open). */
static void vss_fail_here(struct hv_client *cl, const char *by, const char *via, uint32_t status) {
        struct json_object *o = ok_object();
        add_status(o, status);
        json_object_object_add(o, "answered_by", json_object_new_string(by));
        json_object_object_add(o, "via", json_object_new_string(via));
        send_json(cl, o);
}

/* VSS on a uio-bound channel: the host's request goes on the ring. */
static void handle_vss_uio(struct hv_client *cl, struct hv_channel *c, int op) {
        if (c->wait.kind != HV_WAIT_NONE) {
                reply_error(cl, "busy");
                return;
        }
        int r = hv_send_vss(c, (uint8_t)op);
        if (r == -ENOTCONN) {
                vss_fail_here(cl, "host", "uio", VSS_HV_E_FAIL);
                return;
        }
        if (r < 0) {
                reply_error(cl, "vss: %s", strerror(-r));
                return;
        }
        c->wait.vss_op = (uint8_t)op;
        park_for(cl, &c->wait, HV_WAIT_VSS, VSS_WAIT_TIMEOUT_USEC);
}

static void handle_vss(struct hv_client *cl, struct hv_guest *g, struct json_object *req) {
        struct hv_vss *v = &g->vss;
        int op = vss_op_from_string(get_str(req, "vss_op", NULL));
        if (op < 0) {
                reply_error(cl, "bad vss_op (freeze, thaw, hot_backup or get_dm_info)");
                return;
        }
        if (!(g->sim->kernel_ics & (1u << HV_IC_VSS))) {
                handle_vss_uio(cl, &g->ch[HV_IC_VSS], op);
                return;
        }
        if (!v->path) {
                reply_error(cl, "vss: this guest has no hv_vss (--no-vss)");
                return;
        }
        if (op == VSS_OP_GET_DM_INFO) {
                /* hv_snapshot.c answers it itself, flags 0, whoever is registered. */
                vss_fail_here(cl, "kernel", "relay", VSS_HV_S_OK);
                return;
        }
        if (v->wait.kind != HV_WAIT_NONE) {
                reply_error(cl, "busy");
                return;
        }
        int r = hv_vss_send(v, (uint8_t)op);
        if (r == -ENOTCONN) {
                /* hv_snapshot with no daemon registered fails the request at once. */
                vss_fail_here(cl, "kernel", "relay", VSS_HV_E_FAIL);
                return;
        }
        if (r < 0) {
                reply_error(cl, "vss: %s", strerror(-r));
                return;
        }
        v->wait.vss_op = (uint8_t)op;
        park_for(cl, &v->wait, HV_WAIT_VSS, VSS_WAIT_TIMEOUT_USEC);
}

static void handle(struct hv_client *cl, struct json_object *req) {
        struct hv_sim *sim = cl->sim;
        const char *op = get_str(req, "op", "");
        struct hv_guest *g;
        int r;

        if (strcmp(op, "guests") == 0) {
                struct json_object *o = ok_object(), *a = json_object_new_array();
                for (unsigned i = 0; i < sim->n_guests; i++)
                        json_object_array_add(a, guest_json(&sim->guests[i]));
                json_object_object_add(o, "guests", a);
                send_json(cl, o);
                return;
        }
        static const char *const guest_ops[] = { "heartbeat", "shutdown", "time", "kvp", "vss", "corrupt", "rescind", "offer" };
        bool known = false;
        for (unsigned i = 0; i < ELEMENTSOF(guest_ops); i++)
                known = known || strcmp(op, guest_ops[i]) == 0;
        if (!known) {
                reply_error(cl, "unknown op '%s'", op);
                return;
        }
        g = find_guest(sim, req);
        if (!g) {
                reply_error(cl, "no such guest");
                return;
        }
        if (strcmp(op, "heartbeat") == 0) {
                struct hv_channel *c = &g->ch[HV_IC_HEARTBEAT];
                int64_t n = get_int(req, "count", 1);
                if (n < 1 || n > 10000000 || c->wait.kind != HV_WAIT_NONE) {
                        reply_error(cl, n < 1 || n > 10000000 ? "bad count" : "busy");
                        return;
                }
                c->wait = (struct hv_wait){ .count = (unsigned long)n };
                /* Bounded: percentiles from the first 100,000 round trips of a series. */
                c->wait.cap_rtt = MIN((size_t)n, (size_t)100000);
                c->wait.rtt_us = malloc(c->wait.cap_rtt * sizeof *c->wait.rtt_us);
                if (!c->wait.rtt_us)
                        c->wait.cap_rtt = 0;
                c->wait.sent_at_usec = mono_usec();
                if ((r = hv_send_heartbeat(c)) < 0) {
                        free(c->wait.rtt_us);
                        c->wait.rtt_us = NULL;
                        reply_error(cl, "heartbeat: %s", strerror(-r));
                        return;
                }
                c->wait.sent = 1;
                park(cl, &c->wait, HV_WAIT_HEARTBEAT);
        } else if (strcmp(op, "shutdown") == 0) {
                struct hv_channel *c = &g->ch[HV_IC_SHUTDOWN];
                const char *action = get_str(req, "action", "poweroff");
                uint32_t flags = strcmp(action, "reboot") == 0      ? VMBUS_IC_SHUTDOWN_FLAG_RESTART
                                 : strcmp(action, "hibernate") == 0 ? VMBUS_IC_SHUTDOWN_FLAG_HIBERNATE
                                                                    : 0;
                if (strcmp(action, "poweroff") != 0 && flags == 0) {
                        /* Raw flags for tests of odd values. */
                        flags = (uint32_t)get_int(req, "flags", 0);
                }
                if (get_bool(req, "force"))
                        flags |= VMBUS_IC_SHUTDOWN_FLAG_FORCE;
                if (c->wait.kind != HV_WAIT_NONE) {
                        reply_error(cl, "busy");
                        return;
                }
                r = hv_send_shutdown(c, flags, (uint32_t)get_int(req, "reason", 0x80000000),
                                     (uint32_t)get_int(req, "timeout", 60), get_str(req, "message", ""));
                if (r < 0) {
                        reply_error(cl, "shutdown: %s", strerror(-r));
                        return;
                }
                park(cl, &c->wait, HV_WAIT_SHUTDOWN);
        } else if (strcmp(op, "time") == 0) {
                struct hv_channel *c = &g->ch[HV_IC_TIMESYNC];
                const char *f = get_str(req, "flags", "sample");
                unsigned flags = strcmp(f, "sync") == 0 ? VMBUS_IC_TIMESYNC_FLAG_SYNC
                                 : strcmp(f, "probe") == 0 ? 0
                                                           : VMBUS_IC_TIMESYNC_FLAG_SAMPLE;
                if (c->wait.kind != HV_WAIT_NONE) {
                        reply_error(cl, "busy");
                        return;
                }
                r = hv_send_time(c, flags, VMBUS_ICMSGHDRFLAG_TRANSACTION | VMBUS_ICMSGHDRFLAG_REQUEST);
                if (r < 0) {
                        reply_error(cl, "time: %s", strerror(-r));
                        return;
                }
                park(cl, &c->wait, HV_WAIT_TIME);
        } else if (strcmp(op, "kvp") == 0) {
                struct host_kvp_request *kr = calloc(1, sizeof *kr);
                int kop = kvp_op_from_string(get_str(req, "kvp_op", NULL));
                if (!kr || kop < 0) {
                        free(kr);
                        reply_error(cl, "bad kvp_op");
                        return;
                }
                kr->op = (enum host_kvp_op)kop;
                kr->pool = (uint8_t)get_int(req, "pool", 0);
                kr->index = (uint32_t)get_int(req, "index", 0);
                snprintf(kr->key, sizeof kr->key, "%s", get_str(req, "key", ""));
                snprintf(kr->value, sizeof kr->value, "%s", get_str(req, "value", ""));
                snprintf(kr->ip.adapter_id, sizeof kr->ip.adapter_id, "%s", get_str(req, "adapter", ""));
                const char *via = get_str(req, "via", NULL);
                struct hv_channel *c = &g->ch[HV_IC_KVP];
                bool uio = via ? strcmp(via, "uio") == 0 : c->negotiated;
                struct hv_wait *w = uio ? &c->wait : &g->relay.wait;
                if (w->kind != HV_WAIT_NONE) {
                        free(kr);
                        reply_error(cl, "busy");
                        return;
                }
                r = uio ? hv_send_kvp(c, kr) : hv_relay_send(&g->relay, kr);
                free(kr);
                if (r < 0) {
                        reply_error(cl, "kvp via %s: %s", uio ? "uio" : "relay", strerror(-r));
                        return;
                }
                w->kvp_op = (enum host_kvp_op)kop;
                park(cl, w, HV_WAIT_KVP);
        } else if (strcmp(op, "vss") == 0) {
                handle_vss(cl, g, req);
        } else if (strcmp(op, "corrupt") == 0) {
                int ic = hv_ic_from_name(get_str(req, "channel", "heartbeat"));
                if (ic < 0) {
                        reply_error(cl, "bad channel");
                        return;
                }
                r = hv_corrupt(&g->ch[ic], get_str(req, "how", "length"));
                if (r < 0) {
                        reply_error(cl, "corrupt: %s", strerror(-r));
                        return;
                }
                send_json(cl, ok_object());
        } else if (strcmp(op, "rescind") == 0 || strcmp(op, "offer") == 0) {
                int ic = hv_ic_from_name(get_str(req, "channel", "heartbeat"));
                if (ic < 0) {
                        reply_error(cl, "bad channel");
                        return;
                }
                r = op[0] == 'r' ? hv_rescind(&g->ch[ic]) : hv_offer(&g->ch[ic]);
                if (r < 0) {
                        reply_error(cl, "%s: %s", op, strerror(-r));
                        return;
                }
                send_json(cl, ok_object());
        } else
                reply_error(cl, "unknown op '%s'", op);
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_client *cl = userdata;
        ssize_t n = read(fd, cl->buf + cl->len, sizeof cl->buf - cl->len);
        if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                client_free(cl);
                return 0;
        }
        cl->len += (size_t)n;
        client_process(cl);
        return 0;
}

static void client_process(struct hv_client *cl) {
        char *nl;
        /* One request at a time per client: later lines wait in the buffer. */
        while (!cl->busy && (nl = memchr(cl->buf, '\n', cl->len))) {
                *nl = 0;
                struct json_object *req = json_tokener_parse(cl->buf);
                size_t used = (size_t)(nl - cl->buf) + 1;
                memmove(cl->buf, nl + 1, cl->len - used);
                cl->len -= used;
                if (!req || !json_object_is_type(req, json_type_object))
                        reply_error(cl, "not a JSON object");
                else
                        handle(cl, req);
                json_object_put(req);
        }
        if (cl->len == sizeof cl->buf) {
                reply_error(cl, "line too long");
                client_free(cl);
        }
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct hv_sim *sim = userdata;
        int nfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (nfd < 0)
                return 0;
        struct hv_client *cl = calloc(1, sizeof *cl);
        if (!cl) {
                close(nfd);
                return 0;
        }
        cl->sim = sim;
        cl->fd = nfd;
        if (sd_event_add_io(sim->event, &cl->src, nfd, EPOLLIN, on_client, cl) < 0)
                client_free(cl);
        return 0;
}

int hv_control_open(struct hv_sim *sim) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (asprintf(&sim->ctl_path, "%s/control.sock", sim->dir) < 0) {
                sim->ctl_path = NULL;
                return -ENOMEM;
        }
        if (strlen(sim->ctl_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, sim->ctl_path);
        unlink(sim->ctl_path);
        sim->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (sim->ctl_fd < 0)
                return -errno;
        if (bind(sim->ctl_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(sim->ctl_fd, 16) < 0)
                return -errno;
        return sd_event_add_io(sim->event, &sim->ctl_src, sim->ctl_fd, EPOLLIN, on_accept, sim);
}

void hv_control_close(struct hv_sim *sim) {
        sim->ctl_src = sd_event_source_disable_unref(sim->ctl_src);
        if (sim->ctl_fd >= 0)
                close(sim->ctl_fd);
        sim->ctl_fd = -1;
        if (sim->ctl_path)
                unlink(sim->ctl_path);
        free(sim->ctl_path);
        sim->ctl_path = NULL;
}
