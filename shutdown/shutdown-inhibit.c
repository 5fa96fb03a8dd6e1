/* The acknowledgement's questions to logind: does a block-mode inhibitor veto this
 * action (ListInhibitors), and for hibernation, can the machine hibernate at all
 * (CanHibernate). Both are sent at once, each bounded by SHUTDOWN_ACK_TIMEOUT_MS, so the
 * host hears back after one round trip. logind being unreachable vetoes nothing: the
 * power step will find its own way down without it. */
#include <errno.h>
#include <string.h>

#include "pvic/bus-util.h"
#include "pvic/log.h"
#include "shutdown-internal.h"

#define LOGIND_DEST "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"

/* logind's "what" is a ':'-separated list; sleep inhibitors veto hibernation,
 * shutdown inhibitors veto power-off, reboot and halt. */
static bool what_matches(const char *what, enum host_shutdown_action a) {
        const char *want = a == HOST_SHUTDOWN_HIBERNATE ? "sleep" : "shutdown";
        size_t n = strlen(want);
        for (const char *p = what; p && *p;) {
                const char *end = strchrnul(p, ':');
                if ((size_t)(end - p) == n && strncmp(p, want, n) == 0)
                        return true;
                p = *end ? end + 1 : end;
        }
        return false;
}

static void check_done(struct shutdown_service *s) {
        if (--s->checks_pending > 0)
                return;
        if (s->blocked_by[0])
                shutdown_finish(s, SHUTDOWN_BLOCKED, "%s", s->blocked_by);
        else if (s->cannot_hibernate)
                shutdown_finish(s, SHUTDOWN_REFUSED, "hibernation-unavailable");
        else
                shutdown_accept(s);
}

static int parse_inhibitors(struct shutdown_service *s, sd_bus_message *m) {
        const char *what, *who, *why, *mode;
        uint32_t uid, pid;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(ssssuu)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(ssssuu)", &what, &who, &why, &mode, &uid, &pid)) > 0) {
                if (strcmp(mode, "block") != 0 || !what_matches(what, s->action))
                        continue;
                char w[SHUTDOWN_DETAIL_MAX], y[SHUTDOWN_DETAIL_MAX];
                log_notice("Shutdown: blocked by inhibitor \"%s\" (pid %u, uid %u): %s",
                           text_sanitize(w, sizeof w, who), pid, uid,
                           text_sanitize(y, sizeof y, why));
                if (!s->blocked_by[0])
                        snprintf(s->blocked_by, sizeof s->blocked_by, "%s", w);
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int on_inhibitors(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct shutdown_service *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r;

        s->check_slots[0] = sd_bus_slot_unref(s->check_slots[0]);
        if (e)
                log_notice("Shutdown: cannot list logind's inhibitors (%s: %s); not vetoed.",
                           e->name, shutdown_peer_text(e));
        else if ((r = parse_inhibitors(s, m)) < 0)
                log_warning_errno(r, "Shutdown: malformed inhibitor list from logind: %m; not vetoed.");
        check_done(s);
        return 0;
}

static int on_can_hibernate(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct shutdown_service *s = userdata;
        const char *answer = NULL;

        s->check_slots[1] = sd_bus_slot_unref(s->check_slots[1]);
        if (sd_bus_message_get_error(m) || sd_bus_message_read(m, "s", &answer) < 0)
                log_notice("Shutdown: CanHibernate failed; trying anyway.");
        /* "challenge" means allowed after authentication: root is not asked. */
        else if (strcmp(answer, "na") == 0 || strcmp(answer, "no") == 0) {
                log_notice("Shutdown: logind says hibernation is unavailable (%s).", answer);
                s->cannot_hibernate = true;
        }
        check_done(s);
        return 0;
}

static int call(struct shutdown_service *s, sd_bus *bus, sd_bus_slot **slot, const char *method,
                sd_bus_message_handler_t cb) {
        _cleanup_bus_message_unref_ sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, LOGIND_DEST, LOGIND_PATH, LOGIND_IFACE, method);
        if (r < 0)
                return r;
        return sd_bus_call_async(bus, slot, m, cb, s,
                                 MIN(s->config.bus_timeout_ms, SHUTDOWN_ACK_TIMEOUT_MS) * 1000ULL);
}

int shutdown_checks_start(struct shutdown_service *s) {
        sd_bus *bus = NULL;
        int r;

        s->checks_pending = 0;
        if (shutdown_get_bus(s, &bus) < 0) {
                log_notice("Shutdown: inhibitors cannot be checked without the system bus.");
                return 0;
        }
        r = call(s, bus, &s->check_slots[0], "ListInhibitors", on_inhibitors);
        if (r < 0)
                log_warning_errno(r, "Shutdown: cannot ask logind for inhibitors: %m");
        else
                s->checks_pending++;
        if (s->action == HOST_SHUTDOWN_HIBERNATE) {
                r = call(s, bus, &s->check_slots[1], "CanHibernate", on_can_hibernate);
                if (r < 0)
                        log_warning_errno(r, "Shutdown: cannot ask logind about hibernation: %m");
                else
                        s->checks_pending++;
        }
        return (int)s->checks_pending;
}

void shutdown_checks_cancel(struct shutdown_service *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->check_slots); i++)
                s->check_slots[i] = sd_bus_slot_unref(s->check_slots[i]);
        s->checks_pending = 0;
}
