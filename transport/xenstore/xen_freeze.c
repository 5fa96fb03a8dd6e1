/* Freeze on Xen (docs/xenstore-keys.md): the host writes control/pvic/freeze/{action,
 * lease} and then id; the guest answers data/pvic/freeze = "<id> <state> [mount=outcome
 * ...]". A request is acted on once: an answer naming its id means it was handled (maybe
 * by an earlier pvicd), so a restart never freezes again. The lease's thaw is answered
 * under the id of the freeze it ends. One backend per process: the state is static. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvic/log.h"
#include "pvic/services.h"
#include "pvic/xs_wire.h"
#include "xen_control.h"
#include "xen_control_parse.h"

#define FREEZE_ANSWER "data/pvic/freeze"
#define FREEZE_DIR "control/pvic/freeze"

static struct {
        struct xen_control *x;
        unsigned generation;    /* replies of an earlier connection are ignored */
        bool reading;
        unsigned pending;
        bool failed;
        char seen_id[72];       /* last id acted on or being read */
        char id[72], action[16], lease[16];
        char frozen_id[72];     /* the freeze whose lease report is still to come */
} st;

struct field_read {
        unsigned generation;
        char *field;
        size_t size;
        bool is_previous;
};

static void on_write(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        if (r->error && r->error != ECONNRESET && r->error != ECANCELED)
                log_warning_errno(r->error, "xen: writing " FREEZE_ANSWER " failed: %m");
}

static void answer(const char *id, const char *state, const char *mounts) {
        char value[2048];
        snprintf(value, sizeof value, "%s %s%s%s", id, state, mounts && *mounts ? " " : "", mounts ?: "");
        log_info("xen: freeze request %s: %s", id, state);
        if (st.x && st.x->xs && xs_client_is_connected(st.x->xs))
                if (xs_write(st.x->xs, 0, FREEZE_ANSWER, value, on_write, NULL) < 0)
                        log_warning("xen: cannot answer freeze request %s", id);
}

static void on_freeze_report(const char *state, const char *mounts, void *userdata) {
        /* userdata: the id buffer of the request this report belongs to */
        char id[72];
        snprintf(id, sizeof id, "%s", (const char *)userdata);
        /* Any end of this freeze (thaw, lease, failure) frees its id for the next one; a
         * refusal ends only the refused request, and a thaw ends whatever was frozen. */
        bool own = userdata == st.frozen_id, refused = strncmp(state, "refused:", 8) == 0;
        if (strcmp(state, "frozen") != 0 && (own || !refused))
                st.frozen_id[0] = 0;
        answer(id, state, mounts);
}

/* Thaws can wait on the freeze service's hooks, so each carries its own id. */
static void on_thaw_report(const char *state, const char *mounts, void *userdata) {
        char *id = userdata;
        if (strncmp(state, "refused:", 8) != 0)
                st.frozen_id[0] = 0;
        answer(id, state, mounts);
        free(id);
}

static void request_ready(void) {
        char *end;
        unsigned long lease = 0;
        int r;

        if (!st.failed && st.lease[0]) {
                errno = 0;
                lease = strtoul(st.lease, &end, 10);
                if (errno || *end || st.lease[0] == '-' || lease > 86400)
                        st.failed = true;
        }
        if (st.failed || (strcmp(st.action, "freeze") != 0 && strcmp(st.action, "thaw") != 0)) {
                log_warning("xen: malformed freeze request %s (action '%s')", st.id, st.action);
                answer(st.id, "refused:malformed-request", NULL);
                return;
        }
        log_notice("xen: host requests %s (id %s, lease %lu s)", st.action, st.id, lease);
        if (strcmp(st.action, "freeze") == 0) {
                /* The previous freeze's id stays valid until its lease report, if it is
                 * still frozen; this one is refused then and needs no id buffer of its own. */
                static char refused_id[72];
                bool busy = st.frozen_id[0] != 0;
                char *buf = busy ? refused_id : st.frozen_id;
                snprintf(buf, 72, "%s", st.id);
                r = pvicd_freeze(st.x->d, (unsigned)lease, on_freeze_report, buf);
        } else {
                char *thaw_id = strdup(st.id);
                r = thaw_id ? pvicd_thaw(st.x->d, on_thaw_report, thaw_id) : -ENOMEM;
                if (r < 0)
                        free(thaw_id);
        }
        if (r < 0)
                answer(st.id, "failed:unavailable", NULL);
}

