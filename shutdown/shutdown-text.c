/* Names and text: the only place that knows the strings of actions and states (the
 * sanitiser itself is daemon/text.c, shared with the freeze hooks). */
#include <errno.h>
#include <string.h>

#include "pvic/text.h"
#include "shutdown-internal.h"

static const char *const action_names[] = {
        [HOST_SHUTDOWN_POWEROFF] = "poweroff",
        [HOST_SHUTDOWN_REBOOT] = "reboot",
        [HOST_SHUTDOWN_HALT] = "halt",
        [HOST_SHUTDOWN_HIBERNATE] = "hibernate",
};

static const char *const logind_methods[] = {
        [HOST_SHUTDOWN_POWEROFF] = "PowerOff",
        [HOST_SHUTDOWN_REBOOT] = "Reboot",
        [HOST_SHUTDOWN_HALT] = "Halt",
        [HOST_SHUTDOWN_HIBERNATE] = "Hibernate",
};

static const char *const systemd_targets[] = {
        [HOST_SHUTDOWN_POWEROFF] = "poweroff.target",
        [HOST_SHUTDOWN_REBOOT] = "reboot.target",
        [HOST_SHUTDOWN_HALT] = "halt.target",
        [HOST_SHUTDOWN_HIBERNATE] = "hibernate.target",
};

static const char *const state_names[_SHUTDOWN_STATE_MAX] = {
        [SHUTDOWN_ACCEPTED] = "accepted",
        [SHUTDOWN_REFUSED] = "refused",
        [SHUTDOWN_IN_PROGRESS] = "in-progress",
        [SHUTDOWN_BLOCKED] = "blocked-by-inhibitor",
        [SHUTDOWN_RUNNING_HOOKS] = "running-hooks",
        [SHUTDOWN_HOOK_FAILED] = "hook-failed",
        [SHUTDOWN_HOOK_TIMEOUT] = "hook-timeout",
        [SHUTDOWN_CALLING_LOGIND] = "calling-logind",
        [SHUTDOWN_CALLING_SYSTEMD] = "calling-systemd",
        [SHUTDOWN_CALLING_REBOOT] = "calling-reboot-syscall",
        [SHUTDOWN_DONE] = "done",
        [SHUTDOWN_FAILED] = "failed",
};

/* The enum comes from a backend that decoded host bytes: treat it as untrusted. */
#define LOOKUP(table, i) ((unsigned)(i) < ELEMENTSOF(table) ? table[(unsigned)(i)] : NULL)

const char *shutdown_action_to_string(enum host_shutdown_action a) { return LOOKUP(action_names, a); }
const char *shutdown_logind_method(enum host_shutdown_action a) { return LOOKUP(logind_methods, a); }
const char *shutdown_systemd_target(enum host_shutdown_action a) { return LOOKUP(systemd_targets, a); }
const char *shutdown_state_to_string(enum shutdown_state s) { return LOOKUP(state_names, s); }

int shutdown_action_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(action_names); i++)
                if (strcmp(s, action_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

enum host_status shutdown_report_host_status(const struct shutdown_report *r) {
        switch (r->state) {
        case SHUTDOWN_REFUSED:
                return r->detail && strcmp(r->detail, "unsupported-action") == 0 ?
                        HOST_STATUS_NOT_SUPPORTED : HOST_STATUS_FAILED;
        case SHUTDOWN_BLOCKED:
        case SHUTDOWN_FAILED:
                return HOST_STATUS_FAILED;
        default:
                /* "in-progress" too: the system is already going down as some host asked */
                return HOST_STATUS_OK;
        }
}

const char *shutdown_peer_text(const sd_bus_error *e) {
        static char buf[256]; /* one loop, one thread: used before the next call */
        return text_sanitize(buf, sizeof buf, e ? e->message : NULL);
}
