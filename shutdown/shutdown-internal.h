/* Shared between the shutdown service's files; not an interface for anyone else. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "pvic/hook_proc.h"
#include "pvic/shutdown.h"
#include "pvic/text.h"

/* Bounds on text that ends up in logs, environments and status strings. */
#define SHUTDOWN_REASON_MAX   256  /* bytes of PVIC_SHUTDOWN_REASON, NUL included */
#define SHUTDOWN_DETAIL_MAX   128  /* bytes after "state:" */
#define SHUTDOWN_ACK_TIMEOUT_MS 1000u /* the inhibitor query may not hold the ack longer */
#define HOOKS_MAX             256

enum shutdown_phase {
        PHASE_IDLE,
        PHASE_CHECKING,   /* waiting for logind's inhibitor list */
        PHASE_HOOKS,
        PHASE_POWER,      /* a logind/systemd call is outstanding */
        PHASE_GRACE,      /* waiting to call reboot(2) */
        PHASE_LATCHED,    /* the system is going down: never run another request */
};


struct shutdown_service {
        sd_event *event;
        sd_bus *bus;
        bool bus_owned;
        int bus_error;        /* last failure to connect, to log each outage once */
        char *hooks_dir;      /* root + config hooks_dir */
        struct shutdown_config config;
        struct shutdown_actions actions;

        enum shutdown_phase phase;
        shutdown_report_fn report;
        void *userdata;
        enum host_shutdown_action action;
        bool force;
        uint32_t host_timeout_sec;
        uint32_t reason_code;
        char reason[SHUTDOWN_REASON_MAX];

        /* acknowledgement */
        sd_bus_slot *check_slots[2];
        unsigned checks_pending;
        char blocked_by[SHUTDOWN_DETAIL_MAX];
        bool cannot_hibernate;
        sd_event_source *start_source;

        /* hooks */
        char **hooks;
        size_t n_hooks, next_hook;
        uint64_t deadline_usec; /* CLOCK_MONOTONIC */
        struct hook_proc *run;

        /* power */
        sd_bus_slot *power_slot;
        sd_event_source *grace_timer;
        char logind_error[48];
        char systemd_error[48];
};

/* shutdown-service.c */
void shutdown_report_state(struct shutdown_service *s, enum shutdown_state st,
                           const char *detail_fmt, ...) _printf_(3, 4);
void shutdown_finish(struct shutdown_service *s, enum shutdown_state st,
                     const char *detail_fmt, ...) _printf_(3, 4);
int shutdown_get_bus(struct shutdown_service *s, sd_bus **ret);
/* Reports "accepted" and schedules the hooks. */
void shutdown_accept(struct shutdown_service *s);

/* shutdown-inhibit.c: the acknowledgement's logind queries. Returns how many are
 * outstanding (0: none could be sent; the caller accepts at once). When the last answer
 * arrives it calls shutdown_accept() or shutdown_finish(). */
int shutdown_checks_start(struct shutdown_service *s);
void shutdown_checks_cancel(struct shutdown_service *s);

/* shutdown-hooks.c */
void shutdown_hooks_start(struct shutdown_service *s);
void shutdown_hooks_cancel(struct shutdown_service *s);

/* shutdown-power.c */
void shutdown_power_start(struct shutdown_service *s);
void shutdown_power_cancel(struct shutdown_service *s);

/* shutdown-text.c */
const char *shutdown_systemd_target(enum host_shutdown_action a);
const char *shutdown_logind_method(enum host_shutdown_action a);
/* A peer's error text can be long and multi-line: one bounded, printable line. */
const char *shutdown_peer_text(const sd_bus_error *e);
