/* The power step: logind first (it honours its own shutdown scheduling and tells
 * sessions), systemd's StartUnit when logind is missing or refuses, and reboot(2) only
 * when configured, after a grace period. Each call is asynchronous on the loop. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pvic/bus-util.h"
#include "pvic/log.h"
#include "shutdown-internal.h"

static void step_systemd(struct shutdown_service *s);
static void step_syscall(struct shutdown_service *s);

static void remember(char *dst, size_t n, const sd_bus_error *e, int r) {
        snprintf(dst, n, "%s", bus_error_short(e, r));
}

static int on_systemd_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct shutdown_service *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        s->power_slot = sd_bus_slot_unref(s->power_slot);
        if (!e) {
                shutdown_finish(s, SHUTDOWN_DONE, "systemd");
                return 0;
        }
        log_warning("Shutdown: systemd StartUnit(%s) failed: %s: %s", shutdown_systemd_target(s->action),
                    e->name, shutdown_peer_text(e));
        remember(s->systemd_error, sizeof s->systemd_error, e, 0);
        step_syscall(s);
        return 0;
}

static int on_logind_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct shutdown_service *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        s->power_slot = sd_bus_slot_unref(s->power_slot);
        if (!e) {
                shutdown_finish(s, SHUTDOWN_DONE, "logind");
                return 0;
        }
        log_warning("Shutdown: logind %s failed: %s: %s", shutdown_logind_method(s->action),
                    e->name, shutdown_peer_text(e));
        remember(s->logind_error, sizeof s->logind_error, e, 0);
        step_systemd(s);
        return 0;
}

static int bus_send_call(struct shutdown_service *s, sd_bus *bus, const char *dest, const char *path,
                const char *iface, const char *method, sd_bus_message_handler_t cb,
                const char *types, ...) {
        _cleanup_bus_message_unref_ sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, dest, path, iface, method);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return sd_bus_call_async(bus, &s->power_slot, m, cb, s, s->config.bus_timeout_ms * 1000ULL);
}

static void step_systemd(struct shutdown_service *s) {
        sd_bus *bus = NULL;
        int r;

        shutdown_report_state(s, SHUTDOWN_CALLING_SYSTEMD, NULL);
        r = shutdown_get_bus(s, &bus);
        if (r >= 0)
                /* replace-irreversibly: nothing queued later may cancel the shutdown job */
                r = bus_send_call(s, bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                         "org.freedesktop.systemd1.Manager", "StartUnit", on_systemd_reply, "ss",
                         shutdown_systemd_target(s->action), "replace-irreversibly");
        if (r < 0) {
                log_warning_errno(r, "Shutdown: cannot call systemd: %m");
                remember(s->systemd_error, sizeof s->systemd_error, NULL, r);
                step_syscall(s);
        }
}

static int on_grace_over(sd_event_source *src, uint64_t usec, void *userdata) {
        struct shutdown_service *s = userdata;
        int r;

        s->grace_timer = sd_event_source_disable_unref(s->grace_timer);
        log_notice("Shutdown: calling reboot(2) for %s.", shutdown_action_to_string(s->action));
        r = s->actions.reboot_syscall(s->action, s->actions.userdata);
        if (r < 0) {
                log_error_errno(r, "Shutdown: reboot(2) failed: %m");
                shutdown_finish(s, SHUTDOWN_FAILED, "logind=%s,systemd=%s,reboot-syscall=%s",
                                s->logind_error, s->systemd_error, bus_error_short(NULL, r));
                return 0;
        }
        shutdown_finish(s, SHUTDOWN_DONE, "reboot-syscall");
        return 0;
}

static void step_syscall(struct shutdown_service *s) {
        int r;

        /* reboot(2) cannot hibernate, and skips every orderly step: opt-in only. */
        if (!s->config.allow_reboot_syscall || s->action == HOST_SHUTDOWN_HIBERNATE ||
            !s->actions.reboot_syscall) {
                log_error("Shutdown: neither logind nor systemd could %s the system, and "
                          "reboot(2) is %s.", shutdown_action_to_string(s->action),
                          s->action == HOST_SHUTDOWN_HIBERNATE ? "no way to hibernate" : "not enabled");
                shutdown_finish(s, SHUTDOWN_FAILED, "logind=%s,systemd=%s", s->logind_error,
                                s->systemd_error);
                return;
        }
        s->phase = PHASE_GRACE;
        shutdown_report_state(s, SHUTDOWN_CALLING_REBOOT, NULL);
        log_warning("Shutdown: calling reboot(2) in %u s.", s->config.grace_sec);
        r = sd_event_add_time_relative(s->event, &s->grace_timer, CLOCK_MONOTONIC,
                                       s->config.grace_sec * 1000000ULL, 0, on_grace_over, s);
        if (r < 0)
                shutdown_finish(s, SHUTDOWN_FAILED, "internal:%s", bus_error_short(NULL, r));
}

void shutdown_power_start(struct shutdown_service *s) {
        sd_bus *bus = NULL;
        int r;

        s->phase = PHASE_POWER;
        shutdown_report_state(s, SHUTDOWN_CALLING_LOGIND, NULL);
        r = shutdown_get_bus(s, &bus);
        if (r >= 0)
                /* interactive=false: never wait for a polkit agent */
                r = bus_send_call(s, bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                         "org.freedesktop.login1.Manager", shutdown_logind_method(s->action),
                         on_logind_reply, "b", 0);
        if (r < 0) {
                log_warning_errno(r, "Shutdown: cannot call logind: %m");
                remember(s->logind_error, sizeof s->logind_error, NULL, r);
                step_systemd(s);
        }
}

void shutdown_power_cancel(struct shutdown_service *s) {
        s->power_slot = sd_bus_slot_unref(s->power_slot);
        s->grace_timer = sd_event_source_disable_unref(s->grace_timer);
}
