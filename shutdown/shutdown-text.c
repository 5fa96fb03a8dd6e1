/* Names and text: the only place that knows the strings of actions and states, and the
 * one sanitiser every host- or admin-supplied string passes through before it reaches a
 * log line, a hook's environment or a status the host reads. */
#include <errno.h>
#include <string.h>

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

/* Length of the valid UTF-8 sequence at p (1-4), 0 if invalid, overlong, a surrogate or
 * beyond U+10FFFF; only complete sequences before the NUL count. */
static size_t utf8_len(const unsigned char *p) {
        unsigned c = p[0];
        size_t n;
        unsigned cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        /* C1 controls are as unprintable as C0 ones */
        if (cp >= 0x80 && cp < 0xa0)
                return 0;
        return n;
}

char *shutdown_sanitize(char *dst, size_t n, const char *src) {
        const unsigned char *p = (const unsigned char *)(src ? src : "");
        size_t o = 0;
        while (*p) {
                size_t l = utf8_len(p);
                if (l == 1 && (*p < 0x20 || *p == 0x7f))
                        l = 0;
                size_t out = l ? l : 1;
                if (o + out >= n)
                        break;
                if (l)
                        memcpy(dst + o, p, l);
                else
                        dst[o] = '?';
                o += out;
                p += l ? l : 1;
        }
        dst[o] = '\0';
        return dst;
}

const char *shutdown_peer_text(const sd_bus_error *e) {
        static char buf[256]; /* one loop, one thread: used before the next call */
        return shutdown_sanitize(buf, sizeof buf, e ? e->message : NULL);
}
