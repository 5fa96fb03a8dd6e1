/* The shutdown service (design.md "shutdown/"): one path for a host's shutdown request
 * from either backend. A request is acknowledged at once, then runs the local hooks, then
 * asks logind (falling back to systemd, then optionally reboot(2)) to act. Every step is
 * reported through one callback; docs/shutdown.md lists the states and their strings. */
#pragma once
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "pvic/hostmsg.h"
#include "pvic/macro.h"

/* Relative to the service's root ("" or "/" in production). */
#define SHUTDOWN_HOOKS_DIR_DEFAULT "/etc/pvic/shutdown.d"

struct shutdown_config {
        const char *hooks_dir;      /* NULL = SHUTDOWN_HOOKS_DIR_DEFAULT; under root */
        unsigned hook_timeout_sec;  /* each hook; SIGKILLed after it */
        unsigned deadline_sec;      /* all hooks together; the host's timeout if smaller */
        bool abort_on_hook_failure; /* a failed hook ends the request (not when forced) */
        bool allow_reboot_syscall;  /* last resort when logind and systemd both fail */
        unsigned grace_sec;         /* wait before that reboot(2) */
        unsigned bus_timeout_ms;    /* each D-Bus call (inhibitor query, logind, systemd) */
};

#define SHUTDOWN_CONFIG_DEFAULT                         \
        ((struct shutdown_config){                      \
                .hooks_dir = SHUTDOWN_HOOKS_DIR_DEFAULT, \
                .hook_timeout_sec = 30,                 \
                .deadline_sec = 90,                     \
                .abort_on_hook_failure = false,         \
                .allow_reboot_syscall = false,          \
                .grace_sec = 10,                        \
                .bus_timeout_ms = 5000,                 \
        })

/* What touches the machine directly. Tests pass a stub that records instead. */
struct shutdown_actions {
        /* sync + reboot(2) for the action; returns only on failure (negative errno). */
        int (*reboot_syscall)(enum host_shutdown_action action, void *userdata);
        void *userdata;
};
extern const struct shutdown_actions shutdown_actions_real;

enum shutdown_state {
        /* acknowledgements: exactly one of these comes first */
        SHUTDOWN_ACCEPTED,            /* "accepted" */
        SHUTDOWN_REFUSED,             /* "refused:<why>", final */
        SHUTDOWN_IN_PROGRESS,         /* "in-progress": another request runs; final */
        SHUTDOWN_BLOCKED,             /* "blocked-by-inhibitor:<who>", final */
        /* progress after "accepted" */
        SHUTDOWN_RUNNING_HOOKS,       /* "running-hooks" */
        SHUTDOWN_HOOK_FAILED,         /* "hook-failed:<name>" */
        SHUTDOWN_HOOK_TIMEOUT,        /* "hook-timeout:<name>" */
        SHUTDOWN_CALLING_LOGIND,      /* "calling-logind" */
        SHUTDOWN_CALLING_SYSTEMD,     /* "calling-systemd" */
        SHUTDOWN_CALLING_REBOOT,      /* "calling-reboot-syscall" (after the grace period) */
        SHUTDOWN_DONE,                /* "done:<method>" logind|systemd|reboot-syscall, final */
        SHUTDOWN_FAILED,              /* "failed:<why>", final */
        _SHUTDOWN_STATE_MAX,
};

struct shutdown_report {
        enum shutdown_state state;
        const char *detail;   /* the part after ':' or NULL; printable, bounded */
        const char *text;     /* the whole string, e.g. "hook-timeout:10-db" */
        bool final;           /* no further report for this request */
};

/* Called on the loop; must not free the service from inside the callback. */
typedef void (*shutdown_report_fn)(const struct shutdown_report *r, void *userdata);

struct shutdown_service;

/* root: prefix for the hooks directory ("" for the real system). bus: a system bus
 * already attached to e, or NULL to open one lazily with sd_bus_open_system() (which
 * honours DBUS_SYSTEM_BUS_ADDRESS). actions: NULL = shutdown_actions_real. */
int shutdown_service_new(struct shutdown_service **ret, sd_event *e, sd_bus *bus,
                         const char *root, const struct shutdown_config *config,
                         const struct shutdown_actions *actions);
struct shutdown_service *shutdown_service_free(struct shutdown_service *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct shutdown_service *, shutdown_service_free);

/* Validates the request and reports the acknowledgement: synchronously for refusals and
 * forced requests, after one bounded logind round trip (inhibitors) otherwise. Then
 * progresses on the loop. Returns 0 when a report was or will be made, negative errno
 * only on allocation failure (no report then). */
int shutdown_request(struct shutdown_service *s, const struct host_shutdown *req,
                     shutdown_report_fn report, void *userdata);

/* True from acceptance until a final state that lets the system keep running. */
bool shutdown_busy(const struct shutdown_service *s);

const char *shutdown_action_to_string(enum host_shutdown_action a);
int shutdown_action_from_string(const char *s); /* enum value or -EINVAL */
const char *shutdown_state_to_string(enum shutdown_state s);
/* Maps a report to the status a backend sends the host. */
enum host_status shutdown_report_host_status(const struct shutdown_report *r);