static void read_done(void) {
        if (--st.pending > 0)
                return;
        st.reading = false;
        request_ready();
}

static void on_field(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct field_read *f = userdata;
        if (f->generation != st.generation || !st.reading || r->error == ECONNRESET || r->error == ECANCELED) {
                free(f);
                return;
        }
        bool ok = !r->error && r->len < f->size && !memchr(r->payload, 0, r->len);
        if (ok) {
                memcpy(f->field, r->payload, r->len);
                f->field[r->len] = 0;
        } else if (r->error != ENOENT || f->field == st.action)
                st.failed = true;
        free(f);
        read_done();
}

static int read_field(const char *path, char *field, size_t size) {
        struct field_read *f = malloc(sizeof *f);
        if (!f)
                return -ENOMEM;
        *f = (struct field_read){ st.generation, field, size, false };
        int r = xs_read(st.x->xs, path, on_field, f);
        if (r < 0)
                free(f);
        return r;
}

static void on_previous(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct field_read *f = userdata;
        bool stale = f->generation != st.generation || !st.reading;
        free(f);
        if (stale || r->error == ECONNRESET || r->error == ECANCELED)
                return;
        size_t n = strlen(st.id);
        if (!r->error && r->len > n && memcmp(r->payload, st.id, n) == 0 && r->payload[n] == ' ') {
                log_debug("xen: freeze request %s was already answered", st.id);
                st.reading = false;
                return;
        }
        st.action[0] = st.lease[0] = 0;
        st.failed = false;
        st.pending = 1;
        if (read_field(FREEZE_DIR "/action", st.action, sizeof st.action) == 0)
                st.pending++;
        if (read_field(FREEZE_DIR "/lease", st.lease, sizeof st.lease) == 0)
                st.pending++;
        read_done();
}

static void on_id(struct xs_client *c, const struct xs_reply *r, void *userdata) {
        struct field_read *f = userdata;
        bool stale = f->generation != st.generation;
        free(f);
        char id[72];
        if (stale || r->error || r->len == 0 || r->len >= sizeof id || memchr(r->payload, 0, r->len))
                return;
        memcpy(id, r->payload, r->len);
        id[r->len] = 0;
        if (!xen_token_ok(id) || strcmp(id, st.seen_id) == 0 || st.reading)
                return;
        snprintf(st.seen_id, sizeof st.seen_id, "%s", id);
        snprintf(st.id, sizeof st.id, "%s", id);
        struct field_read *p = malloc(sizeof *p);
        if (!p)
                return;
        *p = (struct field_read){ st.generation, NULL, 0, true };
        st.reading = true;
        if (xs_read(st.x->xs, FREEZE_ANSWER, on_previous, p) < 0) {
                free(p);
                st.reading = false;
        }
}

/* rest: the path below control/pvic ("" for the directory itself: first fire, resume
 * or reconnect, when a half-read request starts again). */
void xen_freeze_event(struct xen_control *x, const char *rest) {
        bool all = rest[0] == 0;
        if (!all && strcmp(rest, "freeze") != 0 && strcmp(rest, "freeze/id") != 0)
                return;
        st.x = x;
        if (all) {
                st.generation++;
                st.reading = false;
                st.seen_id[0] = 0;
        }
        struct field_read *f = malloc(sizeof *f);
        if (!f)
                return;
        *f = (struct field_read){ st.generation, NULL, 0, false };
        if (xs_read(x->xs, FREEZE_DIR "/id", on_id, f) < 0)
                free(f);
}
