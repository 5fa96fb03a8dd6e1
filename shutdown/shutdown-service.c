/* The request state machine: validate, acknowledge, then hand over to the hooks and the
 * power step. Exactly one request runs at a time; everything happens on the loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pvic/bus-util.h"
#include "pvic/log.h"
#include "shutdown-internal.h"

static bool state_is_final(enum shutdown_state st) {
        switch (st) {
        case SHUTDOWN_REFUSED:
        case SHUTDOWN_IN_PROGRESS:
        case SHUTDOWN_BLOCKED:
        case SHUTDOWN_DONE:
        case SHUTDOWN_FAILED:
                return true;
        default:
                return false;
        }
}

static void report_to(shutdown_report_fn fn, void *userdata, enum shutdown_state st,
                      const char *detail_fmt, va_list ap) _printf_(4, 0);
static void report_to(shutdown_report_fn fn, void *userdata, enum shutdown_state st,
                      const char *detail_fmt, va_list ap) {
        char detail[SHUTDOWN_DETAIL_MAX], raw[SHUTDOWN_DETAIL_MAX], text[SHUTDOWN_DETAIL_MAX + 32];
        const char *name = shutdown_state_to_string(st);
        bool has_detail = detail_fmt != NULL;

        if (has_detail) {
                vsnprintf(raw, sizeof raw, detail_fmt, ap);
                text_sanitize(detail, sizeof detail, raw);
                snprintf(text, sizeof text, "%s:%s", name, detail);
        } else
                snprintf(text, sizeof text, "%s", name);

        log_full_errno(st == SHUTDOWN_FAILED || st == SHUTDOWN_HOOK_FAILED ||
                       st == SHUTDOWN_HOOK_TIMEOUT ? LOG_WARNING : LOG_INFO,
                       0, "Shutdown: %s", text);
        if (!fn)
                return;
        struct shutdown_report r = {
                .state = st,
                .detail = has_detail ? detail : NULL,
                .text = text,
                .final = state_is_final(st),
        };
        fn(&r, userdata);
}

void shutdown_report_state(struct shutdown_service *s, enum shutdown_state st,
                           const char *detail_fmt, ...) {
        va_list ap;
        va_start(ap, detail_fmt);
        report_to(s->report, s->userdata, st, detail_fmt, ap);
        va_end(ap);
}

static void request_cancel(struct shutdown_service *s) {
        shutdown_checks_cancel(s);
        shutdown_hooks_cancel(s);
        shutdown_power_cancel(s);
        s->start_source = sd_event_source_disable_unref(s->start_source);
}

/* Ends the request with a final state. The service is reset before the callback runs, so
 * the callback may submit the next request; after a completed power-off, reboot or halt
 * it stays latched, so no second request can run while the system goes down. */
void shutdown_finish(struct shutdown_service *s, enum shutdown_state st,
                     const char *detail_fmt, ...) {
        shutdown_report_fn fn = s->report;
        void *userdata = s->userdata;
        va_list ap;

        request_cancel(s);
        s->phase = st == SHUTDOWN_DONE && s->action != HOST_SHUTDOWN_HIBERNATE ?
                PHASE_LATCHED : PHASE_IDLE;
        s->report = NULL;
        s->userdata = NULL;

        va_start(ap, detail_fmt);
        report_to(fn, userdata, st, detail_fmt, ap);
        va_end(ap);
}

int shutdown_get_bus(struct shutdown_service *s, sd_bus **ret) {
        int r;

        if (s->bus && sd_bus_is_open(s->bus) > 0) {
                *ret = s->bus;
                return 0;
        }
        if (s->bus && !s->bus_owned)
                return log_warning_errno(ENOTCONN, "Shutdown: the system bus connection is closed.");
        s->bus = sd_bus_flush_close_unref(s->bus);

        _cleanup_bus_unref_ sd_bus *bus = NULL;
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                /* one warning per outage, not one per step of the fallback chain */
                int level = r == s->bus_error ? LOG_DEBUG : LOG_WARNING;
                s->bus_error = r;
                return log_full_errno(level, r, "Shutdown: cannot connect to the system bus: %m; "
                                      "logind, systemd and the inhibitor check are unavailable.");
        }
        s->bus_error = 0;
        r = sd_bus_attach_event(bus, s->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_warning_errno(r, "Shutdown: cannot attach the system bus to the loop: %m");
        s->bus = TAKE_PTR(bus);
        s->bus_owned = true;
        *ret = s->bus;
        return 0;
}

int shutdown_service_new(struct shutdown_service **ret, sd_event *e, sd_bus *bus,
                         const char *root, const struct shutdown_config *config,
                         const struct shutdown_actions *actions) {
        _cleanup_(shutdown_service_freep) struct shutdown_service *s = NULL;
        const char *dir;

        if (!ret || !e)
                return -EINVAL;
        s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->event = sd_event_ref(e);
        s->bus = bus ? sd_bus_ref(bus) : NULL;
        s->config = config ? *config : SHUTDOWN_CONFIG_DEFAULT;
        s->actions = actions ? *actions : shutdown_actions_real;
        dir = s->config.hooks_dir ? s->config.hooks_dir : SHUTDOWN_HOOKS_DIR_DEFAULT;
        if (!root || strcmp(root, "/") == 0)
                root = "";
        if (asprintf(&s->hooks_dir, "%s%s", root, dir) < 0) {
                s->hooks_dir = NULL;
                return log_oom();
        }
        s->config.hooks_dir = NULL; /* the caller's string may not outlive us */
        if (s->config.hook_timeout_sec == 0)
                s->config.hook_timeout_sec = SHUTDOWN_CONFIG_DEFAULT.hook_timeout_sec;
        if (s->config.deadline_sec == 0)
                s->config.deadline_sec = SHUTDOWN_CONFIG_DEFAULT.deadline_sec;
        if (s->config.bus_timeout_ms == 0)
                s->config.bus_timeout_ms = SHUTDOWN_CONFIG_DEFAULT.bus_timeout_ms;
        *ret = TAKE_PTR(s);
        return 0;
}

struct shutdown_service *shutdown_service_free(struct shutdown_service *s) {
        if (!s)
                return NULL;
        request_cancel(s);
        if (s->bus_owned)
                sd_bus_flush_close_unref(s->bus);
        else
                sd_bus_unref(s->bus);
        sd_event_unref(s->event);
        free(s->hooks_dir);
        free(s);
        return NULL;
}

bool shutdown_busy(const struct shutdown_service *s) {
        return s && s->phase != PHASE_IDLE;
}

static int on_start(sd_event_source *src, void *userdata) {
        struct shutdown_service *s = userdata;
        s->start_source = sd_event_source_disable_unref(s->start_source);
        shutdown_hooks_start(s);
        return 0;
}

/* Called once the acknowledgement is settled: report it, then leave the rest to the loop
 * so the backend can send its reply before any hook starts. */
void shutdown_accept(struct shutdown_service *s) {
        int r;

        s->phase = PHASE_HOOKS;
        shutdown_report_state(s, SHUTDOWN_ACCEPTED, NULL);
        r = sd_event_add_defer(s->event, &s->start_source, on_start, s);
        if (r < 0) {
                shutdown_finish(s, SHUTDOWN_FAILED, "internal:%s", bus_error_short(NULL, r));
                return;
        }
        (void)sd_event_source_set_enabled(s->start_source, SD_EVENT_ONESHOT);
}

static void reply_once(shutdown_report_fn fn, void *userdata, enum shutdown_state st,
                       const char *detail_fmt, ...) _printf_(4, 5);
static void reply_once(shutdown_report_fn fn, void *userdata, enum shutdown_state st,
                       const char *detail_fmt, ...) {
        va_list ap;
        va_start(ap, detail_fmt);
        report_to(fn, userdata, st, detail_fmt, ap);
        va_end(ap);
}

int shutdown_request(struct shutdown_service *s, const struct host_shutdown *req,
                     shutdown_report_fn report, void *userdata) {
        const char *action;

        if (!s || !req)
                return -EINVAL;

        action = shutdown_action_to_string(req->action);
        log_info("Shutdown: host requests %s (force=%d, timeout=%us, reason code 0x%08x).",
                 action ? action : "an unknown action", req->force, req->timeout_sec,
                 req->reason_code);

        /* A second request never runs: the first one owns the machine's fate. */
        if (s->phase != PHASE_IDLE) {
                reply_once(report, userdata, SHUTDOWN_IN_PROGRESS, NULL);
                return 0;
        }
        if (!action) {
                reply_once(report, userdata, SHUTDOWN_REFUSED, "unsupported-action");
                return 0;
        }

        s->report = report;
        s->userdata = userdata;
        s->action = req->action;
        s->force = req->force;
        s->host_timeout_sec = req->timeout_sec;
        s->reason_code = req->reason_code;
        /* message is a fixed array; bound the read even if the backend forgot the NUL */
        char msg[HOST_SHUTDOWN_MESSAGE_MAX];
        memcpy(msg, req->message, sizeof msg);
        msg[sizeof msg - 1] = '\0';
        text_sanitize(s->reason, sizeof s->reason, msg);
        if (s->reason[0])
                log_info("Shutdown: the host's reason: %s", s->reason);
        s->blocked_by[0] = '\0';
        s->cannot_hibernate = false;
        s->logind_error[0] = s->systemd_error[0] = '\0';

        /* Forced requests skip the inhibitor check (see docs/shutdown.md). */
        if (s->force) {
                shutdown_accept(s);
                return 0;
        }
        s->phase = PHASE_CHECKING;
        if (shutdown_checks_start(s) == 0)
                shutdown_accept(s); /* nothing to ask: no bus, logged */
        return 0;
}
